"""Office packages read as Office reads them: parts found through their relationships wherever
they are, one bad sheet costing that sheet only, embedded objects opened, document text read.

Every shape holding a customer list must be found; its harmless twin (the same shape holding a
product list) must be read without findings; broken shapes are unscannable with a reason."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import docx
import docx.shared
import olefile
import openpyxl
import pptx
import pytest

from dlp_proxy.inspect import Attachment, inspect_file
from tests import cfb, packagecraft
from tests.builders import HEADER, customers, xlsx_bytes

ROWS = customers(20)
PEOPLE: list[Sequence[object]] = [HEADER, *ROWS]
PRODUCTS: list[Sequence[object]] = [
    ("品番", "品名", "数量", "単価"),
    *[(f"P-{i:05d}", f"部品 {i}", i % 7 + 1, 120 * (i % 9 + 1)) for i in range(20)],
]


def book(*sheets: Sequence[Sequence[object]], chart: bool = False) -> bytes:
    """A workbook written by openpyxl: one sheet per table, optionally a chart sheet first."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    if chart:
        workbook.create_chartsheet("Chart")
    for number, rows in enumerate(sheets, 1):
        sheet = workbook.create_sheet(f"Sheet{number}")
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def summary(attachments: tuple[Attachment, ...]) -> list[tuple[str, str, int, str | None]]:
    return [(a.path, a.type, a.personal_rows, a.unscannable) for a in attachments]


Shape = Callable[[Sequence[Sequence[object]]], bytes]

WORKBOOK_SHAPES: dict[str, Shape] = {
    "parts-at-the-root": lambda rows: packagecraft.relocate(book(rows), "xl/", ""),
    "parts-in-another-folder": lambda rows: packagecraft.relocate(book(rows), "xl/", "Daten/"),
    "backslash-names": lambda rows: packagecraft.rename(
        book(rows), lambda name: name.replace("/", "\\")
    ),
    "upper-case-names": lambda rows: packagecraft.rename(book(rows), str.upper),
    "macro-sheet-and-sheet": lambda rows: packagecraft.macro_sheet(book(rows), rows),
    "chart-sheet": lambda rows: book(rows, chart=True),
    "declares-the-whole-sheet": lambda rows: packagecraft.set_dimension(
        book(rows), "A1:XFD1048576"
    ),
    "one-formatted-cell-at-XFD1048576": lambda rows: packagecraft.far_cell(
        book(rows), "XFD1048576", value=False
    ),
    "one-value-cell-at-XFD1048576": lambda rows: packagecraft.far_cell(
        book(rows), "XFD1048576", value=True
    ),
}


@pytest.mark.parametrize("shape", list(WORKBOOK_SHAPES), ids=list(WORKBOOK_SHAPES))
def test_workbook_shapes_are_read(shape: str) -> None:
    make = WORKBOOK_SHAPES[shape]
    sheets = 2 if shape == "macro-sheet-and-sheet" else 1
    [found] = inspect_file(make(PEOPLE), "list.xlsx")
    assert (found.type, found.status, found.read_as) == ("xlsx", "read", "table"), found.detail
    assert found.personal_rows == sheets * len(ROWS)
    [twin] = inspect_file(make(PRODUCTS), "stock.xlsx")
    assert (twin.status, twin.read_as, twin.personal_rows) == ("read", "table", 0), twin.detail


