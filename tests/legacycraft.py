"""Sources for binary Word and PowerPoint 97-2003 fixtures, and .doc files written by hand.

LibreOffice writes the real files (``conftest.office_files``) from the flat ODT documents made
here: a letter holding a table where Word keeps text (the body, a header, a footnote, a text
box). ``word97`` writes small .doc files from the specification (MS-DOC: a FIB, a piece table,
paragraph properties), ``powerpoint97`` small .ppt files (MS-PPT records), for shapes no
program writes: damaged, hostile or unusual ones.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import pptx

from tests import cfb

Rows = Sequence[Sequence[object]]

_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink"'
)
# Where a letter's list goes: a table in the body, in the page header or nested in a cell of
# a layout table, tab-separated lines in a footnote or in a text box.
PLACES = ("body", "header", "nested", "footnote", "text-box")
WIDE = 60  # extra columns of the wide table: its row properties go to the Data stream
LINK = "https://example.com/private/price-list"
LINK_TEXT = "価格表はこちら"
NOTES = "次回の打ち合わせは来週の火曜日です。"


def _table(rows: Rows, *, name: str = "List") -> str:
    def cell(value: object) -> str:
        return (
            '<table:table-cell office:value-type="string">'
            f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
        )

    body = "".join(
        f"<table:table-row>{''.join(cell(value) for value in row)}</table:table-row>"
        for row in rows
    )
    columns = len(rows[0])
    return (
        f'<table:table table:name="{name}">'
        f'<table:table-column table:number-columns-repeated="{columns}"/>{body}</table:table>'
    )


def _tab_lines(rows: Rows) -> str:
    return "".join(
        "<text:p>" + "<text:tab/>".join(escape(str(value)) for value in row) + "</text:p>"
        for row in rows
    )


def widen(rows: Rows) -> list[list[str]]:
    """``rows`` with ``WIDE`` more columns (a heading, then numbers)."""
    head, *rest = rows
    return [
        [*map(str, head), *(f"項目{i}" for i in range(WIDE))],
        *([*map(str, row), *(str(i) for i in range(WIDE))] for row in rest),
    ]


def letter_fodt(rows: Rows | None, *, place: str = "body") -> str:
    """A Writer letter (flat ODT): a greeting with a hyperlink (a field in a .doc), the list
    in ``place`` (none for a plain letter), a closing line; a page header says 社外秘."""
    header = "<text:p>社外秘</text:p>"
    note = ""
    box = ""
    table = ""
    if rows is not None and place == "header":
        header += _table(rows)
    elif rows is not None and place == "footnote":
        note = (
            '<text:note text:id="n1" text:note-class="footnote"><text:note-citation>1'
            f"</text:note-citation><text:note-body>{_tab_lines(rows)}</text:note-body></text:note>"
        )
    elif rows is not None and place == "text-box":
        box = (
            '<draw:frame draw:name="Box" text:anchor-type="paragraph" svg:width="16cm" '
            f'svg:height="12cm"><draw:text-box>{_tab_lines(rows)}</draw:text-box></draw:frame>'
        )
    elif rows is not None and place == "nested":
        table = (
            '<table:table table:name="Layout"><table:table-column '
            'table:number-columns-repeated="2"/><table:table-row><table:table-cell '
            'office:value-type="string"><text:p>添付資料</text:p></table:table-cell>'
            '<table:table-cell office:value-type="string"><text:p>次の通り:</text:p>'
            f"{_table(rows, name='Nested')}<text:p>以上</text:p></table:table-cell>"
            "</table:table-row></table:table>"
        )
    elif rows is not None:
        table = _table(rows)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {_NAMESPACES} '
        'office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">'
        '<office:automatic-styles><style:page-layout style:name="pm1">'
        '<style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm"/>'
        "<style:header-style/></style:page-layout>"
        "</office:automatic-styles><office:master-styles>"
        '<style:master-page style:name="Standard" style:page-layout-name="pm1">'
        f"<style:header>{header}</style:header></style:master-page></office:master-styles>"
        "<office:body><office:text>"
        f"<text:p>いつもお世話になっております。{box}"
        f'<text:a xlink:type="simple" xlink:href="{LINK}">{LINK_TEXT}</text:a>{note}</text:p>'
        f"{table}<text:p>よろしくお願いいたします。</text:p>"
        "</office:text></office:body></office:document>"
    )


# --- .doc written by hand (MS-DOC) -----------------------------------------------------------

_CSW, _CSLW, _PAIRS = 14, 22, 93
_FIB_SIZE = 32 + 2 + 2 * _CSW + 2 + 4 * _CSLW + 2 + 8 * _PAIRS + 2
TEXT_AT = 0x800


@dataclass(frozen=True)
class Piece:
    """A run of characters: UTF-16 unless ``compressed`` (8-bit, Windows-1252)."""

    text: str
    compressed: bool = False


def word97(
    pieces: Sequence[Piece],
    *,
    ccp_text: int | None = None,
    ccp_hdd: int = 0,
    row_ends: Sequence[int] = (),
    in_table: Sequence[int] = (),
    encrypted: bool = False,
    table_stream: str = "1Table",
    extra: cfb.Tree | None = None,
    papx: bool = True,
    repeat: int = 1,
    as_file: bool = True,
) -> Any:
    """A .doc whose text is ``pieces``, in the order given. ``row_ends`` and ``in_table``
    are character positions of paragraph marks that end a table row (TTP) or close a
    paragraph inside a table; ``ccp_text`` the main text's length (all of it by default),
    ``ccp_hdd`` the header story's (after the main text). ``papx`` False leaves out the
    paragraph properties; ``repeat`` lists the pieces that many times in the piece table, all
    pointing at the same stored text (no program writes that). ``as_file`` False returns the
    storage tree instead (to embed it in another one)."""
    stored = bytearray()
    placed: list[tuple[int, bool]] = []
    for piece in pieces:
        placed.append((TEXT_AT + len(stored), piece.compressed))
        stored += piece.text.encode("cp1252" if piece.compressed else "utf-16-le")
    text_end = TEXT_AT + len(stored)
    fkp_at = -(-text_end // 512) * 512
    total = sum(len(piece.text) for piece in pieces)
    cps = [0]
    for piece in pieces:
        cps.append(cps[-1] + len(piece.text))

    def fc_of(cp: int) -> tuple[int, int]:
        for index in range(len(pieces)):
            if cps[index] <= cp < cps[index + 1]:
                at, compressed = placed[index]
                width = 1 if compressed else 2
                return at + (cp - cps[index]) * width, width
        raise ValueError(cp)

    marks = [
        (*fc_of(cp), "ttp" if cp in row_ends else "in") for cp in sorted({*row_ends, *in_table})
    ]
    pages = _fkps(text_end, marks=marks)
    table = bytearray()
    listed = [cps[-1] * copy + cp for copy in range(repeat) for cp in cps[: len(pieces)]] + [
        cps[-1] * repeat
    ]
    plc_pcd = struct.pack(f"<{len(listed)}I", *listed) + b"".join(
        struct.pack("<HIH", 0, (at * 2) | 0x40000000 if compressed else at, 0)
        for at, compressed in placed * repeat
    )
    clx_at = len(table)
    table += b"\x02" + struct.pack("<I", len(plc_pcd)) + plc_pcd
    clx_size = len(table) - clx_at
    papx_at = len(table)
    starts = [first for first, _ in pages]
    table += struct.pack(f"<{len(pages) + 1}I", *starts, text_end)
    table += struct.pack(f"<{len(pages)}I", *range(fkp_at // 512, fkp_at // 512 + len(pages)))
    papx_size = len(table) - papx_at
    fib = _fib(
        ccp_text=total - ccp_hdd if ccp_text is None else ccp_text,
        ccp_hdd=ccp_hdd,
        clx=(clx_at, clx_size),
        papx=(papx_at, papx_size) if papx else (0, 0),
        flags=(0x0200 if table_stream == "1Table" else 0) | (0x0100 if encrypted else 0),
    )
    word = fib.ljust(TEXT_AT, b"\0") + stored
    word = word.ljust(fkp_at, b"\0") + b"".join(page for _, page in pages)
    tree: dict[str, bytes | cfb.Tree] = {
        "WordDocument": bytes(word),
        table_stream: bytes(table),
    }
    tree.update(extra or {})
    return cfb.compound_file(tree) if as_file else tree


def _fib(
    *, ccp_text: int, ccp_hdd: int, clx: tuple[int, int], papx: tuple[int, int], flags: int
) -> bytes:
    base = struct.pack("<HHHHHH", 0xA5EC, 0x00C1, 0, 0x0411, 0, flags).ljust(32, b"\0")
    lw = [0] * _CSLW
    lw[3], lw[5] = ccp_text, ccp_hdd
    pairs = [(0, 0)] * _PAIRS
    pairs[33], pairs[13] = clx, papx
    return (
        base
        + struct.pack("<H", _CSW)
        + bytes(2 * _CSW)
        + struct.pack("<H", _CSLW)
        + struct.pack(f"<{_CSLW}i", *lw)
        + struct.pack("<H", _PAIRS)
        + b"".join(struct.pack("<II", fc, lcb) for fc, lcb in pairs)
        + struct.pack("<H", 0)
    )


def _fkps(text_end: int, *, marks: Sequence[tuple[int, int, str]]) -> list[tuple[int, bytes]]:
    """PapxFkp pages (first position, page): a run per marked paragraph (ending after its
    mark), plain runs between them, at most 20 runs a page."""
    edges = [TEXT_AT]
    kinds: list[str | None] = []
    for fc, width, kind in marks:
        if fc > edges[-1]:
            edges.append(fc)
            kinds.append(None)
        edges.append(fc + width)
        kinds.append(kind)
    if edges[-1] < text_end:
        edges.append(text_end)
        kinds.append(None)
    return [
        (edges[first], _fkp(edges[first : first + 21], kinds[first : first + 20]))
        for first in range(0, len(kinds), 20)
    ]


def _fkp(edges: Sequence[int], kinds: Sequence[str | None]) -> bytes:
    page = bytearray(512)
    runs = len(kinds)
    struct.pack_into(f"<{runs + 1}I", page, 0, *edges)
    properties = {
        "in": struct.pack("<HHB", 0, 0x2416, 1),
        "ttp": struct.pack("<HHBHB", 0, 0x2416, 1, 0x2417, 1),
    }
    free = 510
    offsets = {}
    for kind, grpprl in properties.items():
        # cb and 2*cb-1 bytes, or 0, cb' and 2*cb' bytes
        odd = len(grpprl) % 2
        head = bytes(((len(grpprl) + 1) // 2,)) if odd else bytes((0, len(grpprl) // 2))
        free -= len(head) + len(grpprl)
        free -= free % 2
        page[free : free + len(head) + len(grpprl)] = head + grpprl
        offsets[kind] = free // 2
    bx = 4 * (runs + 1)
    for index, kind in enumerate(kinds):
        page[bx + 13 * index] = offsets[kind] if kind else 0
    page[511] = runs
    return bytes(page)


def presentation(rows: Rows, *, notes: str = "") -> bytes:
    """A python-pptx presentation: a title slide, then a slide holding ``rows`` as a table
    (with ``notes`` as its speaker notes)."""
    deck = pptx.Presentation()
    cover = deck.slides.add_slide(deck.slide_layouts[5])
    assert cover.shapes.title is not None
    cover.shapes.title.text = "ご提案"
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    assert slide.shapes.title is not None
    slide.shapes.title.text = "一覧"
    shape = slide.shapes.add_table(len(rows), len(rows[0]), 0, 0, 8_000_000, 4_000_000)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = str(value)
    if notes:
        slide.notes_slide.notes_text_frame.text = notes  # type: ignore[union-attr]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def word97_table(
    rows: Rows, *, intro: str = "Dear customer,\r", empty_cells: bool = False, extra: Any = None
) -> bytes:
    """A .doc letter holding ``rows`` as a Word table: each cell ends with a cell mark, each
    row with a row-end mark (TTP, in the paragraph properties); with ``empty_cells`` every row
    gets an empty last cell (two marks in a row that are not a row's end)."""
    opening = Piece(intro, compressed=intro.isascii())
    text = ""
    ends: list[int] = []
    for row in rows:
        cells = [*map(str, row), ""] if empty_cells else list(map(str, row))
        text += "".join(f"{cell}\x07" for cell in cells)
        ends.append(len(opening.text) + len(text))
        text += "\x07"
    closing = Piece("Regards\r", compressed=True)
    return word97([opening, Piece(text), closing], row_ends=ends, extra=extra)


# --- .ppt written by hand (MS-PPT) -----------------------------------------------------------


def ppt_record(kind: int, body: bytes, *, container: bool = False, instance: int = 0) -> bytes:
    """One record: recVer (0xF for a container), recInstance, recType, recLen, its body."""
    version = 0xF if container else 0
    return struct.pack("<HHI", version | instance << 4, kind, len(body)) + body


def ppt_text(*lines: str) -> bytes:
    """TextCharsAtom records (UTF-16), one per line."""
    return b"".join(ppt_record(0x0FA0, line.encode("utf-16-le")) for line in lines)


def powerpoint97(
    rows: Rows, *, outline: str = "Agenda\rPrices", objects: Sequence[bytes] = ()
) -> bytes:
    """A .ppt: outline text (a TextBytesAtom in a SlideListWithText), a slide holding ``rows``
    as a table (a group of shapes, one per cell, each with a child anchor and its text), and
    each of ``objects`` as a compressed embedded OLE object (ExOleObjStg)."""

    def shape(top: int, left: int, text: str) -> bytes:
        anchor = ppt_record(0xF00F, struct.pack("<4i", left, top, left + 100, top + 20))
        box = ppt_record(0xF00D, ppt_text(text), container=True)
        return ppt_record(0xF004, anchor + box, container=True)

    cells = b"".join(
        shape(20 * r, 100 * c, str(value))
        for r, row in enumerate(rows)
        for c, value in enumerate(row)
    )
    listing = ppt_record(0x0FF0, ppt_record(0x0FA8, outline.encode("latin-1")), container=True)
    stream = ppt_record(0x03E8, listing, container=True)
    drawing = ppt_record(0xF002, ppt_record(0xF003, cells, container=True), container=True)
    stream += ppt_record(0x03EE, ppt_record(0x040C, drawing, container=True), container=True)
    for inner in objects:
        stream += ppt_record(
            0x1011, struct.pack("<I", len(inner)) + zlib.compress(inner), instance=1
        )
    return cfb.compound_file({"PowerPoint Document": stream, "Current User": bytes(20)})
