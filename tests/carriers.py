"""Real carriers of attachments for tests and corpora: 7z archives made by 7-Zip, S/MIME made
by cryptography, OpenSSL and asn1crypto, OpenPGP made by gpg, uuencoded text, and the formats
no tool on the test machine writes (TNEF winmail.dat, Outlook .msg), written here from their
specifications (MS-OXTNEF, MS-OXMSG).

Every builder returns bytes. Builders that need a program raise ``MissingTool`` when it is not
installed; tests turn that into a skip that names the program.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

# File times inside archives, pinned so that a builder's output depends only on its arguments.
FIXED_MTIME = 1_711_962_000  # 2024-04-01 09:00 UTC


class MissingTool(RuntimeError):
    """A program a builder runs is not installed."""


def _run(args: Sequence[str], *, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        list(args), cwd=cwd, input=stdin, capture_output=True, check=False, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return done.stdout


# --- 7z ------------------------------------------------------------------------------------


def seven_zip_tool() -> str:
    """The 7-Zip command line program (Debian 12 ships it as 7zz, later releases as 7z)."""
    found = shutil.which("7zz") or shutil.which("7z")
    if found is None:
        raise MissingTool("7-Zip (7zz or 7z) is not installed")
    return found


def seven_zip_bytes(
    files: Sequence[tuple[str, bytes]],
    *,
    password: str | None = None,
    encrypt_headers: bool = False,
    solid: bool = True,
    method: str | None = None,
    compress_headers: bool = True,
) -> bytes:
    """A 7z archive of ``files`` (name, content; names may contain ``/``) made by 7-Zip.

    ``password`` encrypts contents (AES-256), ``encrypt_headers`` the names too (``-mhe=on``);
    ``method`` is 7-Zip's ``-m0`` (``LZMA2``, ``PPMd``, ``Deflate``, ``BZip2``...);
    ``solid=False`` puts every file in a block of its own; ``compress_headers=False`` leaves
    the header block plain (``-mhc=off``), so tests can patch it.
    """
    tool = seven_zip_tool()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "in"
        root.mkdir()
        tops: list[str] = []
        for name, data in files:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
            top = name.split("/", 1)[0]
            if top not in tops:
                tops.append(top)
        for directory in sorted(root.rglob("*"), reverse=True):
            if directory.is_dir():
                os.utime(directory, (FIXED_MTIME, FIXED_MTIME))
        archive = Path(scratch) / "out.7z"
        args = [tool, "a", "-bso0", "-bsp0", "-y", f"-ms={'on' if solid else 'off'}"]
        if method is not None:
            args.append(f"-m0={method}")
        if password is not None:
            args.append(f"-p{password}")
            if encrypt_headers:
                args.append("-mhe=on")
        if not compress_headers:
            args.append("-mhc=off")
        _run([*args, str(archive), "--", *tops], cwd=root)
        return archive.read_bytes()


def seven_zip_number(value: int) -> bytes:
    """A number as 7z headers write it (7zFormat.txt, "UINT64"): the count of leading one bits
    of the first byte says how many little-endian bytes follow."""
    for extra in range(8):
        if value < 1 << (7 * (extra + 1)):
            high = value >> (8 * extra)
            first = (0xFF00 >> extra) & 0xFF | high
            return bytes([first]) + (value & ((1 << (8 * extra)) - 1)).to_bytes(extra, "little")
    return b"\xff" + value.to_bytes(8, "little")


def seven_zip_declare(archive: bytes, *, actual: int, declared: int) -> bytes:
    """The archive with every size ``actual`` in its plain header (made with
    ``compress_headers=False``) replaced by ``declared``: an archive whose sizes lie, as a
    hostile sender writes it. Both sizes must take the same number of bytes in the header."""
    return seven_zip_patch_header(archive, seven_zip_number(actual), seven_zip_number(declared))


def seven_zip_patch_header(archive: bytes, old: bytes, new: bytes) -> bytes:
    """The archive with ``old`` replaced by ``new`` (of the same length) in its plain header,
    and the header CRCs made right again."""
    if len(old) != len(new):
        raise ValueError("replacement of a different length")
    next_offset, next_size = struct.unpack_from("<QQ", archive, 12)
    start = 32 + next_offset
    header = archive[start : start + next_size]
    if header[:1] != b"\x01" or old not in header:
        raise ValueError("no plain header holding those bytes")
    header = header.replace(old, new)
    start_header = struct.pack("<QQI", next_offset, next_size, zlib.crc32(header))
    signature = archive[:8] + struct.pack("<I", zlib.crc32(start_header)) + start_header
    return signature + archive[32:start] + header + archive[start + next_size :]
