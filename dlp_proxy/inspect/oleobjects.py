"""Files embedded in OLE compound files: OLE objects (MS-OLEDS) and storages holding documents.

An OLE object (``oleObject1.bin`` in a docx, ``Object 2`` in an odt, an ``MBD...`` storage in
an xls) carries the embedded file in a ``\\x01Ole10Native`` stream (the Packager's header:
file name, source path, then the data), a ``Package`` stream (an OOXML file as it is) or a
``CONTENTS`` stream (a PDF, for one), or is itself a storage holding a workbook or a document.
A storage is made into a compound file of its own by re-rooting a copy of the container at it:
the sectors stay where they are, only the root's child link changes.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Final

import olefile

from dlp_proxy.inspect.limits import describe
from dlp_proxy.inspect.model import Unscannable

_NATIVE: Final = "\x01ole10native"
_WHOLE_FILE_STREAMS: Final = ("package", "contents")
# Streams that make a storage a document of its own (a workbook, a Word or PowerPoint file,
# an encrypted OOXML file, another OLE object).
_DOCUMENT_STREAMS: Final = frozenset(
    {
        "workbook",
        "book",
        "worddocument",
        "powerpoint document",
        "encryptedpackage",
        _NATIVE,
        "package",
        "contents",
    }
)
_ROOT_CHILD_OFFSET: Final = 0x4C  # in a 128-byte directory entry


def contents(data: bytes) -> list[tuple[str, bytes]]:
    """The files an OLE object carries, with the names it gives them. Raises Unscannable when
    the container is unreadable or carries nothing we know how to take out."""
    found: list[tuple[str, bytes]] = []
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(path).lower(): path for path in ole.listdir(streams=True)}
            if _NATIVE in streams:
                found.append(native(_read(ole, streams[_NATIVE])))
            for name in _WHOLE_FILE_STREAMS:
                if name in streams:
                    found.append((streams[name][0], _read(ole, streams[name])))
            storages = document_storages(ole)
    except Unscannable:
        raise
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError...
        raise Unscannable("corrupt", f"OLE object unreadable: {describe(exc)}") from None
    found += [(name, reroot(data, sid)) for name, sid in storages]
    if not found:
        raise Unscannable("unsupported", "OLE object with no embedded file we know")
    return found


def document_storages(
    ole: Any, *, prefix: str = "", under: str | None = None, every: bool = False
) -> list[tuple[str, int]]:
    """(name, directory id) of each storage at the root, or in the root's storage named
    ``under`` (a .doc's ``ObjectPool``), whose name starts with ``prefix`` and that holds a
    document of its own (``every``: whatever it holds)."""
    found = []
    parent = ole.root
    if under is not None and parent is not None:
        parent = next(
            (
                kid
                for kid in parent.kids
                if kid.entry_type == olefile.STGTY_STORAGE and kid.name.lower() == under.lower()
            ),
            None,
        )
    for child in parent.kids if parent is not None else []:
        if child.entry_type != olefile.STGTY_STORAGE or not child.name.startswith(prefix):
            continue
        names = {kid.name.lower() for kid in child.kids if kid.entry_type == olefile.STGTY_STREAM}
        if every or names & _DOCUMENT_STREAMS:
            found.append((child.name, child.sid))
    return found


def embedded_storages(
    data: bytes, *, prefix: str, under: str | None = None, every: bool = False
) -> list[tuple[str, bytes]]:
    """The storages of compound file ``data`` named ``prefix...`` (at the root, or in the
    root's storage ``under``) that hold a document of their own (``every``: all of them),
    each as a file of its own: an xls keeps its embedded objects in ``MBD...`` storages, a
    .doc in ``ObjectPool/_NNNN``."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            storages = document_storages(ole, prefix=prefix, under=under, every=every)
        return [(name, reroot(data, sid)) for name, sid in storages]
    except Unscannable:
        raise
    except Exception as exc:
        raise Unscannable("corrupt", f"OLE storages unreadable: {describe(exc)}") from None


def reroot(data: bytes, sid: int) -> bytes:
    """A copy of compound file ``data`` whose root is storage ``sid``: the same sectors, the
    root's child link pointing at that storage's children. Entries left outside that storage
    lose the names of workbook streams: calamine takes the first entry of the directory with
    such a name, wherever it is."""
    with olefile.OleFileIO(io.BytesIO(data)) as opened:
        ole: Any = opened  # olefile's stubs leave out the directory and sector fields
        child = ole.direntries[sid].sid_child
        inside = _subtree(ole, child)
        offsets = directory_offsets(ole)
    copy = bytearray(data)
    _write_u32(copy, offsets[0] + _ROOT_CHILD_OFFSET, child)
    for index, offset in enumerate(offsets):
        if index and index not in inside:
            hide_workbook_name(copy, offset)
    return bytes(copy)


WORKBOOK_NAMES: Final = ("Workbook", "Book", "WORKBOOK", "BOOK")


def hide_workbook_name(data: bytearray, offset: int) -> None:
    """Rename the directory entry at ``offset`` if calamine could take it for the workbook."""
    name = bytes(data[offset : offset + 64]).decode("utf-16-le", "replace").split("\x00", 1)[0]
    if name in WORKBOOK_NAMES:
        data[offset : offset + 2] = "~".encode("utf-16-le")


def directory_offsets(ole: Any) -> list[int]:
    """The file offset of each directory entry (by directory id), following the FAT chain."""
    sector_size, per_sector = ole.sectorsize, ole.sectorsize // 128
    offsets: list[int] = []
    sector, seen = ole.first_dir_sector, set()
    while 0 <= sector < len(ole.fat) and sector not in seen and len(offsets) < 1 << 20:
        seen.add(sector)
        base = (sector + 1) * sector_size
        offsets += [base + 128 * i for i in range(per_sector)]
        sector = ole.fat[sector]
    return offsets


def _subtree(ole: Any, child: int) -> set[int]:
    """The directory ids reachable from ``child`` (siblings and their children)."""
    found: set[int] = set()
    pending = [child]
    while pending:
        sid = pending.pop()
        if sid in found or not 0 <= sid < len(ole.direntries) or len(found) > 1 << 16:
            continue
        entry = ole.direntries[sid]
        if entry is None:
            continue
        found.add(sid)
        pending += [entry.sid_left, entry.sid_right, entry.sid_child]
    return found


def _write_u32(data: bytearray, offset: int, value: int) -> None:
    if offset + 4 > len(data):
        raise Unscannable("corrupt", "OLE directory beyond the end of the file")
    struct.pack_into("<I", data, offset, value)


def _read(ole: Any, path: list[str]) -> bytes:
    with ole.openstream(path) as stream:
        return bytes(stream.read())


def native(stream: bytes) -> tuple[str, bytes]:
    """The file in an ``\\x01Ole10Native`` stream: the Packager's (name, data) when the stream
    holds its header (MS-OLEDS 2.3.6 and the Packager format), else the native data as is."""
    if len(stream) < 4:
        raise Unscannable("corrupt", "Ole10Native stream shorter than its size field")
    (size,) = struct.unpack_from("<I", stream, 0)
    body = stream[4 : 4 + size] if size <= len(stream) - 4 else stream[4:]
    packaged = _packager(body)
    return packaged if packaged is not None else ("Ole10Native", body)


def packaged(body: bytes) -> tuple[str, bytes]:
    """(file name, data) of Windows Packager native data: an OLE1 ``Package`` object (in RTF)
    or the body of an ``\x01Ole10Native`` stream. Unscannable("corrupt") when it does not
    hold together."""
    found = _packager(body)
    if found is None:
        raise Unscannable("corrupt", "OLE Package object unreadable")
    return found


def _packager(body: bytes) -> tuple[str, bytes] | None:
    """(file name, data) from the Packager's header, or None when ``body`` is not one."""
    if len(body) < 2 or body[:2] != b"\x02\x00":
        return None
    position = 2
    label, position = _c_string(body, position)
    _source, position = _c_string(body, position)
    if label is None or position + 8 > len(body):
        return None
    position += 4  # two reserved 16-bit fields (0, 3)
    (length,) = struct.unpack_from("<I", body, position)
    position += 4 + length  # the temporary path, NUL-terminated
    if position + 4 > len(body):
        return None
    (size,) = struct.unpack_from("<I", body, position)
    position += 4
    if position + size > len(body):
        return None
    name = label.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "") or "Ole10Native"
    return name, body[position : position + size]


def _c_string(body: bytes, position: int) -> tuple[str | None, int]:
    end = body.find(b"\x00", position, position + 1024)
    if end < 0:
        return None, len(body)
    raw = body[position:end]
    for encoding in ("utf-8", "cp932", "cp1252"):
        try:
            return raw.decode(encoding), end + 1
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), end + 1
