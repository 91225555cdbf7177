"""Read Outlook .msg files (MS-OXMSG, an OLE compound file) with olefile: bodies, attachments
and embedded messages."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import TypeAlias

import olefile

from dlp_proxy.inspect import mapi
from dlp_proxy.inspect.archives import Budget
from dlp_proxy.inspect.model import Unscannable

Storage = tuple[str, ...]
Ole: TypeAlias = "olefile.OleFileIO[str]"
ROOT: Storage = ()

_PROPERTIES = "__properties_version1.0"
_ATTACHMENT = "__attach_version1.0_#"
_EMBEDDED = "__substg1.0_3701000D"
_OLE10_NATIVE = "\x01Ole10Native"
# The header before the property entries: the top-level message, an embedded message, and
# attachment or recipient storages (MS-OXMSG 2.4.1).
_TOP_HEADER, _EMBEDDED_HEADER, _OTHER_HEADER = 32, 24, 8
_ENTRY = struct.Struct("<IIQ")
_OLE_ERRORS = (OSError, EOFError, ValueError, IndexError, KeyError, TypeError, struct.error)


@dataclass(frozen=True, slots=True)
class Attached:
    """One attachment: its bytes, the storage of an embedded message, or why neither."""

    name: str
    data: bytes | None = None
    message: Storage | None = None
    problem: Unscannable | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """What a message storage holds; ``damage`` names parts that could not be read."""

    body: mapi.Body
    attachments: tuple[Attached, ...]
    damage: tuple[Unscannable, ...] = ()


def open_msg(data: bytes) -> Ole:
    """The compound file; olefile raises on every defect it finds incorrect (a stream that
    runs past the end of a truncated file), instead of reading on with what it guesses."""
    try:
        return olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    except MemoryError:
        raise Unscannable("limit", "OLE container too large to read") from None
    except Exception as exc:  # olefile reports structure problems with many exception types
        raise Unscannable("corrupt", f"OLE container unreadable ({type(exc).__name__})") from None


def read_message(ole: Ole, storage: Storage, budget: Budget) -> Message:
    """The bodies and attachments of the message in ``storage`` (ROOT for the file itself).

    Every attachment takes a member from the budget and every stream read spends its size,
    so streams that share sectors cannot multiply the file. Raises Unscannable only when the
    storage cannot be listed at all.
    """
    tree = _Tree(ole)
    header = _TOP_HEADER if storage == ROOT else _EMBEDDED_HEADER
    damage: list[Unscannable] = []
    codepage = None
    try:
        fixed = _fixed_properties(tree.read(storage, _PROPERTIES, budget), header)
        codepage = fixed.get(mapi.MESSAGE_CODEPAGE) or fixed.get(mapi.INTERNET_CODEPAGE)
    except Unscannable as problem:
        if problem.reason == "limit":
            raise
        # A message without fixed properties still has its bodies and attachments.
    body = _body(tree, storage, codepage, budget, damage)
    attachments: list[Attached] = []
    for number, name in enumerate(tree.children(storage, _ATTACHMENT), 1):
        try:
            budget.take_member()
        except Unscannable as exhausted:  # the attachments before it are still read
            damage.append(exhausted)
            break
        attachments.append(_attachment(tree, (*storage, name), codepage, budget, number))
    return Message(body, tuple(attachments), tuple(damage))


class _Tree:
    """The compound file's entries. Names are compared in lower case, as olefile finds them
    (writers differ in the case of the hex digits of ``__substg1.0_`` names)."""

    def __init__(self, ole: Ole) -> None:
        self.ole = ole
        try:
            paths = ole.listdir(streams=True, storages=True)
        except _OLE_ERRORS as exc:
            raise Unscannable(
                "corrupt", f"OLE directory unreadable ({type(exc).__name__})"
            ) from None
        self.entries = {tuple(name.lower() for name in path) for path in paths}

    def children(self, storage: Storage, prefix: str) -> list[str]:
        depth = len(storage) + 1
        prefix = prefix.lower()
        names = {
            path[-1]
            for path in self.entries
            if len(path) == depth and path[:-1] == storage and path[-1].startswith(prefix)
        }
        return sorted(names)

    def has(self, storage: Storage, name: str) -> bool:
        return (*storage, name.lower()) in self.entries

    def read(self, storage: Storage, name: str, budget: Budget) -> bytes:
        path = [*storage, name.lower()]
        if not self.has(storage, name):
            raise Unscannable("corrupt", f"stream {name} missing")
        try:
            size = self.ole.get_size(path)
            if size > budget.cap():
                raise Unscannable("limit", f"stream of {size} bytes, over {budget.cap()}")
            with self.ole.openstream(path) as stream:
                data: bytes = stream.read(size + 1)
        except Unscannable:
            raise
        except MemoryError:
            raise Unscannable("limit", "stream too large to read") from None
        except _OLE_ERRORS as exc:
            raise Unscannable("corrupt", f"stream unreadable ({type(exc).__name__})") from None
        budget.spend(len(data))
        return data

    def value(self, storage: Storage, prop: int, budget: Budget) -> tuple[int, bytes] | None:
        """A variable-length property's type and bytes, whichever type it is stored as."""
        for kind in (mapi.PT_UNICODE, mapi.PT_STRING8, mapi.PT_BINARY):
            name = f"__substg1.0_{prop:04X}{kind:04X}"
            if self.has(storage, name):
                return kind, self.read(storage, name, budget)
        return None


