"""MAPI property values that Outlook .msg files and TNEF streams share (MS-OXPROPS)."""

from __future__ import annotations

from dataclasses import dataclass

import compressed_rtf

from dlp_proxy.inspect import charsets
from dlp_proxy.inspect.archives import Budget
from dlp_proxy.inspect.model import Unscannable

# Property ids (the high 16 bits of a property tag).
BODY = 0x1000
RTF_COMPRESSED = 0x1009
BODY_HTML = 0x1013
DISPLAY_NAME = 0x3001
ATTACH_DATA = 0x3701  # binary (by value), or an object (embedded message, OLE storage)
ATTACH_FILENAME = 0x3704
ATTACH_METHOD = 0x3705
ATTACH_LONG_FILENAME = 0x3707
INTERNET_CODEPAGE = 0x3FDE
MESSAGE_CODEPAGE = 0x3FFD

# Property types (the low 16 bits).
PT_LONG = 0x0003
PT_OBJECT = 0x000D
PT_STRING8 = 0x001E
PT_UNICODE = 0x001F
PT_BINARY = 0x0102

# PidTagAttachMethod values (MS-OXCMSG 2.2.2.9).
BY_VALUE = 1
BY_REFERENCE = (2, 4, 7)
EMBEDDED_MESSAGE = 5
OLE_STORAGE = 6

# compressed_rtf expands about 2 MB a second in Python, at most 8 bytes per byte read: the
# largest compressed RTF body we expand, so that one body costs seconds, not minutes.
MAX_COMPRESSED_RTF = 4 << 20


# Windows code page numbers whose Python codec is not named cpNNN.
_CODEPAGES = {
    20127: "ascii",
    20932: "euc_jp",
    28591: "latin-1",
    50220: "iso-2022-jp",
    50221: "iso-2022-jp",
    50222: "iso-2022-jp",
    51932: "euc_jp",
    65001: "utf-8",
}


@dataclass(frozen=True, slots=True)
class Body:
    """A message body as stored: plain text, HTML bytes, or RTF (already decompressed)."""

    text: str | None = None
    html: bytes | None = None
    rtf: bytes | None = None


def string8(data: bytes, codepage: int | None) -> str:
    """A PT_STRING8 value in the message's code page; guessed (UTF-8, cp932, EUC-JP) when the
    message names none or one Python does not know."""
    charset = _CODEPAGES.get(codepage, f"cp{codepage}") if codepage else None
    return charsets.decode(data.split(b"\x00", 1)[0], charset)


def unicode(data: bytes) -> str:
    """A PT_UNICODE value: UTF-16LE up to its terminating NUL."""
    text = data.decode("utf-16-le", "replace")
    return text.split("\x00", 1)[0]


def decompress_rtf(data: bytes, budget: Budget) -> bytes:
    """A PidTagRtfCompressed value (MS-OXRTFCP), expanded; *corrupt* when it does not check,
    *limit* when it is too large to expand."""
    if len(data) > MAX_COMPRESSED_RTF:
        raise Unscannable(
            "limit", f"compressed RTF body of {len(data)} bytes, over {MAX_COMPRESSED_RTF}"
        )
    try:
        rtf: bytes = compressed_rtf.decompress(data)
    except Exception as exc:  # the library raises bare Exception for a bad CRC or type
        raise Unscannable("corrupt", f"compressed RTF unreadable ({type(exc).__name__})") from None
    if len(rtf) > budget.cap():
        raise Unscannable("limit", f"RTF body expands past {budget.cap()} bytes")
    budget.spend(len(rtf))
    return rtf
