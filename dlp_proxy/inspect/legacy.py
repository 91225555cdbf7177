"""The text and embedded objects of binary Word and PowerPoint 97-2003 files (.doc, .ppt).

Pure: bytes in, text and files out. A .doc's text is every piece of its piece table (the
main text, footnotes, headers and footers, comments, endnotes, text boxes share one character
position space), laid out as Word shows it: paragraphs are lines, a table row is one line of
tab-separated cells (row ends are told from paragraph properties), field instructions are
left out and their results kept. A .ppt's records are walked with an explicit stack; every
text atom is read, and the shapes of a group (a table is a group of cell shapes) are laid out
in rows by their anchors. Counts and offsets read from the file are checked against the
stream they point into; what cannot be read is a problem, and what could be is still read.
"""

from __future__ import annotations

import bisect
import io
import itertools
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import olefile

from dlp_proxy.inspect import oleobjects
from dlp_proxy.inspect.documents import Lines
from dlp_proxy.inspect.limits import describe
from dlp_proxy.inspect.model import Unscannable


@dataclass
class Content:
    """What a document shows, the problems met reading it, and the files embedded in it."""

    text: str = ""
    problems: list[Unscannable] = field(default_factory=list)
    objects: list[tuple[str, bytes]] = field(default_factory=list)


Check = Callable[[], None]
_Read = TypeVar("_Read")

_CHECK_EVERY: Final = 1024


def _open(data: bytes, *, strict: bool = True) -> Any:
    """The compound file; olefile raises on every defect it finds incorrect (``strict``)."""
    defects = olefile.DEFECT_INCORRECT if strict else olefile.DEFECT_FATAL
    try:
        return olefile.OleFileIO(io.BytesIO(data), raise_defects=defects)
    except MemoryError:
        raise Unscannable("limit", "OLE container too large to read") from None
    except Exception as exc:  # olefile reports structure problems with many exception types
        raise Unscannable("corrupt", f"OLE container unreadable ({type(exc).__name__})") from None


def _stream(ole: Any, name: str, *, cap: int) -> bytes:
    """One stream at the root, read whole; Unscannable when it is missing, larger than
    ``cap`` or unreadable (a file cut short)."""
    try:
        if not ole.exists(name):
            raise Unscannable("corrupt", f"{name} stream missing")
        size = ole.get_size(name)
        if size > cap:
            raise Unscannable("corrupt", f"{name} stream of {size:,} bytes, more than the file")
        with ole.openstream(name) as stream:
            data: bytes = stream.read(size)
    except Unscannable:
        raise
    except MemoryError:
        raise Unscannable("limit", f"{name} stream too large to read") from None
    except Exception as exc:
        raise Unscannable("corrupt", f"{name} stream unreadable ({describe(exc)})") from None
    return data


# --- Word ------------------------------------------------------------------------------------

_WORD_IDENT: Final = 0xA5EC
_NFIB_WORD97: Final = 0x00C0  # Word 6.0/95 files (nFib 101-105) lay out their FIB otherwise
_F_ENCRYPTED: Final = 0x0100
_F_WHICH_TABLE: Final = 0x0200
# Indexes into FibRgLw97: ccpText, ccpFtn, ccpHdd, ccpMcr, ccpAtn, ccpEdn, ccpTxbx, ccpHdrTxbx.
_CCP_FIRST, _CCP_LAST = 3, 10
# Indexes of (fc, lcb) pairs in FibRgFcLcb97.
_PLCF_BTE_PAPX: Final = 13
_CLX: Final = 33
_FKP: Final = 512

# Paragraph properties (sprms) that place a paragraph in a table or end a table row. A nested
# table's cells and rows end with paragraph marks marked as such.
_SPRM_IN_TABLE: Final = 0x2416
_SPRM_TTP: Final = 0x2417
_SPRM_INNER_CELL: Final = 0x244B
_SPRM_INNER_TTP: Final = 0x244C
_SPRM_ITAP: Final = 0x6649  # the table depth of a paragraph
_SPRM_DEF_TABLE: Final = 0xD608
_SPRM_HUGE_PAPX: Final = 0x6646  # the properties are in the Data stream
_TABLE_SPRMS: Final = frozenset(
    {_SPRM_IN_TABLE, _SPRM_TTP, _SPRM_INNER_CELL, _SPRM_INNER_TTP, _SPRM_ITAP}
)
_SPRM_CHG_TABS: Final = 0xC615
_OPERAND_SIZES: Final = {0: 1, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2, 7: 3}