def _fixed_properties(data: bytes, header: int) -> dict[int, int]:
    """The 32-bit fixed-length property values (PT_LONG) of a properties stream, by id."""
    values: dict[int, int] = {}
    usable = len(data) - (len(data) - header) % _ENTRY.size
    for tag, _flags, value in _ENTRY.iter_unpack(data[header:usable]):
        if tag & 0xFFFF == mapi.PT_LONG:
            values[tag >> 16] = value & 0xFFFFFFFF
    return values


def _text(kind: int, data: bytes, codepage: int | None) -> str:
    if kind == mapi.PT_UNICODE:
        return mapi.unicode(data)
    return mapi.string8(data, codepage)


def _body(
    tree: _Tree,
    storage: Storage,
    codepage: int | None,
    budget: Budget,
    damage: list[Unscannable],
) -> mapi.Body:
    text = html = rtf = None
    try:
        plain = tree.value(storage, mapi.BODY, budget)
        if plain is not None:
            text = _text(*plain, codepage)
    except Unscannable as problem:
        damage.append(Unscannable(problem.reason, f"plain text body: {problem.detail}"))
    try:
        marked = tree.value(storage, mapi.BODY_HTML, budget)
        if marked is not None:
            kind, raw = marked
            html = _text(kind, raw, codepage).encode() if kind != mapi.PT_BINARY else raw
    except Unscannable as problem:
        damage.append(Unscannable(problem.reason, f"HTML body: {problem.detail}"))
    try:
        rich = tree.value(storage, mapi.RTF_COMPRESSED, budget)
        if rich is not None:
            rtf = mapi.decompress_rtf(rich[1], budget)
    except Unscannable as problem:
        damage.append(Unscannable(problem.reason, f"RTF body: {problem.detail}"))
    return mapi.Body(text=text, html=html, rtf=rtf)


