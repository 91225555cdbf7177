"""OpenPGP (RFC 4880) as mail carries it: encrypted messages recognised, signed or compressed
ones opened to their literal data, armour and clear-signed text undone."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from dlp_proxy.inspect.archives import Budget, decompress
from dlp_proxy.inspect.model import Unscannable

# Packet tags (RFC 4880 4.3, RFC 9580 5).
_PKESK, _SIGNATURE, _SKESK, _ONE_PASS = 1, 2, 3, 4
_COMPRESSED, _SED, _MARKER, _LITERAL = 8, 9, 10, 11
_TRUST, _SEIPD, _PADDING, _AEAD = 12, 18, 21, 20
_ENCRYPTED = frozenset({_PKESK, _SKESK, _SED, _SEIPD, _AEAD})
_SKIPPED = frozenset({_SIGNATURE, _ONE_PASS, _MARKER, _TRUST, _PADDING})
# Compression algorithms (RFC 4880 9.3) as archives.decompress names them.
_ALGORITHMS = {1: "deflate", 2: "zlib", 3: "bzip2"}
# Compressed packets inside compressed packets: more than this is an attack, not mail.
_MAX_NESTING = 8

_BEGIN_MESSAGE = b"-----BEGIN PGP MESSAGE-----"
_END_MESSAGE = b"-----END PGP MESSAGE-----"
_BEGIN_SIGNED = b"-----BEGIN PGP SIGNED MESSAGE-----"
_BEGIN_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----"
_END_SIGNATURE = b"-----END PGP SIGNATURE-----"
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_DASH_ESCAPE = re.compile(rb"^- ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Literal:
    """The literal data of a signed or compressed message: what the recipient reads."""

    name: str | None
    data: bytes


def read_message(data: bytes, budget: Budget) -> Literal:
    """The literal data of an OpenPGP message (binary packets, or one armoured block).

    Raises Unscannable: *encrypted* when it is encrypted (a session key packet, encrypted
    data), *corrupt* for broken armour or packets, *unsupported* for a message with no
    literal data or packets we do not know.
    """
    if data.lstrip()[:5] == b"-----":
        data = dearmor(data)
    return _literal(data, budget, nesting=0)


def dearmor(text: bytes) -> bytes:
    """The bytes of an ASCII-armoured block: the base64 between the header lines and the
    checksum line. *corrupt* when it does not decode."""
    lines = text.strip().splitlines()
    body: list[bytes] = []
    in_headers = True
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith(b"-----END PGP"):
            break
        if in_headers:
            if not stripped:
                in_headers = False
            elif b":" not in stripped:
                in_headers = False  # no header lines and no blank line: data starts here
                body.append(stripped)
            continue
        if stripped.startswith(b"="):
            break  # the CRC-24 checksum
        body.append(stripped)
    try:
        return base64.b64decode(b"".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise Unscannable("corrupt", "PGP armour is not valid base64") from None


def message_blocks(text: bytes) -> list[tuple[int, int]]:
    """Where armoured PGP messages are in ``text``: (start, end) of each block, from its
    BEGIN line through its END line (or to the end of the text when that is missing)."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (start := _line_starting(text, _BEGIN_MESSAGE, position)) >= 0:
        end = text.find(_END_MESSAGE, start)
        stop = len(text) if end < 0 else _end_of_line(text, end)
        spans.append((start, stop))
        position = stop
    return spans


def clear_signed(text: bytes) -> bytes | None:
    """``text`` with each clear-signed block replaced by the text it signs (header lines and
    signature dropped, dash escapes undone), or None when it has none."""
    pieces: list[bytes] = []
    position = 0
    while (start := _line_starting(text, _BEGIN_SIGNED, position)) >= 0:
        blank = _BLANK_LINE.search(text, start)  # the end of the Hash: header lines
        signature = -1 if blank is None else _line_starting(text, _BEGIN_SIGNATURE, blank.end())
        if blank is None or signature < 0:
            break  # no signature follows: the rest is left as it is
        end = text.find(_END_SIGNATURE, signature)
        stop = len(text) if end < 0 else _end_of_line(text, end)
        signed = text[blank.end() : signature].removesuffix(b"\n").removesuffix(b"\r")
        pieces += [text[position:start], _DASH_ESCAPE.sub(b"", signed), b"\n"]
        position = stop
    if not pieces:
        return None
    return b"".join([*pieces, text[position:]])


def _line_starting(text: bytes, marker: bytes, position: int) -> int:
    """The offset of the next line that starts with ``marker``, or -1."""
    while (found := text.find(marker, position)) >= 0:
        if found == 0 or text[found - 1 : found] in (b"\n", b"\r"):
            return found
        position = found + len(marker)
    return -1


def _end_of_line(text: bytes, position: int) -> int:
    newline = text.find(b"\n", position)
    return len(text) if newline < 0 else newline + 1


