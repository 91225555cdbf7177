"""The settings options every command that runs against the proxy's state shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dlp_proxy.config import Settings, load_settings
from dlp_proxy.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

SHARED_OPTIONS = (
    click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="TOML settings file (also DLP_PROXY_CONFIG).",
    ),
    click.option(
        "--policy-dir", type=click.Path(path_type=Path), help="Policy files [./policies]."
    ),
    click.option("--data-dir", type=click.Path(path_type=Path), help="State and outbox [./var]."),
    click.option(
        "--quarantine-url",
        metavar="URL",
        help="Held mail database: sqlite:///PATH or postgresql://USER@HOST/DB "
        "[sqlite in DATA_DIR].",
    ),
)


def settings_options(command: F) -> F:
    """Add --config, --policy-dir, --data-dir and --quarantine-url to a command.

    ``serve``, ``queue ...`` and ``users ...`` share them, so each reads the same state;
    DLP_PROXY_* variables and the TOML file work for all of them alike.
    """
    for option in reversed(SHARED_OPTIONS):
        command = option(command)
    return command


def settings_from(config: Path | None, flags: dict[str, Any]) -> Settings:
    """Settings from the file, the environment and these flags; a usage error when invalid."""
    try:
        return load_settings(config_file=config, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(f"invalid settings:\n{exc}") from None