# Compressed pieces hold 8-bit text: Windows-1252, bytes it leaves undefined as Latin-1.
_CP1252: Final = str.maketrans(
    {
        b: bytes((b,)).decode("cp1252", "replace").replace("\ufffd", chr(b))
        for b in range(0x80, 0xA0)
    }
)
_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END = "\x13", "\x14", "\x15"
_FIELD_MARKS: Final = frozenset({_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END})
_SPECIAL: Final = re.compile(r"[\x00-\x08\x0b-\x1f]")  # marks (\r, \x07...) and controls
_CELL: Final = "\x07"


@dataclass(frozen=True, slots=True)
class _Fib:
    table: str
    ccp: tuple[int, ...]
    clx: tuple[int, int]
    papx: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Piece:
    cp: int
    length: int
    fc: int  # byte offset in the WordDocument stream
    compressed: bool


@dataclass(frozen=True, slots=True)
class _Para:
    """What a paragraph's properties say about tables: in one (``depth`` levels of nesting),
    its mark ends a row, or (in a nested table, whose marks are paragraph marks) ends a
    nested cell or a nested row."""

    depth: int = 0
    row_end: bool = False
    inner_cell: bool = False
    inner_row_end: bool = False


_PLAIN: Final = _Para()
_Flags = _Para | None  # None: not known
_Run = tuple[int, int, _Flags]  # a paragraph's start and end in the stream, its flags


