"""Run the command line as ``python -m dlp_proxy``."""

from dlp_proxy.cli import main

main()
