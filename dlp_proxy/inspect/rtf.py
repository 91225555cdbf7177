"""Read RTF: the text Word shows (table rows as tab-separated lines) and embedded OLE objects."""

from __future__ import annotations

import binascii
import codecs
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dlp_proxy.inspect.model import Unscannable

MAX_DEPTH = 1000  # groups inside groups; Word's own documents stay far below
MAX_BYTES = 256 << 20  # as TableLimits.max_unpacked: text past this is not read
_CHECK_EVERY = 4096
_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word, parameter, delimiting space
    rb"|\\'([0-9a-fA-F]{2})"  # a byte in the current code page
    rb"|\\(.)"  # control symbol
    rb"|([{}])"
    rb"|([^\\{}]+)",  # text (CR and LF in it mean nothing)
    re.DOTALL,
)
_HEX = re.compile(rb"[^0-9a-fA-F]")
_CRLF = re.compile(rb"[\r\n\x00]")  # line ends mean nothing; NULs (WordPad ends with one)
# Destinations whose content is not text a reader sees.
_SKIPPED = frozenset(
    b"""author buptim category colorschememapping colortbl comment company creatim datafield
    datastore docvar doccomm falt fchars ffdeftext ffentrymcr ffexitmcr ffformat ffhelptext
    ffl ffname ffstattext fldinst fldtype filetbl fontemb fontfile footnotesep formfield
    ftncn ftnsep ftnsepc aftncn aftnsep aftnsepc generator hlinkbase info keycode
    keywords latentstyles lchars leveltext levelnumbers listoverridetable listpicture
    listtable liststylename listname mmathPr nonshppict objalias objname objsect objtime
    oldcprops oldpprops oldsprops oldtprops operator panose passwordhash pgdsctbl pict
    printim propname protusertbl revtbl revtim rsidtbl shppict sn sp sv stylesheet subject
    template themedata title txe userprops wgrffmtfilter writereservation xe xmlnstbl
    bkmkstart bkmkend blipuid mhtmltag pntext pntxta pntxtb listtext""".split()
)
# \* destinations that do carry visible text (text boxes of shapes).
_STARRED_TEXT = frozenset({b"shpinst", b"shptxt", b"shprslt"})
_SYMBOLS = {
    b"par": "\n",
    b"line": "\n",
    b"sect": "\n",
    b"page": "\n",
    b"tab": "\t",
    b"emdash": "\u2014",
    b"endash": "\u2013",
    b"emspace": " ",
    b"enspace": " ",
    b"qmspace": " ",
    b"bullet": "\u2022",
    b"lquote": "\u2018",
    b"rquote": "\u2019",
    b"ldblquote": "\u201c",
    b"rdblquote": "\u201d",
}
_CONTROL_SYMBOLS = {b"~": " ", b"_": "-", b"{": "{", b"}": "}", b"\\": "\\", b"\n": "\n"}
_CONTROL_SYMBOLS[b"\r"] = "\n"
# \fcharsetN -> code page of the bytes written in that font (0 and 1: the document's).
_CHARSETS = {
    2: "cp1252",
    77: "mac_roman",
    128: "cp932",
    129: "cp949",
    130: "johab",
    134: "gbk",
    136: "cp950",
    161: "cp1253",
    162: "cp1254",
    163: "cp1258",
    177: "cp1255",
    178: "cp1256",
    186: "cp1257",
    204: "cp1251",
    222: "cp874",
    238: "cp1250",
    254: "cp437",
    255: "cp850",
}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(slots=True)
class RtfObject:
    """An embedded object: its OLE1 class name and native data (an OLE2 compound file for
    most classes), or why it could not be decoded."""

    class_name: str
    data: bytes
    problem: Unscannable | None = None


@dataclass(slots=True)
class RtfContent:
    text: str
    objects: list[RtfObject]
    problem: Unscannable | None = None  # truncated or unbalanced: read up to there
    html: str | None = None  # the HTML an Outlook RTF body encapsulates (\\fromhtml1)


def rtf_text(data: bytes) -> str:
    """The text of an RTF document (also Outlook's RTF bodies); never raises on bad RTF."""
    return read_rtf(data).text


