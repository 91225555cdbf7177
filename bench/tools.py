"""Postfix's smtp-source and smtp-sink, unpacked from the Debian package into bench/.tools/.

No Postfix is installed or run: ``apt-get download postfix`` fetches the .deb (after one
``apt-get update`` if the package lists are empty) and ``dpkg -x`` unpacks it. The two tools
link against Postfix's own libpostfix-*.so (shipped in the same .deb, found through
LD_LIBRARY_PATH because their RUNPATH is /usr/lib/postfix) and against system libraries
that Debian 12 normally has already: libc6, libdb5.3, libicu72, libnsl2, libtirpc3, libssl3.
A missing one is reported with ``ldd``'s output; install it with apt-get.

Run ``python bench/tools.py`` to fetch (or reuse) them and print their paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent / ".tools"


@dataclass(frozen=True)
class Tools:
    source: Path
    sink: Path
    libdir: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        old = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = str(self.libdir) + (f":{old}" if old else "")
        return env

    def version(self) -> str:
        stamp = self.libdir.parent.parent.parent / "VERSION"
        return stamp.read_text().strip() if stamp.exists() else "unknown"


def _tools(root: Path) -> Tools:
    return Tools(
        source=root / "usr/sbin/smtp-source",
        sink=root / "usr/sbin/smtp-sink",
        libdir=root / "usr/lib/postfix",
    )


def _download(dest: Path) -> Path:
    """Fetch postfix_*.deb into ``dest``; runs apt-get update once if apt knows no candidate."""
    for attempt in range(2):
        result = subprocess.run(
            ["apt-get", "download", "postfix"],
            check=False,
            cwd=dest,
            capture_output=True,
            text=True,
        )
        debs = sorted(dest.glob("postfix_*.deb"))
        if result.returncode == 0 and debs:
            return debs[-1]
        if attempt == 0:
            print("apt-get download postfix failed; running apt-get update once", file=sys.stderr)
            subprocess.run(["apt-get", "update", "-qq"], check=False)
    raise SystemExit(
        "cannot download the Debian package postfix (apt-get download postfix):\n"
        + result.stderr.strip()
        + "\nrun `apt-get update` as root, or unpack smtp-source/smtp-sink into "
        + str(TOOLS_DIR)
    )


def _check_libraries(tools: Tools) -> None:
    for binary in (tools.source, tools.sink):
        out = subprocess.run(
            ["ldd", str(binary)], check=False, env=tools.env, capture_output=True, text=True
        ).stdout
        missing = [line.strip() for line in out.splitlines() if "not found" in line]
        if missing:
            raise SystemExit(
                f"{binary.name} needs shared libraries that are missing:\n  "
                + "\n  ".join(missing)
                + "\ninstall them with apt-get (postfix depends on libdb5.3, libicu72, libnsl2,"
                " libssl3, libsasl2-2)"
            )


def ensure(root: Path = TOOLS_DIR) -> Tools:
    """Return usable smtp-source and smtp-sink, unpacking the postfix .deb on first use."""
    tools = _tools(root)
    if not (tools.source.exists() and tools.sink.exists()):
        if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
            raise SystemExit("apt-get and dpkg are needed to fetch smtp-source/smtp-sink")
        with tempfile.TemporaryDirectory() as tmp:
            deb = _download(Path(tmp))
            staging = root.with_name(root.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            subprocess.run(["dpkg", "-x", str(deb), str(staging)], check=True)
            (staging / "VERSION").write_text(deb.name + "\n")
            shutil.rmtree(root, ignore_errors=True)
            staging.rename(root)
    _check_libraries(tools)
    return tools


if __name__ == "__main__":
    found = ensure()
    print(f"smtp-source: {found.source}\nsmtp-sink:   {found.sink}")
    print(f"LD_LIBRARY_PATH={found.libdir}  (from {found.version()})")