def _garbage_second_sheet() -> bytes:
    data = book(PEOPLE, PRODUCTS)
    return packagecraft.edit(data, "xl/worksheets/sheet2.xml", lambda xml: xml[: len(xml) // 2])


def _two_main_parts() -> bytes:
    return packagecraft.edit(
        book(PEOPLE),
        "_rels/.rels",
        lambda xml: xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/officeDocument" Target="xl/other.xml"/></Relationships>',
        ),
    )


SHEET_RELS = "xl/_rels/workbook.xml.rels"
SHEET1 = "/xl/worksheets/sheet1.xml"
SHEET2 = "/xl/worksheets/sheet2.xml"

BROKEN: dict[str, tuple[Callable[[], bytes], int, str, str]] = {
    # (file, personal rows still found, reason, words the detail must hold)
    "missing-sheet-part": (
        lambda: packagecraft.retarget(book(PRODUCTS, PEOPLE), SHEET_RELS, SHEET1, "/xl/no.xml"),
        len(ROWS),
        "corrupt",
        "sheet 1 targets xl/no.xml, which is missing",
    ),
    "sheet-outside-the-package": (
        lambda: packagecraft.retarget(book(PEOPLE, PEOPLE), SHEET_RELS, SHEET2, "../../x.xml"),
        len(ROWS),
        "corrupt",
        "sheet 2 targets a path outside the package",
    ),
    "external-sheet": (
        lambda: packagecraft.retarget(
            book(PEOPLE, PEOPLE),
            SHEET_RELS,
            SHEET2,
            'http://example.com/s.xml" TargetMode="External',
        ),
        len(ROWS),
        "corrupt",
        "sheet 2 targets a file outside the package",
    ),
    "unreadable-second-sheet": (_garbage_second_sheet, len(ROWS), "corrupt", "sheet 2"),
    "missing-main-part": (
        lambda: packagecraft.retarget(book(PEOPLE), "_rels/.rels", "xl/workbook.xml", "xl/x.xml"),
        0,
        "corrupt",
        "main part",
    ),
    "no-package-relationships": (
        lambda: packagecraft.write(
            [(n, c) for n, c in packagecraft.members(book(PEOPLE)) if n != "_rels/.rels"]
        ),
        0,
        "corrupt",
        "_rels/.rels",
    ),
    "two-main-parts": (_two_main_parts, 0, "ambiguous", "2 main parts"),
    "two-members-for-one-part": (
        lambda: packagecraft.write(
            [*packagecraft.members(book(PEOPLE)), ("XL/WORKSHEETS/SHEET1.XML", b"<x/>")]
        ),
        0,
        "ambiguous",
        "two zip members",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_packages_are_unscannable_with_the_reason(case: str) -> None:
    make, rows, reason, words = BROKEN[case]
    [found] = inspect_file(make(), "list.xlsx")
    assert (found.status, found.unscannable, found.personal_rows) == ("unscannable", reason, rows)
    assert words in (found.detail or ""), found.detail


def test_a_package_of_an_unknown_kind_is_read_and_unscannable() -> None:
    """A package whose main part is of a content type we do not know: its text goes through
    detection, and since we cannot tell how a program lays it out, it stays unscannable."""
    data = packagecraft.edit(
        xlsx_bytes(ROWS),
        "[Content_Types].xml",
        lambda xml: xml.replace(b"spreadsheetml.sheet.main+xml", b"visio.drawing.main+xml"),
    )
    [found] = inspect_file(data, "list.xlsx")
    assert (found.type, found.read_as, found.unscannable) == ("ooxml", "text", "unsupported")
    assert "visio.drawing.main+xml" in (found.detail or "")


# --- workbooks and documents LibreOffice wrote ------------------------------------------------

LIBREOFFICE = ["far-{}.ods", "far-{}.xlsx", "far-{}.xls", "embedded-{}.odt", "embedded-{}.docx"]
LIBREOFFICE_ROWS = 25  # conftest.office_files


@pytest.mark.parametrize("pattern", LIBREOFFICE, ids=[p.format("list") for p in LIBREOFFICE])
def test_libreoffice_shapes_are_read(office_files: dict[str, bytes], pattern: str) -> None:
    """A list with one cell far away (a million repeated empty rows in ODS), a Calc object
    embedded in a Writer document saved as odt and as docx: the list is found wherever it is,
    every part is read, and the product-list twin gives nothing."""
    found = inspect_file(office_files[pattern.format("people")], "f")
    assert all(a.status == "read" for a in found), summary(found)
    assert sum(a.personal_rows for a in found) == LIBREOFFICE_ROWS, summary(found)
    twin = inspect_file(office_files[pattern.format("products")], "f")
    assert all(a.status == "read" for a in twin), summary(twin)
    assert sum(a.personal_rows for a in twin) == 0
    assert len(twin) == len(found)  # the same parts: an embedded object is a file of its own


def _peak_rss(mode: str, path: str) -> float:
    """Peak resident MiB of a fresh process reading ``path``: calamine alone, or our reader."""
    script = textwrap.dedent(
        f"""
        import io, pathlib
        data = pathlib.Path({path!r}).read_bytes()
        if {mode!r} == "bare":
            import python_calamine
            book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
            for name in book.sheet_names:
                book.get_sheet_by_name(name).to_python()
        else:
            from dlp_proxy.inspect.tables import read_workbook
            assert read_workbook(data)
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                print(int(line.split()[1]) / 1024)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return float(result.stdout)


def test_formulas_far_apart_in_an_xls_cost_little_memory(
    office_files: dict[str, bytes], tmp_path: Path
) -> None:
    """Six formulas in opposite corners of a 30,000 x 256 area: a 6 KB file for which calamine
    alone builds two 7.7-million-cell grids (values and formula texts). Compacted, the file
    costs a small fraction of that."""
    path = tmp_path / "far-formulas.xls"
    path.write_bytes(office_files["far-formulas.xls"])
    assert len(office_files["far-formulas.xls"]) < 32 << 10
    bare, ours = _peak_rss("bare", str(path)), _peak_rss("ours", str(path))
    print(f"peak RSS: calamine alone {bare:.0f} MiB, read_workbook {ours:.0f} MiB")
    assert bare > 300
    assert ours < bare / 4


# --- embedded objects ---------------------------------------------------------------------------


def docx_with(*members: tuple[str, bytes], text: str = "添付をご確認ください。") -> bytes:
    """A python-docx document with extra members (embedded objects) added to its package."""
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return packagecraft.write([*packagecraft.members(out.getvalue()), *members])


def packager_stream(name: str, data: bytes) -> bytes:
    """An \\x01Ole10Native stream as Windows' Packager writes it (MS-OLEDS 2.3.6): a size, then
    the header (label, source path, temporary path) and the file's bytes."""
    path = f"C:\\Users\\me\\{name}".encode("cp932")
    native = (
        b"\x02\x00"
        + name.encode("cp932")
        + b"\x00"
        + path
        + b"\x00\x00\x00\x03\x00"
        + struct.pack("<I", len(path) + 1)
        + path
        + b"\x00"
        + struct.pack("<I", len(data))
        + data
    )
    return struct.pack("<I", len(native)) + native


def _csv(rows: Sequence[Sequence[object]]) -> bytes:
    return "".join(",".join(map(str, row)) + "\r\n" for row in rows).encode()


def _xls_stream(office_files: dict[str, bytes], name: str) -> bytes:
    with olefile.OleFileIO(office_files[name]) as ole:
        return bytes(ole.openstream("Workbook").read())


EMBEDDED: dict[str, Callable[[Sequence[Sequence[object]], dict[str, bytes]], bytes]] = {
    "xlsx-in-xlsx": lambda rows, _: packagecraft.write(
        [
            *packagecraft.members(book(PRODUCTS)),
            ("xl/embeddings/Microsoft_Excel_Worksheet1.xlsx", book(rows)),
        ]
    ),
    "xlsx-in-docx": lambda rows, _: docx_with(
        ("word/embeddings/Microsoft_Excel_Worksheet.xlsx", book(rows))
    ),
    "ole-package-xlsx-in-docx": lambda rows, _: docx_with(
        ("word/embeddings/oleObject1.bin", cfb.compound_file({"Package": book(rows)}))
    ),
    "ole10native-csv-in-docx": lambda rows, _: docx_with(
        (
            "word/embeddings/oleObject1.bin",
            cfb.compound_file({"\x01Ole10Native": packager_stream("顧客.csv", _csv(rows))}),
        )
    ),
    "ole10native-xlsx-in-pptx": lambda rows, _: packagecraft.write(
        [
            *packagecraft.members(slides([("表紙", None)])),
            (
                "ppt/embeddings/oleObject1.bin",
                cfb.compound_file({"\x01Ole10Native": packager_stream("list.xlsx", book(rows))}),
            ),
        ]
    ),
    "workbook-storage-in-ole-object": lambda rows, files: docx_with(
        (
            "word/embeddings/oleObject1.bin",
            cfb.compound_file(
                {
                    "\x01CompObj": b"\x01\x00\xfe\xff",
                    "Book": {
                        "Workbook": _xls_stream(
                            files, "plain.xls" if rows is PEOPLE else "far-products.xls"
                        )
                    },
                }
            ),
        )
    ),
    "xls-with-an-mbd-storage": lambda rows, files: cfb.compound_file(
        {
            "Workbook": _xls_stream(files, "far-products.xls"),
            "MBD0012AB34": {
                "Workbook": _xls_stream(
                    files, "plain.xls" if rows is PEOPLE else "far-products.xls"
                )
            },
        }
    ),
}


@pytest.mark.parametrize("shape", list(EMBEDDED), ids=list(EMBEDDED))
def test_embedded_objects_are_opened(office_files: dict[str, bytes], shape: str) -> None:
    """Each embedded object is a file of its own in the findings, and the list inside it is
    found; with a product list inside, everything is read and nothing found."""
    found = inspect_file(EMBEDDED[shape](PEOPLE, office_files), "outer")
    assert len(found) >= 2, summary(found)
    assert all(a.status == "read" for a in found), summary(found)
    expected = LIBREOFFICE_ROWS if "storage" in shape else len(ROWS)
    assert sum(a.personal_rows for a in found) == expected, summary(found)
    assert found[-1].personal_rows == expected  # the innermost file holds the list
    twin = inspect_file(EMBEDDED[shape](PRODUCTS, office_files), "outer")
    assert [a.status for a in twin] == ["read"] * len(found), summary(twin)
    assert sum(a.personal_rows for a in twin) == 0


def test_an_ole_object_with_nothing_we_know_is_unscannable() -> None:
    data = docx_with(("word/embeddings/oleObject1.bin", cfb.compound_file({"Foo": b"x" * 100})))
    found = {a.path: a for a in inspect_file(data, "r.docx")}
    ole = found["r.docx/word/embeddings/oleObject1.bin"]
    assert (ole.status, ole.unscannable) == ("unscannable", "unsupported")


# --- the text of documents ----------------------------------------------------------------------


def word(rows: Sequence[Sequence[object]], *, where: str) -> bytes:
    """A python-docx document with ``rows`` as a table in the body, in the header, as lines of
    tab-separated text (a mail merge pasted as text), or inside a text box of a table cell."""
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "社外秘"
    document.add_paragraph("お世話になっております。下記の通りです。")
    if where == "tab-lines":
        for row in rows:
            document.add_paragraph("\t".join(map(str, row)))
    else:
        container = document.sections[0].header if where == "header" else document
        table = container.add_table(rows=len(rows), cols=len(rows[0]), **_width(where))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                table.cell(r, c).text = str(value)
    document.add_paragraph("よろしくお願いいたします。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _width(where: str) -> dict[str, object]:
    return {"width": docx.shared.Inches(6)} if where == "header" else {}


def slides(
    items: Sequence[tuple[str, Sequence[Sequence[object]] | None]], notes: str = ""
) -> bytes:
    """A python-pptx presentation: one slide per (title, table or None)."""
    presentation = pptx.Presentation()
    for title, rows in items:
        slide = presentation.slides.add_slide(presentation.slide_layouts[5])
        assert slide.shapes.title is not None
        slide.shapes.title.text = title
        if rows:
            shape = slide.shapes.add_table(len(rows), len(rows[0]), 0, 0, 8_000_000, 4_000_000)
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = str(value)
        if notes:
            slide.notes_slide.notes_text_frame.text = notes  # type: ignore[union-attr]
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


DOCUMENTS: dict[str, tuple[Callable[[Sequence[Sequence[object]]], bytes], str]] = {
    "docx-table": (lambda rows: word(rows, where="body"), "docx"),
    "docx-table-in-header": (lambda rows: word(rows, where="header"), "docx"),
    "docx-tab-separated-lines": (lambda rows: word(rows, where="tab-lines"), "docx"),
    "pptx-table": (lambda rows: slides([("表紙", None), ("顧客", rows)]), "pptx"),
    "pptx-notes": (
        lambda rows: slides(
            [("表紙", None)], notes="\n".join("\t".join(map(str, r)) for r in rows)
        ),
        "pptx",
    ),
}


@pytest.mark.parametrize("shape", list(DOCUMENTS), ids=list(DOCUMENTS))
def test_document_text_is_read(shape: str) -> None:
    make, kind = DOCUMENTS[shape]
    [found] = inspect_file(make(PEOPLE), f"letter.{kind}")
    assert (found.type, found.status, found.read_as) == (kind, "read", "table"), found.detail
    assert found.personal_rows == len(ROWS)
    [twin] = inspect_file(make(PRODUCTS), f"stock.{kind}")
    assert (twin.status, twin.personal_rows) == ("read", 0)


def test_docx_text_boxes_and_fallbacks_are_read_once() -> None:
    """A text box is written twice by Word (DrawingML and a VML fallback): read once."""
    box = "".join(
        f"<w:p><w:r><w:t>{chr(9).join(map(str, row))}</w:t></w:r></w:p>" for row in PEOPLE
    ).replace("\t", "</w:t><w:tab/><w:t>")
    body = (
        '<w:p><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/'
        'markup-compatibility/2006"><mc:Choice Requires="wps"><w:drawing><w:txbxContent>'
        f"{box}</w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent>"
        f"{box}</w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"
    )
    data = packagecraft.edit(
        word([("x",)], where="tab-lines"),
        "word/document.xml",
        lambda xml: xml.replace(b"<w:body>", b"<w:body>" + body.encode()),
    )
    [found] = inspect_file(data, "box.docx")
    assert (found.status, found.personal_rows, found.persons) == ("read", len(ROWS), len(ROWS))


BROKEN_DOCUMENTS: dict[str, tuple[Callable[[], bytes], int, str, str]] = {
    "missing-header-part": (
        lambda: packagecraft.retarget(
            word(PEOPLE, where="body"), "word/_rels/document.xml.rels", "header1.xml", "gone.xml"
        ),
        len(ROWS),
        "corrupt",
        "header part targets word/gone.xml, which is missing",
    ),
    "body-not-xml": (
        lambda: packagecraft.edit(
            word(PEOPLE, where="header"), "word/document.xml", lambda x: x[:500]
        ),
        len(ROWS),
        "corrupt",
        "word/document.xml is not well-formed",
    ),
    "missing-main-part": (
        lambda: packagecraft.retarget(
            word(PEOPLE, where="body"), "_rels/.rels", "word/document.xml", "word/gone.xml"
        ),
        0,
        "corrupt",
        "main part",
    ),
    "missing-slide": (
        lambda: packagecraft.retarget(
            slides([("顧客", PEOPLE), ("b", None)]),
            "ppt/_rels/presentation.xml.rels",
            "slides/slide2.xml",
            "slides/none.xml",
        ),
        len(ROWS),
        "corrupt",
        "slide 2",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_DOCUMENTS), ids=list(BROKEN_DOCUMENTS))
def test_broken_documents_are_unscannable_with_the_reason(case: str) -> None:
    make, rows, reason, words = BROKEN_DOCUMENTS[case]
    [found] = inspect_file(make(), "broken")
    assert (found.status, found.unscannable, found.personal_rows) == ("unscannable", reason, rows)
    assert words in (found.detail or ""), found.detail


@pytest.mark.parametrize("depth", [1, 2], ids=["in-a-layout-table", "two-layout-tables"])
def test_a_table_nested_in_a_docx_table_is_read_row_by_row(depth: int) -> None:
    """A list laid out inside another table's cell: its rows are lines of their own, so the
    list is counted (its rows used to be joined into the one outer cell, and it passed)."""
    people = [HEADER, *customers(20)]
    prices = [
        ("品番", "品名", "単価", "在庫数"),
        *((f"P-{i}", f"部品{i}", "100", "3") for i in range(20)),
    ]
    counts = []
    for rows in (people, prices):
        document = docx.Document()
        cell = document.add_table(rows=1, cols=2).cell(0, 1)
        for _ in range(depth - 1):
            cell = cell.add_table(rows=1, cols=1).cell(0, 0)
        table = cell.add_table(rows=len(rows), cols=4)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        out = io.BytesIO()
        document.save(out)
        [found] = inspect_file(out.getvalue(), "letter.docx")
        counts.append((found.status, found.personal_rows))
    assert counts == [("read", 20), ("read", 0)]
