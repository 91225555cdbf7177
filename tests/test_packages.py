"""Office packages read as Office reads them: parts found through their relationships wherever
they are, one bad sheet costing that sheet only, embedded objects opened, document text read.

Every shape holding a customer list must be found; its harmless twin (the same shape holding a
product list) must be read without findings; broken shapes are unscannable with a reason."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import openpyxl
import pytest

from dlp_proxy.inspect import Attachment, inspect_file
from tests import packagecraft
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
