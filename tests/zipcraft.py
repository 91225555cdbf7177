"""Zips the zipfile module will not write: cp932 names, lying sizes, overlaps, odd methods.

Each starts from a real zipfile-written archive and patches named header fields, so the
rest of the structure stays valid.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
from pathlib import Path

CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"
END = b"PK\x05\x06"


def rename_raw(data: bytes, placeholder: str, raw_name: bytes) -> bytes:
    """Swap an ASCII placeholder name for raw bytes of the same length, with no UTF-8 flag:
    what Japanese Windows' built-in zip writes (cp932 names, no flag, no Unicode field)."""
    assert len(placeholder.encode()) == len(raw_name)
    return data.replace(placeholder.encode(), raw_name)


def patch_sizes(data: bytes, *, file_size: int) -> bytes:
    """Declare a different uncompressed size for every member (local and central headers)."""
    out = bytearray(data)
    position = 0
    while (position := out.find(LOCAL, position)) >= 0:
        struct.pack_into("<I", out, position + 22, file_size)
        position += 4
    position = 0
    while (position := out.find(CENTRAL, position)) >= 0:
        struct.pack_into("<I", out, position + 24, file_size)
        position += 4
    return bytes(out)


def patch_method(data: bytes, method: int) -> bytes:
    """Declare another compression method (9 = Deflate64, which zipfile cannot read)."""
    out = bytearray(data)
    for signature, offset in ((LOCAL, 8), (CENTRAL, 10)):
        position = 0
        while (position := out.find(signature, position)) >= 0:
            struct.pack_into("<H", out, position + offset, method)
            position += 4
    return bytes(out)


def overlapping(data: bytes, copies: int) -> bytes:
    """Repeat the one central directory entry ``copies`` times, every copy pointing at the same
    local file: the full-overlap zip bomb (Fifield 2019) without the quoting trick."""
    start = data.index(CENTRAL)
    end = data.index(END)
    entry = data[start:end]
    directory = entry * copies
    record = bytearray(data[end : end + 22])
    struct.pack_into("<HHII", record, 8, copies, copies, len(directory), start)
    return data[:start] + directory + bytes(record)


def zipcrypto(directory: Path, name: str, data: bytes, password: str) -> bytes:
    """A member encrypted with traditional PKWARE ZipCrypto, written by Info-ZIP zip."""
    (directory / name).write_bytes(data)
    target = directory / "crypto.zip"
    subprocess.run(
        ["zip", "-q", "-P", password, str(target), name], cwd=directory, check=True, timeout=60
    )
    return target.read_bytes()


def zeros_member(name: str, size: int) -> bytes:
    """One deflated member of ``size`` zero bytes, streamed so the test never holds it."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=size > 0xFFFF0000) as member,
    ):
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            member.write(chunk)
    return out.getvalue()


def nested_copies(leaf: bytes, leaf_name: str, *, levels: int, fanout: int = 16) -> bytes:
    """42.zip's shape: each level holds ``fanout`` copies of the level below."""
    data, name = leaf, leaf_name
    for level in range(levels):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for copy in range(fanout):
                archive.writestr(f"{level}-{copy}-{name}", data)
        data, name = out.getvalue(), f"l{level}.zip"
    return data