class _Paragraphs:
    """Paragraph properties by file position: whether a paragraph is in a table, and whether
    its mark ends a table row (MS-DOC PlcBtePapx, PapxFkp)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.flags: list[_Flags] = []

    def at(self, fc: int) -> _Flags:
        """The table flags of the paragraph whose mark is at ``fc``, or None when they are
        not known."""
        index = bisect.bisect_right(self.starts, fc) - 1
        if index >= 0 and fc < self.ends[index]:
            return self.flags[index]
        return None


def read_doc(data: bytes, *, cap: int, check: Check) -> Content:
    """The text and ObjectPool objects of a binary Word document. Raises Unscannable when the
    container or its FIB cannot be read, or the document is encrypted; damage past that is
    in ``problems`` with what could be read still read."""
    content = Content()
    (word, fib, table, pool), data = _streams(data, read=_word_streams, problems=content.problems)
    try:
        # Every object, as in a docx: one of no kind we know is listed as unsupported.
        content.objects = oleobjects.embedded_storages(
            data, prefix="", under="ObjectPool", every=True
        )
    except Unscannable as problem:
        content.problems.append(Unscannable(problem.reason, f"ObjectPool: {problem.detail}"))
    content.objects = [(f"ObjectPool/{name}", inner) for name, inner in content.objects]
    paragraphs = _paragraphs(
        word, table=table, pool=pool, fib=fib, problems=content.problems, check=check
    )
    out = Lines(cap)
    try:
        pieces = _pieces(word, table=table, fib=fib, problems=content.problems)
        _WordText(paragraphs, out=out).render(
            word, pieces=pieces, cap=cap, check=check, problems=content.problems
        )
    except Unscannable as problem:
        if problem.reason == "encrypted":
            raise
        content.problems.append(problem)
    content.text = out.text
    return content


def _streams(
    data: bytes, *, read: Callable[[Any, int], _Read], problems: list[Unscannable]
) -> tuple[_Read, bytes]:
    """What ``read`` takes out of the compound file, and the file it was read from: a file cut
    short whose directory is left is read on with its missing sectors as zeros (corrupt)."""
    try:
        with _open(data) as ole:
            return read(ole, len(data)), data
    except Unscannable as problem:
        padded = _padded(data) if problem.reason == "corrupt" else None
        if padded is None:
            raise
    with _open(padded, strict=False) as ole:
        found = read(ole, len(padded))
    missing = len(padded) - len(data)
    problems.append(Unscannable("corrupt", f"file cut short ({missing:,} bytes missing)"))
    return found, padded


def _ppt_stream(ole: Any, cap: int) -> bytes:
    return _stream(ole, "PowerPoint Document", cap=cap)


def _word_streams(ole: Any, cap: int) -> tuple[bytes, _Fib, bytes, bytes | None]:
    """The WordDocument stream, its FIB, the table stream, and the Data stream if any (where
    paragraph properties too large for their page are kept)."""
    word = _stream(ole, "WordDocument", cap=cap)
    fib = _fib(word)
    table = _stream(ole, fib.table, cap=cap)
    pool = _stream(ole, "Data", cap=cap) if ole.exists("Data") else None
    return word, fib, table, pool


def _padded(data: bytes) -> bytes | None:
    """A compound file cut short, padded with zeros to the end of the last sector its FAT
    uses (at most to twice its size); None when it was not cut short or has no FAT left."""
    if len(data) < 512:
        return None
    (shift,) = struct.unpack_from("<H", data, 0x1E)
    if shift not in (9, 12):
        return None
    size = 1 << shift
    per_sector = size // 4
    used = -1
    # The FAT sectors the header lists (files up to ~7 MB need no more).
    for number, sector in enumerate(struct.unpack_from("<109I", data, 0x4C)):
        offset = (sector + 1) * size
        if sector > olefile.MAXREGSECT or offset + size > len(data):
            continue
        entries = struct.unpack_from(f"<{per_sector}I", data, offset)
        for index in range(per_sector - 1, -1, -1):
            if entries[index] != olefile.FREESECT:
                used = max(used, number * per_sector + index)
                break
    needed = (used + 2) * size
    if needed <= len(data) or needed > 2 * len(data):
        return None
    return data + bytes(needed - len(data))


def _fib(word: bytes) -> _Fib:
    """The parts of the File Information Block we need, each checked against its bounds."""
    if len(word) < 34:
        raise Unscannable("corrupt", "WordDocument stream shorter than its FIB")
    ident, nfib = struct.unpack_from("<HH", word, 0)
    (flags,) = struct.unpack_from("<H", word, 0x0A)
    if ident != _WORD_IDENT:
        raise Unscannable("corrupt", f"WordDocument stream without a FIB (ident {ident:#06x})")
    if flags & _F_ENCRYPTED:
        raise Unscannable("encrypted", "password-protected Word document")
    if nfib < _NFIB_WORD97:
        raise Unscannable("unsupported", f"Word 6.0/95 document (nFib {nfib:#06x})")
    position = 32
    (csw,) = struct.unpack_from("<H", word, position)
    position += 2 + 2 * csw
    if position + 2 > len(word):
        raise Unscannable("corrupt", "FIB cut short")
    (cslw,) = struct.unpack_from("<H", word, position)
    lw = position + 2
    position = lw + 4 * cslw
    if cslw <= _CCP_LAST or position + 2 > len(word):
        raise Unscannable("corrupt", f"FIB with {cslw} long values, or cut short")
    ccp = struct.unpack_from(f"<{_CCP_LAST - _CCP_FIRST + 1}i", word, lw + 4 * _CCP_FIRST)
    (pairs,) = struct.unpack_from("<H", word, position)
    blob = position + 2
    if pairs <= _CLX or blob + 8 * pairs > len(word):
        raise Unscannable("corrupt", f"FIB with {pairs} file offsets, or cut short")
    if any(count < 0 for count in ccp):
        raise Unscannable("corrupt", "FIB declares a negative character count")
    clx = struct.unpack_from("<II", word, blob + 8 * _CLX)
    papx = struct.unpack_from("<II", word, blob + 8 * _PLCF_BTE_PAPX)
    table = "1Table" if flags & _F_WHICH_TABLE else "0Table"
    return _Fib(table=table, ccp=tuple(ccp), clx=clx, papx=papx)


def _span(table: bytes, *, at: tuple[int, int], what: str) -> bytes:
    """The bytes of the table stream at an (fc, lcb) pair of the FIB."""
    fc, lcb = at
    if fc + lcb > len(table):
        raise Unscannable(
            "corrupt", f"{what} at {fc:,}+{lcb:,} runs past the table stream ({len(table):,} bytes)"
        )
    return table[fc : fc + lcb]


def _plc_pcd(clx: bytes) -> bytes:
    """The piece table in a Clx, after the property groups (Prc) before it."""
    position = 0
    while True:
        if position >= len(clx):
            raise Unscannable("corrupt", "Clx without a piece table")
        kind = clx[position]
        if kind == 1 and position + 3 <= len(clx):  # Prc: properties of pieces, skipped
            (size,) = struct.unpack_from("<h", clx, position + 1)
            if size < 0:
                raise Unscannable("corrupt", "Clx property group of negative size")
            position += 3 + size
        elif kind == 2 and position + 5 <= len(clx):
            (size,) = struct.unpack_from("<I", clx, position + 1)
            plc = clx[position + 5 : position + 5 + size]
            if len(plc) < size:
                raise Unscannable("corrupt", "piece table runs past the Clx")
            return plc
        else:
            raise Unscannable("corrupt", f"Clx entry of unknown type {kind}")


def _pieces(word: bytes, *, table: bytes, fib: _Fib, problems: list[Unscannable]) -> list[_Piece]:
    """The piece table (Clx, PlcPcd): where each run of characters is stored."""
    plc = _plc_pcd(_span(table, at=fib.clx, what="the piece table (Clx)"))
    if len(plc) < 16 or (len(plc) - 4) % 12:
        raise Unscannable("corrupt", f"piece table of {len(plc)} bytes")
    count = (len(plc) - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}I", plc, 0)
    pieces: list[_Piece] = []
    stored = 0
    past: list[int] = []  # pieces that run past the stream
    for index in range(count):
        start, end = cps[index], cps[index + 1]
        if end < start:
            problems.append(Unscannable("corrupt", f"piece table out of order at piece {index}"))
            break
        _, raw, _ = struct.unpack_from("<HIH", plc, 4 * (count + 1) + 8 * index)
        compressed = bool(raw & 0x40000000)
        fc = (raw & 0x3FFFFFFF) // 2 if compressed else raw & 0x3FFFFFFF
        width = 1 if compressed else 2
        length = end - start
        if fc + length * width > len(word):
            past.append(index)
            length = max(0, (len(word) - fc) // width)
        stored += length * width
        if stored > len(word):
            # Word stores each character once: pieces that reuse the stream's bytes would
            # multiply its text.
            problems.append(
                Unscannable("corrupt", "the pieces hold more text than the WordDocument stream")
            )
            break
        pieces.append(_Piece(cp=start, length=length, fc=fc, compressed=compressed))
    if past:
        which = f"pieces {past[0]} and {len(past) - 1:,} more run" if past[1:] else ""
        which = which or f"piece {past[0]} runs"
        problems.append(Unscannable("corrupt", f"{which} past the end of the WordDocument stream"))
    # Every piece is read whatever the FIB says its stories hold; a piece table shorter than
    # the main text alone has lost pieces.
    if cps[-1] < fib.ccp[0]:
        problems.append(
            Unscannable(
                "corrupt",
                f"the piece table holds {cps[-1]:,} characters, the main text {fib.ccp[0]:,}",
            )
        )
    return pieces


def _paragraphs(
    word: bytes,
    *,
    table: bytes,
    pool: bytes | None,
    fib: _Fib,
    problems: list[Unscannable],
    check: Check,
) -> _Paragraphs:
    """Paragraph runs and their table flags; unreadable ones are a problem (rows are then
    told apart by a guess)."""
    found = _Paragraphs()
    runs: list[_Run] = []
    try:
        plc = _span(table, at=fib.papx, what="paragraph properties (PlcBtePapx)")
        if len(plc) < 12 or (len(plc) - 4) % 8:
            raise Unscannable("corrupt", f"paragraph property table of {len(plc)} bytes")
        count = (len(plc) - 4) // 8
        pages = struct.unpack_from(f"<{count}I", plc, 4 * (count + 1))
        for number, page in enumerate(pages):
            if number % _CHECK_EVERY == 0:
                check()
            runs += _fkp(word, offset=(page & 0x3FFFFF) * _FKP, pool=pool)
    except Unscannable as problem:
        if problem.reason == "limit":
            raise
        problems.append(problem)
    unknown = sum(flags is None for _, _, flags in runs)
    if unknown:
        problems.append(
            Unscannable("corrupt", f"{unknown:,} paragraph properties missing from the Data stream")
        )
    for start, end, flags in sorted(runs, key=lambda run: run[0]):
        if found.ends and start < found.ends[-1]:
            continue  # overlapping runs: the first reading of a position stands
        found.starts.append(start)
        found.ends.append(end)
        found.flags.append(flags)
    return found


def _fkp(word: bytes, *, offset: int, pool: bytes | None) -> list[_Run]:
    """One PapxFkp page: the paragraphs it covers (start, end) and their flags."""
    page = word[offset : offset + _FKP]
    if len(page) < _FKP:
        raise Unscannable("corrupt", "paragraph property page past the WordDocument stream")
    runs = page[_FKP - 1]
    if 4 * (runs + 1) + 13 * runs > _FKP - 1:
        raise Unscannable("corrupt", f"paragraph property page with {runs} runs")
    fcs = struct.unpack_from(f"<{runs + 1}I", page, 0)
    found: list[_Run] = []
    for index in range(runs):
        where = 2 * page[4 * (runs + 1) + 13 * index]
        flags = _papx_flags(page, where=where, pool=pool) if where else _PLAIN
        found.append((fcs[index], fcs[index + 1], flags))
    return found


def _papx_flags(page: bytes, *, where: int, pool: bytes | None) -> _Flags:
    """The table flags of the PapxInFkp at ``where``."""
    if where >= _FKP - 1:
        raise Unscannable("corrupt", "paragraph properties past their page")
    size = page[where]
    if size:
        grpprl = page[where + 1 : where + 2 * size]
    else:
        grpprl = page[where + 2 : where + 2 + 2 * page[where + 1]]
    return _sprm_flags(grpprl[2:], pool=pool)  # after the style index


def _sprm_flags(grpprl: bytes, *, pool: bytes | None) -> _Flags:
    """The table flags in a list of paragraph sprms; properties kept in the Data stream
    (sprmPHugePapx: a wide table row's) are read there, or not known (None)."""
    found: dict[int, int] = {}
    position = 0
    while position + 2 <= len(grpprl):
        (sprm,) = struct.unpack_from("<H", grpprl, position)
        position += 2
        operand = _operand_size(sprm, grpprl=grpprl, position=position)
        if operand is None:
            break
        if sprm == _SPRM_HUGE_PAPX:
            huge = _huge_papx(grpprl[position : position + 4], pool=pool)
            if huge is None:
                return None
            found.update(huge)
        elif sprm in _TABLE_SPRMS:
            value = grpprl[position : position + min(operand, 4)]
            found[sprm] = int.from_bytes(value.ljust(4, b"\0"), "little")
        position += operand
    depth = found.get(_SPRM_ITAP, 1 if found.get(_SPRM_IN_TABLE) else 0)
    return _Para(
        depth=min(depth, 1 << 16) if found.get(_SPRM_IN_TABLE) or depth else 0,
        row_end=bool(found.get(_SPRM_TTP)),
        inner_cell=bool(found.get(_SPRM_INNER_CELL)),
        inner_row_end=bool(found.get(_SPRM_INNER_TTP)),
    )


def _operand_size(sprm: int, *, grpprl: bytes, position: int) -> int | None:
    """The size of a sprm's operand (MS-DOC Sprm.spra), or None when it cannot be told."""
    spra = sprm >> 13
    if spra != 6:
        return _OPERAND_SIZES[spra]
    if position >= len(grpprl):
        return None
    if sprm == _SPRM_DEF_TABLE and position + 2 <= len(grpprl):
        cb: int = struct.unpack_from("<H", grpprl, position)[0]
        return 2 + max(cb - 1, 0)
    if sprm == _SPRM_CHG_TABS and grpprl[position] == 255:
        return None  # a rare shape that needs the tab count; nothing after it is read
    return 1 + grpprl[position]


def _huge_papx(operand: bytes, *, pool: bytes | None) -> dict[int, int] | None:
    """The table sprms of properties kept in the Data stream (a PrcData at the operand's
    offset), or None when they are not there."""
    if pool is None or len(operand) < 4:
        return None
    (offset,) = struct.unpack_from("<I", operand, 0)
    if offset + 2 > len(pool):
        return None
    (length,) = struct.unpack_from("<H", pool, offset)
    grpprl = pool[offset + 2 : offset + 2 + length]
    found: dict[int, int] = {}
    position = 0
    while position + 2 <= len(grpprl):
        (sprm,) = struct.unpack_from("<H", grpprl, position)
        position += 2
        operand_size = _operand_size(sprm, grpprl=grpprl, position=position)
        if operand_size is None:
            break
        if sprm in _TABLE_SPRMS:
            value = grpprl[position : position + min(operand_size, 4)]
            found[sprm] = int.from_bytes(value.ljust(4, b"\0"), "little")
        position += operand_size
    return found


class _WordText:
    """Pieces of text laid out as lines: paragraph marks end lines, cell marks end cells,
    row-end marks end a row (one tab-separated line); the rows of a table nested in a cell
    are lines of their own below the row holding it (as HTML is laid out); field
    instructions are dropped."""

    def __init__(self, paragraphs: _Paragraphs, *, out: Lines) -> None:
        self.paragraphs = paragraphs
        self.out = out
        self.line: list[str] = []  # the paragraph being read
        self.cell: list[str] = []  # the paragraphs of the cell being read
        self.cells: list[str] = []  # the cells of the row being read
        self.inner: list[str] = []  # the cells of a nested table's row being read
        self.below: list[str] = []  # nested rows, written below the row holding them
        self.fields: list[bool] = []  # per open field: still in its instruction
        self.instructions = 0
        self.last_cell = False  # the previous mark was a cell mark (for the guess)

    def render(
        self,
        word: bytes,
        *,
        pieces: list[_Piece],
        cap: int,
        check: Check,
        problems: list[Unscannable],
    ) -> None:
        total = 0
        for number, piece in enumerate(pieces):
            if number % _CHECK_EVERY == 0:
                check()
            length = piece.length
            if total + length > cap:
                problems.append(
                    Unscannable("limit", f"document text longer than {cap:,} characters")
                )
                length = cap - total
            total += length
            if piece.compressed:
                text = word[piece.fc : piece.fc + length].decode("latin-1").translate(_CP1252)
            else:
                text = word[piece.fc : piece.fc + 2 * length].decode("utf-16-le", "replace")
            self._piece(text, piece)
            if total >= cap:
                break
        self._flush_row()
        self._end_line()

    def _piece(self, text: str, piece: _Piece) -> None:
        width = 1 if piece.compressed else 2
        start = 0
        for match in _SPECIAL.finditer(text):
            index = match.start()
            if start < index and not self.instructions:
                self.line.append(text[start:index])
            start = index + 1
            self._special(text[index], piece.fc + width * index)
        if start < len(text) and not self.instructions:
            self.line.append(text[start:])

    def _field(self, char: str) -> None:
        """A field's begin, separator or end: its instruction (before the separator) is not
        shown, its result (after it) is."""
        if char == _FIELD_BEGIN:
            self.fields.append(True)
            self.instructions += 1
        elif char == _FIELD_SEPARATOR:
            if self.fields and self.fields[-1]:
                self.fields[-1] = False
                self.instructions -= 1
        elif self.fields and self.fields.pop():
            self.instructions -= 1

    def _special(self, char: str, fc: int) -> None:
        if char in _FIELD_MARKS:
            self._field(char)
        elif self.instructions:
            return
        elif char == "\r":
            self._paragraph_mark(self.paragraphs.at(fc))
            self.last_cell = False
        elif char == _CELL:
            self._cell_mark(self.paragraphs.at(fc))
        elif char == "\x0b":
            self.line.append(" ")
        elif char == "\x0c":
            self._flush_row()
            self._end_line()
        elif char == "\x1e":
            self.line.append("-")

    def _paragraph_mark(self, flags: _Flags) -> None:
        if flags is None or not flags.depth:
            self._flush_row()
            self._end_line()
        elif flags.inner_row_end:
            self.line.clear()
            self._end_inner_row()
        elif flags.inner_cell:
            self.inner.append(self._take(self.line))
        elif flags.depth > 1:
            self.line.append(" ")  # a paragraph inside a nested table's cell
        else:
            self.cell.append(self._take(self.line))  # a paragraph inside a cell

    def _cell_mark(self, flags: _Flags) -> None:
        # Properties not known: a second mark in a row with nothing between ends it (an empty
        # cell reads the same: that row comes out short).
        guess = self.last_cell and not "".join(self.line)
        if flags.row_end if flags is not None else guess:
            self.line.clear()
            self._flush_row()
            self.last_cell = False
        else:
            self.cell.append(self._take(self.line))
            self.cells.append(" ".join(part for part in self.cell if part))
            self.cell = []
            self.last_cell = True

    @staticmethod
    def _take(parts: list[str]) -> str:
        text = "".join(parts).replace("\t", " ").strip()
        parts.clear()
        return text

    def _end_inner_row(self) -> None:
        if self.inner:
            self.below.append("\t".join(self.inner))
            self.inner = []

    def _flush_row(self) -> None:
        self._end_inner_row()
        if self.cells or self.cell:
            pending = " ".join(part for part in [*self.cell, self._take(self.line)] if part)
            self.cell = []
            if pending:
                self.cells.append(pending)
            self.out.add("\t".join(self.cells))
            self.cells = []
        for line in self.below:
            self.out.add(line)
        self.below = []

    def _end_line(self) -> None:
        line = "".join(self.line).strip(" ")
        self.line.clear()
        if line:
            self.out.add(line)


# --- PowerPoint -------------------------------------------------------------------------------

_CONTAINER: Final = 0xF
_MAX_DEPTH: Final = 64
_TEXT_CHARS: Final = 0x0FA0
_TEXT_BYTES: Final = 0x0FA8
_GROUP: Final = 0xF003  # OfficeArtSpgrContainer: a group of shapes (a table)
_SHAPE: Final = 0xF004  # OfficeArtSpContainer
_CHILD_ANCHOR: Final = 0xF00F
_OLE_STORAGE: Final = 0x1011  # ExOleObjStg
_CRYPT_SESSION: Final = 0x2F14  # CryptSession10Container: an encrypted presentation


@dataclass
class _Frame:
    kind: int
    end: int
    anchor: tuple[int, int] | None = None  # (top, left) of a shape in a group
    texts: list[str] = field(default_factory=list)
    shapes: list[tuple[tuple[int, int] | None, list[str]]] = field(default_factory=list)


def read_ppt(data: bytes, *, cap: int, object_cap: int, max_ratio: float, check: Check) -> Content:
    """The text and embedded OLE objects of a binary PowerPoint presentation. Raises
    Unscannable when the container cannot be read or the presentation is encrypted."""
    content = Content()
    stream, _ = _streams(data, read=_ppt_stream, problems=content.problems)
    out = Lines(cap)
    try:
        _walk(
            stream,
            out=out,
            content=content,
            object_cap=object_cap,
            max_ratio=max_ratio,
            check=check,
        )
    except Unscannable as problem:
        if problem.reason == "encrypted":
            raise
        content.problems.append(problem)
    content.text = out.text
    return content


def _walk(
    stream: bytes,
    *,
    out: Lines,
    content: Content,
    object_cap: int,
    max_ratio: float,
    check: Check,
) -> None:
    """Every record, depth first, with an explicit stack of open containers."""
    stack = [_Frame(kind=0, end=len(stream))]
    numbers = itertools.count(1)  # embedded objects, in file order
    position = 0
    records = 0
    while stack:
        top = stack[-1]
        if position + 8 > top.end:
            if position < top.end:
                content.problems.append(
                    Unscannable("corrupt", f"record header cut short at offset {position:,}")
                )
            position = top.end
            stack.pop()
            _close(top, stack=stack, out=out)
            continue
        records += 1
        if records % _CHECK_EVERY == 0:
            check()
        version_instance, kind, length = struct.unpack_from("<HHI", stream, position)
        body = position + 8
        end = body + length
        if end > top.end:
            content.problems.append(
                Unscannable(
                    "corrupt", f"record {kind:#06x} at {position:,} runs past its container"
                )
            )
            end = top.end
        if kind == _CRYPT_SESSION:
            raise Unscannable("encrypted", "password-protected PowerPoint presentation")
        if version_instance & 0xF == _CONTAINER:
            if len(stack) > _MAX_DEPTH:
                content.problems.append(
                    Unscannable("limit", f"records nested more than {_MAX_DEPTH} deep")
                )
                position = end
                continue
            stack.append(_Frame(kind=kind, end=end))
            position = body
            continue
        _atom(
            kind,
            instance=version_instance >> 4,
            body=stream[body:end],
            stack=stack,
            out=out,
            content=content,
            object_cap=object_cap,
            max_ratio=max_ratio,
            numbers=numbers,
        )
        position = end


def _atom(
    kind: int,
    *,
    instance: int,
    body: bytes,
    stack: list[_Frame],
    out: Lines,
    content: Content,
    object_cap: int,
    max_ratio: float,
    numbers: Iterator[int],
) -> None:
    if kind in (_TEXT_CHARS, _TEXT_BYTES):
        if kind == _TEXT_CHARS:
            text = body[: len(body) & ~1].decode("utf-16-le", "replace")
        else:
            text = body.decode("latin-1")
        shape = next((frame for frame in reversed(stack) if frame.kind == _SHAPE), None)
        if shape is not None:
            shape.texts.append(text)
        else:
            _paragraph_lines(text, out=out)
    elif kind == _CHILD_ANCHOR and len(body) >= 16 and stack[-1].kind == _SHAPE:
        left, top = struct.unpack_from("<ii", body, 0)
        stack[-1].anchor = (top, left)
    elif kind == _OLE_STORAGE:
        number = next(numbers)
        try:
            content.objects.append(
                (f"object {number}", _ole_storage(instance, body, object_cap, max_ratio))
            )
        except Unscannable as problem:
            content.problems.append(
                Unscannable(problem.reason, f"object {number}: {problem.detail}")
            )


def _ole_storage(instance: int, body: bytes, cap: int, max_ratio: float) -> bytes:
    """An embedded object's compound file (ExOleObjStg): stored, or zlib after its size."""
    if instance == 0:
        return body
    if len(body) < 4:
        raise Unscannable("corrupt", "compressed object shorter than its size field")
    (declared,) = struct.unpack_from("<I", body, 0)
    if declared > cap:
        raise Unscannable("limit", f"expands to {declared:,} bytes, over {cap:,}")
    if declared > (1 << 20) and declared > (len(body) - 4) * max_ratio:
        raise Unscannable("limit", f"compression ratio over {max_ratio:g}x")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body[4:], declared + 1)
    except zlib.error as exc:
        raise Unscannable("corrupt", f"compressed object does not inflate ({exc})") from None
    if len(data) != declared:
        raise Unscannable(
            "corrupt", f"object inflates to {len(data):,} bytes, declared {declared:,}"
        )
    return data


