"""Find and decode uuencoded files in text (``begin <mode> <name>`` ... ``end``)."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from dlp_proxy.inspect import charsets
from dlp_proxy.inspect.model import Unscannable

_BEGIN = re.compile(rb"^begin[ \t]+([0-7]{1,6})[ \t]+([^\r\n]+?)[ \t]*\r?$", re.MULTILINE)
_END = re.compile(rb"end[ \t]*")
_ALPHABET = bytes(range(32, 97))


@dataclass(frozen=True, slots=True)
class Block:
    """One uuencoded file: what decoded, the damage met, and where it is in the text."""

    name: str
    data: bytes
    problem: Unscannable | None
    start: int
    end: int


def blocks(text: bytes) -> list[Block]:
    """Every uuencoded file in ``text``, decoded as uudecode does (a line's trailing garbage
    ignored). A block whose lines do not decode, or that has no ``end``, is returned with
    what decoded and a *corrupt* problem."""
    if b"begin" not in text:  # one pass over the text; the pattern checks what follows
        return []
    found: list[Block] = []
    position = 0
    while (match := _BEGIN.search(text, position)) is not None:
        block = _decode(text, match)
        found.append(block)
        position = max(block.end, match.end())
    return found


def without(text: bytes, found: list[Block]) -> bytes:
    """``text`` with the blocks taken out."""
    pieces = []
    position = 0
    for block in found:
        pieces.append(text[position : block.start])
        position = block.end
    pieces.append(text[position:])
    return b"".join(pieces)


def _decode(text: bytes, begin: re.Match[bytes]) -> Block:
    name = charsets.guess(begin.group(2)).replace("\\", "/").rsplit("/", 1)[-1] or "uuencoded"
    out = bytearray()
    bad_lines = 0
    ended = False
    position = begin.end() + 1
    while position < len(text):
        newline = text.find(b"\n", position)
        stop = len(text) if newline < 0 else newline + 1
        line = text[position:stop].rstrip(b"\r\n")
        if _END.fullmatch(line):
            ended, position = True, stop
            break
        if not _is_uu_line(line):
            break  # the text after a block that lost its end
        try:
            out += _decode_line(line)
        except binascii.Error:
            bad_lines += 1
        position = stop
    problems = []
    if bad_lines:
        problems.append(f"{bad_lines} uuencoded line(s) do not decode")
    if not ended:
        problems.append("uuencoded block without its end line (truncated?)")
    problem = Unscannable("corrupt", "; ".join(problems)) if problems else None
    return Block(name, bytes(out), problem, begin.start(), position)


def _is_uu_line(line: bytes) -> bool:
    """A line as uuencode writes it: a length character, then at least the characters that
    length needs, nearly all from uuencode's alphabet (a damaged line is still one)."""
    if not line or not 32 <= line[0] <= 96:
        return False
    needed = 1 + (((line[0] - 32) & 63) * 4 + 2) // 3
    foreign = len(line[:needed].translate(None, _ALPHABET))
    return len(line) >= needed and foreign * 10 <= needed


def _decode_line(line: bytes) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        # Trailing garbage some encoders add (uudecode ignores it): keep what the length needs.
        count = (line[0] - 32) & 63
        return binascii.a2b_uu(line[: (count * 4 + 5) // 3])
