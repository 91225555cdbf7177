"""Reshape real Office packages (written by openpyxl, python-docx...) the ways other writers do:
parts moved out of xl/, backslash or upper-case member names, macro and chart sheets, broken
relationships. Each function takes the bytes of a package and returns new bytes."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Sequence

import openpyxl

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XM_NS = "http://schemas.microsoft.com/office/excel/2006/main"
MACROSHEET_REL = "http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet"


def members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def write(parts: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts:
            info = zipfile.ZipInfo(name, date_time=(2024, 4, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return out.getvalue()


def edit(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    return write([(n, change(c) if n == name else c) for n, c in members(data)])


def relocate(data: bytes, old: str, new: str) -> bytes:
    """Move every part under folder ``old`` (``xl/``) to ``new`` (``""``: the package root),
    rewriting the relationships and content types that name them."""

    def moved(text: bytes) -> bytes:
        for quote in (b'"/', b'"'):
            text = text.replace(quote + old.encode(), quote + new.encode())
        return text

    return write(
        [
            (
                new + name[len(old) :] if name.startswith(old) else name,
                moved(content) if name.endswith((".rels", ".xml")) else content,
            )
            for name, content in members(data)
        ]
    )


def rename(data: bytes, change: Callable[[str], str]) -> bytes:
    """Every member renamed (relationships and content types left as they are)."""
    return write([(change(name), content) for name, content in members(data)])


def add_sheet(
    data: bytes,
    *,
    part: str,
    relationship: str,
    content_type: str,
    xml: bytes,
    name: str,
) -> bytes:
    """Add a sheet part with its relationship, content type and <sheet> entry."""
    parts = dict(members(data))
    rels = parts["xl/_rels/workbook.xml.rels"]
    rid = f"rIdAdded{rels.count(b'<Relationship ')}"
    added = f'<Relationship Id="{rid}" Type="{relationship}" Target="/{part}"/>'
    parts["xl/_rels/workbook.xml.rels"] = rels.replace(
        b"</Relationships>", added.encode() + b"</Relationships>"
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>'.encode()
    )
    count = parts["xl/workbook.xml"].count(b"<sheet ")
    entry = (
        f'<sheet xmlns:r="{REL_NS}" name="{name}" sheetId="{count + 10}" r:id="{rid}"/></sheets>'
    )
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"</sheets>", entry.encode())
    parts[part] = xml
    return write(list(parts.items()))


def macro_sheet(data: bytes, rows: Sequence[Sequence[object]], *, name: str = "Macro1") -> bytes:
    """Add an Excel 4.0 macro sheet (xl/macrosheets/) holding ``rows``: the cells of a sheet
    openpyxl wrote, under Excel's <xm:macrosheet> root."""
    sheet = sheet_xml(rows)
    start = sheet.index(b"<sheetData")
    end = sheet.index(b"</worksheet>")
    xml = (
        (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<xm:macrosheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}" xmlns:xm="{XM_NS}">'
        ).encode()
        + sheet[start:end]
        + b"</xm:macrosheet>"
    )
    return add_sheet(
        data,
        part="xl/macrosheets/sheet1.xml",
        relationship=MACROSHEET_REL,
        content_type="application/vnd.ms-excel.macrosheet+xml",
        xml=xml,
        name=name,
    )


def sheet_xml(rows: Sequence[Sequence[object]]) -> bytes:
    """The worksheet part openpyxl writes for ``rows``."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return dict(members(out.getvalue()))["xl/worksheets/sheet1.xml"]


def set_dimension(data: bytes, ref: str, *, part: str = "xl/worksheets/sheet1.xml") -> bytes:
    """Declare ``ref`` as the sheet's dimension (openpyxl writes the real one)."""
    return edit(
        data,
        part,
        lambda xml: re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), xml),
    )


def far_cell(
    data: bytes, ref: str, *, value: bool, part: str = "xl/worksheets/sheet1.xml"
) -> bytes:
    """One more cell at ``ref`` (a row of its own after the others): a value, or only a style."""
    row = int(re.sub(r"[A-Z]", "", ref))
    cell = (
        f'<c r="{ref}" t="inlineStr"><is><t>end</t></is></c>' if value else f'<c r="{ref}" s="1"/>'
    )
    return edit(
        data,
        part,
        lambda xml: xml.replace(
            b"</sheetData>", f'<row r="{row}">{cell}</row></sheetData>'.encode()
        ),
    )


def retarget(data: bytes, rels: str, old: str, new: str) -> bytes:
    """Point a relationship target somewhere else (a missing part, outside the package)."""
    return edit(
        data, rels, lambda xml: xml.replace(f'Target="{old}"'.encode(), f'Target="{new}"'.encode())
    )