def _close(frame: _Frame, *, stack: list[_Frame], out: Lines) -> None:
    """A container ends: a shape hands its text to the group it is in (or writes it), a
    group lays out its shapes."""
    if frame.kind == _SHAPE:
        group = stack[-1] if stack and stack[-1].kind == _GROUP else None
        if group is not None and frame.anchor is not None:
            group.shapes.append((frame.anchor, frame.texts))
        else:
            for text in frame.texts:
                _paragraph_lines(text, out=out)
    elif frame.kind == _GROUP:
        _layout(frame.shapes, out=out)


def _layout(shapes: list[tuple[tuple[int, int] | None, list[str]]], *, out: Lines) -> None:
    """The shapes of a group with text, as rows: shapes sharing a top edge are the cells of
    one line, left to right (a table's cells are shapes of one group)."""
    rows: dict[int, list[tuple[int, str]]] = {}
    for anchor, texts in shapes:
        if anchor is None or not texts:
            continue
        cell = " ".join(" ".join(texts).replace("\t", " ").split())
        rows.setdefault(anchor[0], []).append((anchor[1], cell))
    for top in sorted(rows):
        cells = [cell for _, cell in sorted(rows[top], key=lambda found: found[0])]
        if any(cells):
            out.add("\t".join(cells))


def _paragraph_lines(text: str, *, out: Lines) -> None:
    for line in text.replace("\x0b", " ").split("\r"):
        if line.strip():
            out.add(line.strip(" "))
