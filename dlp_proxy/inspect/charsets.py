"""Turn bytes in a declared or unknown Japanese-or-Western charset into text, never raising."""

from __future__ import annotations

import codecs
import re

# Japanese mail software writes these names for what is really Microsoft's cp932 superset
# (NEC row 13 such as ①㈱, IBM extensions such as 髙); Python's shift_jis rejects those.
_CP932_NAMES = frozenset(
    {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms932", "windows-31j", "cp932", "ms_kanji"}
)
_EUC_NAMES = frozenset({"euc-jp", "euc_jp", "eucjp", "x-euc-jp", "cseucpkdfmtjapanese"})
# Tried in order when nothing is declared or the declaration is wrong.
_GUESSES = ("utf-8", "cp932", "euc_jp")

_ESCAPES = re.compile(rb"\x1b(?:\$[@B]|\$\(.|\(.|&@)|[\x0e\x0f]", re.DOTALL)
_MODES = {
    b"\x1b$@": "double",
    b"\x1b$B": "double",
    b"\x1b$(": "unsupported",  # JIS X 0212/0213 planes: not in cp932
    b"\x1b(I": "kana",
    b"\x0e": "kana",
}
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")  # a guess that lands here is a wrong guess
_NEWLINE = re.compile(rb"(\r?\n)")


def _codec(charset: str) -> str | None:
    name = charset.strip().strip('"').lower()
    if name in _CP932_NAMES:
        return "cp932"
    if name in _EUC_NAMES:
        return "euc_jp"
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    """Map one JIS X 0208 row/cell pair to Shift_JIS, so cp932 can decode NEC rows too."""
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 < 0x5F else 0xB0)
    s2 = j2 + 0x1F + (j2 >= 0x60) if j1 & 1 else j2 + 0x7E
    return bytes((s1, s2))


def _double(pairs: bytes) -> str:
    sjis = bytearray()
    for i in range(0, len(pairs) - 1, 2):
        j1, j2 = pairs[i], pairs[i + 1]
        if 0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E:
            sjis += _jis_to_sjis(j1, j2)
        else:
            sjis += b"?"
    text = sjis.decode("cp932", errors="replace")
    return text + ("\ufffd" if len(pairs) % 2 else "")


def _segment(chunk: bytes, mode: str) -> str:
    if mode == "ascii":
        return chunk.decode("ascii", errors="replace")
    pieces = _NEWLINE.split(chunk)  # line ends pass through whatever the mode
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(piece.decode("ascii"))
        elif mode == "double":
            out.append(_double(piece))
        elif mode == "kana":
            out.append(bytes(byte | 0x80 for byte in piece).decode("cp932", errors="replace"))
        else:
            out.append("\ufffd" * ((len(piece) + 1) // 2))
    return "".join(out)


def decode_iso2022jp(data: bytes) -> str:
    """Decode ISO-2022-JP as Windows writes it (CP50220/50221), NEC and IBM rows included."""
    out: list[str] = []
    mode = "ascii"
    position = 0
    for match in _ESCAPES.finditer(data):
        out.append(_segment(data[position : match.start()], mode))
        sequence = match.group(0)
        if sequence != b"\x1b&@":  # JIS X 0208-1990 announcer: the designation follows
            mode = _MODES.get(sequence[:3], "ascii")
        position = match.end()
    out.append(_segment(data[position:], mode))
    return "".join(out)


def _decode_euc(data: bytes) -> str:
    """EUC-JP with NEC row 13: map each two-byte JIS pair through cp932."""
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte < 0x80:
            out.append(chr(byte))
            i += 1
        elif byte == 0x8E and i + 1 < n:
            out.append(bytes((data[i + 1],)).decode("cp932", errors="replace"))
            i += 2
        elif byte == 0x8F:
            out.append("\ufffd")  # JIS X 0212 supplementary kanji: not in cp932
            i += 3
        elif i + 1 < n:
            out.append(_double(bytes((byte & 0x7F, data[i + 1] & 0x7F))))
            i += 2
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def guess(data: bytes) -> str:
    """Decode bytes of unknown charset: UTF-8, then cp932, then EUC-JP, else with replacement."""
    if b"\x1b$" in data or b"\x1b(" in data:
        return decode_iso2022jp(data)
    for codec in _GUESSES:
        text = _strict(data, codec)
        if text is not None and not _PRIVATE_USE.search(text):
            return text
    return data.decode("utf-8", errors="replace")


def decode(data: bytes, charset: str | None) -> str:
    """Decode bytes in their declared charset, guessing when it is missing, wrong or unknown.

    Never raises: what cannot be decoded becomes U+FFFD.
    """
    codec = _codec(charset) if charset else None
    if codec is None or codec in ("ascii", "utf-8"):
        return guess(data)
    text = _strict(data, codec)
    if codec.startswith("iso2022_jp"):
        if text is not None:
            return text
        return decode_iso2022jp(data) if b"\x1b" in data or data.isascii() else guess(data)
    if text is not None and not _PRIVATE_USE.search(text):
        return text
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        return utf8  # declared wrongly: valid UTF-8 is no accident
    if text is not None:
        return text
    if codec == "euc_jp":
        return _decode_euc(data)
    return data.decode(codec, errors="replace")