def _literal(data: bytes, budget: Budget, *, nesting: int) -> Literal:
    for tag, body in _packets(data):
        if tag in _ENCRYPTED:
            raise Unscannable("encrypted", "OpenPGP encrypted message")
        if tag == _LITERAL:
            return _literal_data(body)
        if tag == _COMPRESSED:
            if nesting >= _MAX_NESTING:
                raise Unscannable("limit", "OpenPGP compressed packets nested too deep")
            return _literal(_decompressed(body, budget), budget, nesting=nesting + 1)
        if tag not in _SKIPPED:
            raise Unscannable("unsupported", f"OpenPGP message starting with packet {tag}")
    raise Unscannable("unsupported", "OpenPGP data with no message in it (a key or signature)")


def _decompressed(body: bytes, budget: Budget) -> bytes:
    if not body:
        raise Unscannable("corrupt", "OpenPGP compressed packet is empty")
    algorithm = body[0]
    if algorithm == 0:
        return body[1:]
    if algorithm not in _ALGORITHMS:
        raise Unscannable("unsupported", f"OpenPGP compression algorithm {algorithm}")
    return decompress(body[1:], _ALGORITHMS[algorithm], budget)


def _literal_data(body: bytes) -> Literal:
    if len(body) < 6 or len(body) < 6 + body[1]:  # format, name length, name, date
        raise Unscannable("corrupt", "OpenPGP literal data packet cut short")
    name_length = body[1]
    raw_name = body[2 : 2 + name_length]
    name = raw_name.decode("utf-8", "replace") if raw_name and raw_name != b"_CONSOLE" else None
    return Literal(name, body[2 + name_length + 4 :])


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """The packets of ``data`` in order: (tag, body). *corrupt* when a header or a length
    does not fit."""
    packets: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        first = data[offset]
        if not first & 0x80:
            raise Unscannable("corrupt", "not an OpenPGP packet header")
        if first & 0x40:
            tag = first & 0x3F
            body, offset = _new_format_body(data, offset + 1)
        else:
            tag = (first >> 2) & 0x0F
            body, offset = _old_format_body(data, offset + 1, first & 0x03)
        packets.append((tag, body))
    return packets


def _old_format_body(data: bytes, offset: int, length_type: int) -> tuple[bytes, int]:
    if length_type == 3:  # indeterminate length: to the end of the data
        return data[offset:], len(data)
    size = 1 << length_type
    if offset + size > len(data):
        raise Unscannable("corrupt", "OpenPGP packet header cut short")
    length = int.from_bytes(data[offset : offset + size], "big")
    return _take(data, offset + size, length)


def _new_format_body(data: bytes, offset: int) -> tuple[bytes, int]:
    """A new-format body, its partial lengths (as gpg streams data) joined."""
    chunks: list[bytes] = []
    while True:
        if offset >= len(data):
            raise Unscannable("corrupt", "OpenPGP packet header cut short")
        octet = data[offset]
        if octet < 192:
            length, offset = octet, offset + 1
        elif octet < 224:
            if offset + 2 > len(data):
                raise Unscannable("corrupt", "OpenPGP packet header cut short")
            length, offset = ((octet - 192) << 8) + data[offset + 1] + 192, offset + 2
        elif octet == 255:
            if offset + 5 > len(data):
                raise Unscannable("corrupt", "OpenPGP packet header cut short")
            length, offset = int.from_bytes(data[offset + 1 : offset + 5], "big"), offset + 5
        else:  # a partial length: this much now, more follows
            chunk, offset = _take(data, offset + 1, 1 << (octet & 0x1F))
            chunks.append(chunk)
            continue
        chunk, offset = _take(data, offset, length)
        chunks.append(chunk)
        return b"".join(chunks), offset


def _take(data: bytes, offset: int, length: int) -> tuple[bytes, int]:
    if offset + length > len(data):
        raise Unscannable("corrupt", "OpenPGP packet runs past the end (truncated?)")
    return data[offset : offset + length], offset + length


def starts_encrypted_message(data: bytes) -> bool:
    """Whether ``data`` starts with the packet an encrypted OpenPGP message starts with: a
    public-key (version 3) or symmetric-key (version 4 to 6) encrypted session key whose
    length fits the data. Strict enough to type a file by content, without a name."""
    if len(data) < 4 or not data[0] & 0x80:
        return False
    try:
        if data[0] & 0x40:
            tag = data[0] & 0x3F
            body, _ = _new_format_body(data[:4096], 1)
        else:
            tag = (data[0] >> 2) & 0x0F
            if data[0] & 0x03 == 3:
                return False
            body, _ = _old_format_body(data[:4096], 1, data[0] & 0x03)
    except Unscannable:
        return False
    if tag == _PKESK:
        return len(body) >= 10 and body[0] == 3  # version 3, key id, algorithm
    if tag == _SKESK:
        return len(body) >= 4 and body[0] in (4, 5, 6)
    return False
