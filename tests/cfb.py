"""Write OLE compound files (MS-CFB, version 3) for test fixtures: Outlook .msg files, OLE
embedded objects (Ole10Native, Package), workbooks inside OLE storages.

olefile only reads, and nothing on the test machine writes these formats, so fixtures are
written here from the specification: 512-byte sectors, streams under 4,096 bytes in the mini
stream, no DIFAT (files up to ~7 MB), siblings chained as a (valid, unbalanced) search tree.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREE, END, FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
NO_STREAM = 0xFFFFFFFF

# A tree of storages: {name: bytes (a stream) or {name: ...} (a storage)}.
Tree = Mapping[str, "bytes | Tree"]


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] = field(default_factory=list)
    clsid: bytes = bytes(16)
    left: int = NO_STREAM
    right: int = NO_STREAM
    child: int = NO_STREAM
    start: int = END
    index: int = 0


def compound_file(tree: Tree, *, root_clsid: bytes = bytes(16)) -> bytes:
    """The bytes of a compound file holding ``tree`` under its root storage."""
    root = _Entry("Root Entry", 5, clsid=root_clsid)
    _add(root, tree)
    entries = _number(root)
    mini = bytearray()
    mini_fat: list[int] = []
    for entry in entries:
        if entry.kind == 2 and 0 < len(entry.data) < MINI_CUTOFF:
            entry.start = len(mini) // MINI_SECTOR
            count = -(-len(entry.data) // MINI_SECTOR)
            mini_fat += [*range(entry.start + 1, entry.start + count), END]
            mini += entry.data.ljust(count * MINI_SECTOR, b"\0")
    root.data = bytes(mini)
    big = [e for e in entries if e.kind == 2 and len(e.data) >= MINI_CUTOFF]
    directory = _directory(entries, root_size=len(mini))
    mini_fat_bytes = struct.pack(f"<{len(mini_fat)}I", *mini_fat) if mini_fat else b""
    mini_fat_bytes = mini_fat_bytes.ljust(-(-len(mini_fat_bytes) // SECTOR) * SECTOR, b"\xff")
    blobs = [directory, mini_fat_bytes, root.data, *(e.data for e in big)]
    counts = [-(-len(blob) // SECTOR) for blob in blobs]
    fat_sectors = 1
    while fat_sectors * SECTOR // 4 < fat_sectors + sum(counts):
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("too big for a compound file without DIFAT sectors")
    fat = [FAT_SECTOR] * fat_sectors
    starts = []
    for count in counts:
        start = len(fat)
        starts.append(start if count else END)
        fat += [*range(start + 1, start + count), END] if count else []
    fat += [FREE] * (fat_sectors * SECTOR // 4 - len(fat))
    root.start = starts[2]
    for entry, start in zip(big, starts[3:], strict=True):
        entry.start = start
    blobs[0] = _directory(entries, root_size=len(mini))  # again, now that starts are known
    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        bytes(16),
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        bytes(6),
        0,
        fat_sectors,
        starts[0],
        0,
        MINI_CUTOFF,
        starts[1],
        counts[1],
        END,
        0,
    ) + struct.pack("<109I", *difat)
    body = struct.pack(f"<{len(fat)}I", *fat) + b"".join(
        blob.ljust(count * SECTOR, b"\0") for blob, count in zip(blobs, counts, strict=True)
    )
    return header + body


def _add(parent: _Entry, tree: Tree) -> None:
    for name, value in tree.items():
        if isinstance(value, bytes | bytearray):
            parent.children.append(_Entry(name, 2, bytes(value)))
        else:
            storage = _Entry(name, 1)
            _add(storage, value)
            parent.children.append(storage)


def _number(root: _Entry) -> list[_Entry]:
    """Entries in directory order, with child and sibling links set."""
    entries = [root]
    pending = [root]
    while pending:
        parent = pending.pop(0)
        children = sorted(parent.children, key=lambda e: (len(e.name), e.name.upper()))
        for child in children:
            child.index = len(entries)
            entries.append(child)
            pending.append(child)
        if children:
            parent.child = children[0].index
            for before, after in itertools.pairwise(children):
                before.right = after.index
    return entries


def _directory(entries: list[_Entry], *, root_size: int) -> bytes:
    """The directory sectors: every entry, then unused entries up to a whole sector."""
    unused = struct.pack(
        "<64sHBBIII16sIQQIQ",
        b"",
        0,
        0,
        0,
        NO_STREAM,
        NO_STREAM,
        NO_STREAM,
        bytes(16),
        0,
        0,
        0,
        0,
        0,
    )
    padding = -len(entries) % (SECTOR // 128)
    return b"".join(_directory_entry(e, root_size=root_size) for e in entries) + unused * padding


def _directory_entry(entry: _Entry, *, root_size: int) -> bytes:
    name = entry.name.encode("utf-16-le")
    if len(name) > 62:
        raise ValueError(f"name too long for a compound file: {entry.name!r}")
    size = root_size if entry.kind == 5 else len(entry.data)
    start = entry.start if entry.kind != 1 and size else (END if entry.kind != 1 else 0)
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name.ljust(64, b"\0"),
        len(name) + 2,
        entry.kind,
        1,
        entry.left,
        entry.right,
        entry.child,
        entry.clsid,
        0,
        0,
        0,
        start,
        size,
    )