def rtf_html(data: bytes) -> str | None:
    """The HTML an RTF body encapsulates (Outlook's ``\\fromhtml1``, MS-OXRTFEX), else None."""
    return read_rtf(data).html


def rtf_objects(data: bytes) -> Iterator[RtfObject]:
    """The objects embedded in an RTF document, in document order."""
    yield from read_rtf(data).objects


@dataclass(slots=True)
class _State:
    """What one group inherits and may change."""

    skip: bool = False  # inside a destination that is not text
    uc: int = 1  # bytes of fallback after \\uN
    codec: str = "cp1252"
    destination: bytes = b""
    html: bool = False  # inside \\*\\htmltag: markup of the HTML an RTF body encapsulates
    htmlrtf: bool = False  # inside \\htmlrtf: RTF-only text, not part of the HTML


class _Reader:
    """The tokens of one document, applied in order: text, tables, fonts, objects."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.html: list[str] = []  # the encapsulated HTML (MS-OXRTFEX), when \\fromhtml1
        self.fromhtml = False
        self.pending = bytearray()  # \\'hh bytes not yet decoded (DBCS pairs decode together)
        self.objects: list[RtfObject] = []
        self.object_class: list[str] = []
        self.object_data: list[bytes] = []
        self.document_codec = "cp1252"
        self.fonts: dict[int, str] = {}
        self.font_number: int | None = None
        self.high_surrogate: int | None = None
        self.in_table = False
        self.state = _State()
        self.stack: list[_State] = []
        self.skipping = 0  # fallback characters still to skip after \\uN
        self.fresh = False  # just after "{": a destination keyword may follow
        self.starred = False
        self.problem: Unscannable | None = None

    def flush(self) -> None:
        if self.pending:
            self._put(bytes(self.pending).decode(self.state.codec, "replace"))
            self.pending.clear()

    def emit(self, text: str) -> None:
        self.flush()
        if self.high_surrogate is not None:
            self._put("\ufffd")
            self.high_surrogate = None
        self._put(text)

    def _put(self, text: str) -> None:
        state = self.state
        if not state.skip:
            self.out.append(text)
            if not state.htmlrtf:
                self.html.append(text)
        elif state.html:
            self.html.append(text)

    def _visible(self) -> bool:
        return not self.state.skip or self.state.html

    def finish(self) -> RtfContent:
        """The end of the data: groups still open are closed (what they held counts)."""
        if self.stack and self.problem is None:
            depth = len(self.stack)
            self.problem = Unscannable("corrupt", f"RTF ends inside {depth} open groups")
        while self.stack:
            self.close_group()
        self.flush()
        html = "".join(self.html) if self.fromhtml else None
        text = _tidy("".join(self.out))
        return RtfContent(text=text, objects=self.objects, problem=self.problem, html=html)

    def brace(self, brace: bytes) -> bool:
        """Open or close a group; False when the nesting bound stops the reading."""
        if brace == b"{":
            return self.open_group()
        self.close_group()
        return True

    def open_group(self) -> bool:
        """Returns False when the nesting bound is reached (reading stops there)."""
        self.skipping = 0
        if len(self.stack) >= MAX_DEPTH:
            self.problem = Unscannable(
                "limit", f"RTF groups nested over {MAX_DEPTH} deep: read up to there"
            )
            return False
        state = self.state
        self.stack.append(state)
        self.state = _State(state.skip, state.uc, state.codec, b"", state.html, state.htmlrtf)
        self.fresh, self.starred = True, False
        return True

    def close_group(self) -> None:
        self.skipping = 0
        self.flush()
        if self.state.destination == b"objdata":
            data, name = b"".join(self.object_data), "".join(self.object_class).strip(" ;")
            self.objects.append(_ole1(data, class_name=name))
            self.object_data = []
        self.fresh = self.starred = False
        if not self.stack:
            self.problem = self.problem or Unscannable(
                "corrupt", "RTF closes more groups than it opens"
            )
            return
        self.state = self.stack.pop()

    def word(self, word: bytes, parameter: bytes | None) -> None:
        fresh, starred = self.fresh, self.starred
        self.fresh = self.starred = False
        if self.skipping:
            self.skipping -= 1
        elif not (fresh and self._destination(word, starred)):
            self._control(word, parameter)

    def byte(self, value: int) -> None:
        self.fresh = self.starred = False
        if self.skipping:
            self.skipping -= 1
        elif self._visible():
            self.pending.append(value)

    def symbol(self, symbol: bytes) -> None:
        if symbol == b"*":
            self.starred = self.fresh
            return
        self.fresh = self.starred = False
        if self.skipping:
            self.skipping -= 1
        elif self._visible() and symbol in _CONTROL_SYMBOLS:
            self.emit(_CONTROL_SYMBOLS[symbol])

    def text(self, text: bytes) -> None:
        self.fresh = self.starred = False
        destination = self.state.destination
        if destination == b"objdata":
            self.object_data.append(text)
        elif destination == b"objclass":
            self.object_class.append(text.decode("latin-1"))
        else:
            chunk = _CRLF.sub(b"", text)
            if self.skipping:
                dropped = min(self.skipping, len(chunk))
                chunk, self.skipping = chunk[dropped:], self.skipping - dropped
            if chunk and self._visible():
                self.emit(chunk.decode(self.state.codec, "replace"))

    def binary(self, data: bytes) -> None:
        self.fresh = self.starred = False
        if self.state.destination == b"objdata":
            self.object_data.append(binascii.hexlify(data))

    def _destination(self, word: bytes, starred: bool) -> bool:
        """The first control word of a group may make it a destination: text skipped, object
        data or class collected, fonts read. Returns whether ``word`` was taken as one."""
        state = self.state
        if word == b"htmltag":
            state.destination, state.skip, state.html = word, True, True
            return True
        if (
            word in (b"objdata", b"objclass", b"fonttbl")
            or word in _SKIPPED
            or (starred and word not in _STARRED_TEXT)
        ):
            state.destination = word
            state.skip = True
            if word == b"objdata":
                self.object_data = []
            elif word == b"objclass":
                self.object_class = []
            return True
        return False

    def _control(self, word: bytes, parameter: bytes | None) -> None:
        number = int(parameter) if parameter is not None else None
        if number is not None and word in _SETTINGS:
            _SETTINGS[word](self, number)
        elif word in (b"mac", b"pc", b"pca"):
            self._document_codec({b"mac": "mac_roman", b"pc": "cp437", b"pca": "cp850"}[word])
        elif word == b"htmlrtf":
            self.flush()
            self.state.htmlrtf = number != 0
        elif word == b"fromhtml":
            self.fromhtml = True
        elif self._visible():
            self._layout(word)

    def _layout(self, word: bytes) -> None:
        if word == b"intbl":
            self.in_table = True
        elif word == b"pard":
            self.in_table = False
        elif word in (b"cell", b"nestcell"):
            self.emit("\t")
        elif word in (b"row", b"nestrow"):
            self._end_row()
        elif word == b"par" and self.in_table:
            self.emit(" ")  # a paragraph inside a cell: the row stays one line
        elif word in _SYMBOLS:
            self.emit(_SYMBOLS[word])

    def _end_row(self) -> None:
        self.flush()
        out = self.out
        while out and out[-1] not in ("\t", "\n") and not out[-1].strip(" "):
            out.pop()
        if out and out[-1] == "\t":
            out.pop()  # the last \\cell of the row
        self.emit("\n")
        self.in_table = False

    def unicode(self, value: int) -> None:
        self.skipping = self.state.uc
        if not self._visible():
            return
        code = value + 0x10000 if value < 0 else value
        if 0xD800 <= code < 0xDC00:
            self.flush()
            self.high_surrogate = code
        elif 0xDC00 <= code < 0xE000 and self.high_surrogate is not None:
            pair = 0x10000 + ((self.high_surrogate - 0xD800) << 10) + (code - 0xDC00)
            self.high_surrogate = None
            self.emit(chr(pair))
        else:
            self.emit(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd")

    def _document_codec(self, codec: str) -> None:
        self.flush()
        self.document_codec = codec
        self.state.codec = codec
        for outer in self.stack:
            outer.codec = codec

    def font(self, number: int) -> None:
        if self.state.destination == b"fonttbl" or any(
            outer.destination == b"fonttbl" for outer in self.stack
        ):
            self.font_number = number
        else:
            self.flush()
            self.state.codec = self.fonts.get(number, self.document_codec)

    def charset(self, number: int) -> None:
        codec = _CHARSETS.get(number)
        if codec is not None and self.font_number is not None:
            self.fonts[self.font_number] = codec

    def set_uc(self, number: int) -> None:
        self.state.uc = max(0, min(number, 16))

    def code_page(self, number: int) -> None:
        self._document_codec(_code_page(number))


_SETTINGS: dict[bytes, Callable[[_Reader, int], None]] = {
    b"u": _Reader.unicode,
    b"uc": _Reader.set_uc,
    b"ansicpg": _Reader.code_page,
    b"f": _Reader.font,
    b"fcharset": _Reader.charset,
}


def read_rtf(data: bytes, *, check: Callable[[], None] = lambda: None) -> RtfContent:
    """Read an RTF document's text and objects in one pass of a regular-expression tokenizer
    with an explicit group stack (no recursion): ``\\'hh`` bytes decode in the code page of
    the current font or ``\\ansicpg``, ``\\uN`` with its ``\\ucN`` fallback skipped, ``\\binN``
    runs skipped or kept as object data, pictures and other non-text destinations left out,
    ``\\objdata`` decoded with its OLE1 header stripped. ``check`` runs every few thousand
    tokens.
    Raises Unscannable("limit") only past MAX_BYTES; a document cut short or with unbalanced
    braces comes back with ``problem`` set and everything before the damage read."""
    if len(data) > MAX_BYTES:
        raise Unscannable("limit", f"RTF of {len(data):,} bytes, over {MAX_BYTES:,}")
    reader = _Reader()
    position, end, count = 0, len(data), 0
    while position < end:
        match = _TOKEN.match(data, position)
        if match is None:  # a lone backslash at the very end
            break
        position = match.end()
        count += 1
        if count % _CHECK_EVERY == 0:
            check()
        word, parameter, hexbyte, symbol, brace, text = match.groups()
        if word == b"bin":  # N raw bytes follow, whatever they are
            size = max(0, int(parameter or b"0"))
            reader.binary(data[position : position + size])
            position += size
        elif word is not None:
            reader.word(word, parameter)
        elif hexbyte is not None:
            reader.byte(int(hexbyte, 16))
        elif symbol is not None:
            reader.symbol(symbol)
        elif brace is not None:
            if not reader.brace(brace):
                break
        else:
            reader.text(text or b"")
    return reader.finish()


def _code_page(number: int) -> str:
    name = "utf-8" if number == 65001 else f"cp{number}"
    if number == 10000:
        name = "mac_roman"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp1252"


def _tidy(text: str) -> str:
    lines = (line.strip(" ") for line in text.split("\n"))
    return "\n".join(line for line in lines if line.strip())


def _ole1(hexdata: bytes, *, class_name: str) -> RtfObject:
    """The native data of an OLE1 EmbeddedObject (MS-OLEDS 2.2.5): OLEVersion, FormatID,
    ClassName, TopicName, ItemName (length-prefixed ANSI strings), NativeDataSize, NativeData."""
    digits = _HEX.sub(b"", hexdata)
    raw = binascii.unhexlify(digits[: len(digits) & ~1])
    if raw.startswith(_OLE2):
        return RtfObject(class_name, raw)
    try:
        _, format_id = struct.unpack_from("<II", raw, 0)
        position = 8
        names = []
        for _ in range(3):
            (length,) = struct.unpack_from("<I", raw, position)
            position += 4
            if length > len(raw) - position:
                raise ValueError("name longer than the object")
            names.append(raw[position : position + length].rstrip(b"\x00").decode("latin-1"))
            position += length
        if format_id != 2:
            linked = Unscannable("unsupported", f"OLE1 object of format {format_id} (linked?)")
            return RtfObject(names[0] or class_name, b"", linked)
        (size,) = struct.unpack_from("<I", raw, position)
        position += 4
    except (struct.error, ValueError):
        return RtfObject(class_name, b"", Unscannable("corrupt", "embedded object unreadable"))
    native = raw[position : position + size]
    problem: Unscannable | None = None
    if len(native) < size:
        problem = Unscannable("corrupt", "embedded object cut short")
    return RtfObject(names[0] or class_name, native, problem)
