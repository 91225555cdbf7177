"""Read TNEF streams (winmail.dat, MS-OXTNEF): bodies, attachments and attached messages.

Written from the specification rather than on tnefparse, which trusts the counts in a
stream (a count of 2^32 properties loops for over ten minutes), logs and swallows its own
errors (an attachment silently lost), strips trailing NUL bytes from binary values (an .xls
damaged) and raises on a Japanese attachment title. Here every length and count is checked
against the bytes that remain, and any problem is reported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dlp_proxy.inspect import mapi
from dlp_proxy.inspect.archives import Budget
from dlp_proxy.inspect.model import Unscannable

SIGNATURE = 0x223E9F78
_HEADER = struct.Struct("<IH")
_ATTRIBUTE = struct.Struct("<BII")
_CHECKSUM = struct.Struct("<H")
_LEVEL_ATTACHMENT = 0x02
# Attribute ids (the low 16 bits of an attribute's id; the high 16 bits are its type).
_BODY = 0x800C
_ATTACH_DATA = 0x800F
_ATTACH_TITLE = 0x8010
_ATTACH_RENDERING = 0x9002
_MSG_PROPS = 0x9003
_ATTACHMENT = 0x9005
_OEM_CODEPAGE = 0x9007
# IID_IMessage: a PtypObject attachment value holding a TNEF stream of an attached message.
IID_IMESSAGE = bytes.fromhex("0703020000000000c000000000000046")
# The size of each fixed-length property type in a TNEF property list (MS-OXTNEF 2.1.3.4);
# 16-bit values are padded to four bytes.
_FIXED_SIZES = {
    0x0001: 0,  # PtypNull
    0x0002: 4,  # PtypInteger16
    0x0003: 4,  # PtypInteger32
    0x0004: 4,  # PtypFloating32
    0x0005: 8,  # PtypFloating64
    0x0006: 8,  # PtypCurrency
    0x0007: 8,  # PtypFloatingTime
    0x000A: 4,  # PtypErrorCode
    0x000B: 4,  # PtypBoolean
    0x0014: 8,  # PtypInteger64
    0x0040: 8,  # PtypTime
    0x0048: 16,  # PtypGuid
}
_VARIABLE = frozenset({mapi.PT_STRING8, mapi.PT_UNICODE, mapi.PT_BINARY, mapi.PT_OBJECT})
_MULTIPLE = 0x1000
_NAMED = 0x8000


@dataclass(frozen=True, slots=True)
class Attached:
    """One attachment: its bytes (a TNEF stream of its own when ``message``), or why not;
    both when the bytes are what could be read of a damaged attachment."""

    name: str
    data: bytes | None
    message: bool = False
    problem: Unscannable | None = None


@dataclass(frozen=True, slots=True)
class Tnef:
    """What a TNEF stream holds; ``damage`` names what could not be read."""

    body: mapi.Body
    attachments: tuple[Attached, ...]
    damage: tuple[Unscannable, ...] = ()


class _Damaged(Exception):
    """A structure that does not fit the bytes it is in."""


@dataclass
class _Attachment:
    title: str | None = None
    data: bytes | None = None
    properties: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    problem: Unscannable | None = None


def read_tnef(data: bytes, budget: Budget) -> Tnef:
    """The bodies and attachments of a TNEF stream. Raises Unscannable *corrupt* when it is
    not one at all; damage after the header is reported in ``damage`` with what came before.
    """
    if len(data) < _HEADER.size or _HEADER.unpack_from(data)[0] != SIGNATURE:
        raise Unscannable("corrupt", "not a TNEF stream (signature missing)")
    found = _Found()
    offset = _HEADER.size
    while offset < len(data):
        budget.check()
        if len(data) - offset < _ATTRIBUTE.size + _CHECKSUM.size:
            found.damaged(Unscannable("corrupt", "TNEF stream ends inside an attribute"))
            break
        level, identifier, length = _ATTRIBUTE.unpack_from(data, offset)
        start = offset + _ATTRIBUTE.size
        end = start + length
        problem = None
        if end + _CHECKSUM.size > len(data):
            problem = Unscannable("corrupt", "TNEF attribute cut short (truncated?)")
            if level == _LEVEL_ATTACHMENT:
                found.damaged(problem)  # later attachments may be missing altogether
            value, offset = data[start:], len(data)
        else:
            value = data[start:end]
            (checksum,) = _CHECKSUM.unpack_from(data, end)
            offset = end + _CHECKSUM.size
            if sum(value) & 0xFFFF != checksum:
                problem = Unscannable("corrupt", "TNEF attribute checksum mismatch")
        try:
            found.add(level, identifier & 0xFFFF, value, problem, budget)
        except _Damaged as unreadable:
            reason = f"TNEF property list unreadable ({unreadable})"
            found.damaged(Unscannable("corrupt", reason))
        except Unscannable as exhausted:  # a shared limit: what was read so far still counts
            found.damaged(exhausted)
            break
    codepage = _codepage(found.message) or found.oem_codepage
    body = _body(found.message, found.legacy_body, codepage, budget, found.damage)
    attachments = tuple(
        _attached(attachment, codepage, number)
        for number, attachment in enumerate(found.attachments, 1)
    )
    return Tnef(body, attachments, tuple(found.damage))


@dataclass
class _Found:
    """What the attributes read so far hold."""

    message: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    legacy_body: bytes | None = None
    oem_codepage: int | None = None
    attachments: list[_Attachment] = field(default_factory=list)
    damage: list[Unscannable] = field(default_factory=list)

    def damaged(self, problem: Unscannable) -> None:
        """Note a problem once, however many attributes have it."""
        if all(problem.detail != seen.detail for seen in self.damage):
            self.damage.append(problem)

    def add(
        self, level: int, attribute: int, value: bytes, problem: Unscannable | None, budget: Budget
    ) -> None:
        if level == _LEVEL_ATTACHMENT:
            if attribute == _ATTACH_RENDERING or not self.attachments:
                budget.take_member()
                self.attachments.append(_Attachment())
            attachment = self.attachments[-1]
            # What there is of a damaged attachment is read; the damage is its own.
            attachment.problem = attachment.problem or problem
            _attachment_attribute(attachment, attribute, value)
            return
        if problem is not None:
            self.damaged(problem)
        if attribute == _MSG_PROPS:
            self.message.update(_properties(value))
        elif attribute == _BODY:
            self.legacy_body = value
        elif attribute == _OEM_CODEPAGE and len(value) >= 4:
            self.oem_codepage = int.from_bytes(value[:4], "little")


def _attachment_attribute(attachment: _Attachment, attribute: int, value: bytes) -> None:
    if attribute == _ATTACH_DATA:
        attachment.data = value
    elif attribute == _ATTACH_TITLE:
        attachment.title = mapi.string8(value, None)
    elif attribute == _ATTACHMENT:
        attachment.properties.update(_properties(value))


def _properties(data: bytes) -> dict[int, tuple[int, bytes]]:
    """A MAPI property list: property id -> (type, first value's bytes)."""
    found: dict[int, tuple[int, bytes]] = {}
    cursor = _Cursor(data)
    count = cursor.count(8)  # the smallest property: a tag and a four-byte value
    for _ in range(count):
        tag = cursor.uint32()
        kind, prop = tag & 0xFFFF, tag >> 16
        if prop >= _NAMED:
            cursor.take(16)  # the property set's GUID
            if cursor.uint32() == 0:
                cursor.take(4)  # a numeric name
            else:
                cursor.padded(cursor.uint32())  # a UTF-16 name
        multiple = bool(kind & _MULTIPLE)
        kind &= ~_MULTIPLE
        if kind not in _VARIABLE and kind not in _FIXED_SIZES:
            raise _Damaged("a property of unknown type")
        # Strings, binaries and objects carry a count even when single-valued.
        values = cursor.count(4) if multiple or kind in _VARIABLE else 1
        first: bytes | None = None
        for _ in range(values):
            if kind in _VARIABLE:
                item = cursor.padded(cursor.uint32())
            else:
                item = cursor.take(_FIXED_SIZES[kind])
            first = item if first is None else first
        if first is not None and prop not in found:
            found[prop] = (kind, first)
    return found


class _Cursor:
    """Bounds-checked reading of a property list."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise _Damaged("a value runs past its attribute")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def padded(self, size: int) -> bytes:
        chunk = self.take(size)
        self.take(-size % 4)
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def count(self, smallest: int) -> int:
        """A count of things of at least ``smallest`` bytes, refused when they cannot fit."""
        value = self.uint32()
        if value * smallest > len(self.data) - self.offset:
            raise _Damaged("a count too large for its attribute")
        return value


def _codepage(properties: dict[int, tuple[int, bytes]]) -> int | None:
    for prop in (mapi.MESSAGE_CODEPAGE, mapi.INTERNET_CODEPAGE):
        kind, value = properties.get(prop, (0, b""))
        if kind == mapi.PT_LONG and len(value) >= 4:
            return int.from_bytes(value[:4], "little")
    return None


def _text(kind: int, value: bytes, codepage: int | None) -> str:
    return mapi.unicode(value) if kind == mapi.PT_UNICODE else mapi.string8(value, codepage)


def _body(
    properties: dict[int, tuple[int, bytes]],
    legacy: bytes | None,
    codepage: int | None,
    budget: Budget,
    damage: list[Unscannable],
) -> mapi.Body:
    text = html = rtf = None
    if mapi.BODY in properties:
        text = _text(*properties[mapi.BODY], codepage)
    elif legacy is not None:
        text = mapi.string8(legacy, codepage)
    if mapi.BODY_HTML in properties:
        kind, value = properties[mapi.BODY_HTML]
        html = value if kind == mapi.PT_BINARY else _text(kind, value, codepage).encode()
    if mapi.RTF_COMPRESSED in properties:
        try:
            rtf = mapi.decompress_rtf(properties[mapi.RTF_COMPRESSED][1], budget)
        except Unscannable as problem:
            damage.append(Unscannable(problem.reason, f"RTF body: {problem.detail}"))
    return mapi.Body(text=text, html=html, rtf=rtf)


def _attached(attachment: _Attachment, codepage: int | None, number: int) -> Attached:
    properties = attachment.properties
    name = f"attachment {number}"
    for prop in (mapi.ATTACH_LONG_FILENAME, mapi.ATTACH_FILENAME, mapi.DISPLAY_NAME):
        if prop in properties and properties[prop][0] in (mapi.PT_UNICODE, mapi.PT_STRING8):
            name = _text(*properties[prop], codepage) or name
            break
    else:
        name = attachment.title or name
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or f"attachment {number}"
    method = properties.get(mapi.ATTACH_METHOD)
    method_value = int.from_bytes(method[1][:4], "little") if method else None
    stored = properties.get(mapi.ATTACH_DATA)
    if stored is not None and stored[0] == mapi.PT_OBJECT:
        if stored[1].startswith(IID_IMESSAGE):
            message = stored[1][len(IID_IMESSAGE) :]
            return Attached(_with_suffix(name, ".msg"), message, True, attachment.problem)
        if attachment.data is None:
            problem = Unscannable("unsupported", "OLE object attached in TNEF is not read")
            return Attached(name, None, problem=problem)
        stored = None  # attAttachData holds the object as a compound file: read that
    if method_value in mapi.BY_REFERENCE:
        problem = Unscannable(
            "unsupported", "attachment by reference: only a link is in the message"
        )
        return Attached(name, None, problem=problem)
    data = attachment.data if attachment.data is not None else (stored[1] if stored else None)
    if data is None:
        missing = Unscannable("corrupt", "attachment data missing")
        return Attached(name, None, problem=attachment.problem or missing)
    return Attached(name, data, problem=attachment.problem)


def _with_suffix(name: str, suffix: str) -> str:
    return name if name.lower().endswith(suffix) else name + suffix