def _attachment(
    tree: _Tree, storage: Storage, codepage: int | None, budget: Budget, number: int
) -> Attached:
    name = _attachment_name(tree, storage, codepage, budget) or f"attachment {number}"
    try:
        fixed = _fixed_properties(tree.read(storage, _PROPERTIES, budget), _OTHER_HEADER)
    except Unscannable as problem:
        if problem.reason == "limit":
            return Attached(name, problem=problem)
        fixed = {}
    method = fixed.get(mapi.ATTACH_METHOD)
    embedded = tree.has(storage, _EMBEDDED)
    if method == mapi.EMBEDDED_MESSAGE or (method is None and embedded):
        if not embedded:
            return Attached(name, problem=Unscannable("corrupt", "embedded message missing"))
        return Attached(_with_suffix(name, ".msg"), message=(*storage, _EMBEDDED.lower()))
    if method == mapi.OLE_STORAGE:
        return _ole_object(tree, (*storage, _EMBEDDED.lower()), name, budget)
    if method in mapi.BY_REFERENCE:
        linked = Unscannable(
            "unsupported", "attachment by reference: only a link is in the message"
        )
        return Attached(name, problem=linked)
    if method not in (None, 0, mapi.BY_VALUE):
        return Attached(name, problem=Unscannable("unsupported", f"attachment method {method}"))
    stream = f"__substg1.0_{mapi.ATTACH_DATA:04X}{mapi.PT_BINARY:04X}"
    if not tree.has(storage, stream):
        return Attached(name, problem=Unscannable("corrupt", "attachment data stream missing"))
    try:
        data = tree.read(storage, stream, budget)
    except Unscannable as problem:
        return Attached(name, problem=problem)
    return Attached(name, data=data)


def _ole_object(tree: _Tree, storage: Storage, name: str, budget: Budget) -> Attached:
    """An OLE object stored as a storage (attach method 6): the file it wraps when it is one
    the Packager or OOXML embedding stores whole; others (an Excel 97-2003 workbook embedded
    as an object) are not rebuilt into files here."""
    try:
        if tree.has(storage, "Package"):  # an OOXML document: the file itself
            return Attached(name, data=tree.read(storage, "Package", budget))
        if tree.has(storage, "CONTENTS"):  # a PDF and others stored whole
            return Attached(name, data=tree.read(storage, "CONTENTS", budget))
        if tree.has(storage, _OLE10_NATIVE):
            label, data = _packaged(tree.read(storage, _OLE10_NATIVE, budget))
            return Attached(label or name, data=data)
    except Unscannable as problem:
        return Attached(name, problem=problem)
    if storage not in tree.entries:
        return Attached(name, problem=Unscannable("corrupt", "OLE object storage missing"))
    return Attached(name, problem=Unscannable("unsupported", "OLE object of a kind not read"))


def _packaged(data: bytes) -> tuple[str | None, bytes]:
    """The label and file of an Ole10Native stream (a file wrapped by the Windows Packager):
    size, flags, label and source path (NUL-terminated), four bytes, the length and text of a
    temporary path, the file's size and bytes."""
    try:
        label_end = data.index(b"\x00", 6)
        path_end = data.index(b"\x00", label_end + 1)
        offset = path_end + 1 + 4
        (temporary,) = struct.unpack_from("<I", data, offset)
        offset += 4 + temporary
        (size,) = struct.unpack_from("<I", data, offset)
    except (ValueError, struct.error):
        raise Unscannable("corrupt", "OLE packaged file unreadable") from None
    content = data[offset + 4 : offset + 4 + size]
    if len(content) != size:
        raise Unscannable("corrupt", "OLE packaged file cut short")
    label = mapi.string8(data[6:label_end], None).replace("\\", "/").rsplit("/", 1)[-1]
    return label.strip() or None, content


def _attachment_name(
    tree: _Tree, storage: Storage, codepage: int | None, budget: Budget
) -> str | None:
    for prop in (mapi.ATTACH_LONG_FILENAME, mapi.ATTACH_FILENAME, mapi.DISPLAY_NAME):
        try:
            found = tree.value(storage, prop, budget)
        except Unscannable:
            continue
        if found is None or found[0] == mapi.PT_BINARY:
            continue
        name = _text(*found, codepage).replace("\\", "/").rsplit("/", 1)[-1].strip()
        if name:
            return name
    return None


def _with_suffix(name: str, suffix: str) -> str:
    return name if name.lower().endswith(suffix) else name + suffix
