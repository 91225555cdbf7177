"""Hostile and broken files for the readers: each must end in an Unscannable or a finding."""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import msoffcrypto
import olefile
import openpyxl

MAIN_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
XML_HEAD = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def small_xlsx(rows: int = 20) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["氏名", "電話番号", "メールアドレス"])
    for i in range(rows):
        sheet.append([_name(i), f"090-1234-{i:04d}", f"taro{i}@example.jp"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def replace_members(xlsx: bytes, replacements: dict[str, bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replacements.get(info.filename, source.read(info)))
        for name, data in replacements.items():
            if name not in source.namelist():
                target.writestr(name, data)
    return out.getvalue()


def sheet_xml(body: bytes, prolog: bytes = b"") -> bytes:
    return (
        XML_HEAD
        + prolog
        + b"<worksheet "
        + MAIN_NS
        + b"><sheetData>"
        + body
        + b"</sheetData></worksheet>"
    )


def inline(ref: str, text: str = "x") -> bytes:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def truncated() -> bytes:
    data = small_xlsx()
    return data[: len(data) // 2]


def damaged_deflate() -> bytes:
    """Bytes inside the compressed sheet flipped: the zip directory is intact."""
    data = bytearray(small_xlsx(400))
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 40, start + min(info.compress_size, 400), 7):
        data[i] ^= 0x5A
    return bytes(data)


def not_xml_sheet() -> bytes:
    return replace_members(
        small_xlsx(), {"xl/worksheets/sheet1.xml": b"\x00\x01garbage<<<>>>" * 50}
    )


def billion_laughs() -> bytes:
    entities = b'<!ENTITY lol "lol">'
    for level in range(1, 10):
        refs = b"".join(f"&lol{'' if level == 1 else level - 1};".encode() for _ in range(10))
        entities += f'<!ENTITY lol{level} "'.encode() + refs + b'">'
    prolog = b"<!DOCTYPE worksheet [" + entities + b"]>"
    body = b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(body, prolog)})


def far_cell() -> bytes:
    """Two cells, A1 and XFD1048576: calamine would allocate 17 billion cells and abort."""
    body = (
        b'<row r="1">'
        + inline("A1")
        + b'</row><row r="1048576">'
        + inline("XFD1048576")
        + b"</row>"
    )
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(body)})


def implicit_columns(cells: int = 20_000) -> bytes:
    """A row at 90,000 whose cells carry no reference: calamine places them one after the
    other, 20,000 columns wide, and aborts allocating 90,000 x 20,000 cells unguarded."""
    body = (
        b'<row r="1">'
        + inline("A1")
        + b'</row><row r="90000">'
        + b'<c t="inlineStr"><is><t>x</t></is></c>' * cells
        + b"</row>"
    )
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(body)})


def diagonal(cells: int = 3000) -> bytes:
    """One cell in each row and column down a diagonal: few cells, but even compacted they
    span 3,000 × 3,000 = 9 million cells (over the limit)."""
    body = b"".join(
        f'<row r="{i}">'.encode() + inline(f"{_letters(i)}{i}") + b"</row>"
        for i in range(1, cells + 1)
    )
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(body)})


def wide_and_tall() -> bytes:
    body = (
        b'<row r="1">'
        + inline("A1")
        + inline("XFD1")
        + b'</row><row r="3000">'
        + inline("A3000")
        + b"</row>"
    )
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(body)})


def shared_strings_count() -> bytes:
    """A shared-string table declaring four billion entries (calamine preallocates them)."""
    data = small_xlsx()
    source = zipfile.ZipFile(io.BytesIO(data))
    types = source.read("[Content_Types].xml").replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    rels = source.read("xl/_rels/workbook.xml.rels").replace(
        b"</Relationships>",
        b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
    )
    sst = (
        XML_HEAD
        + b"<sst "
        + MAIN_NS
        + b' count="4000000000" uniqueCount="4000000000"><si><t>a</t></si></sst>'
    )
    body = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    return replace_members(
        data,
        {
            "xl/worksheets/sheet1.xml": sheet_xml(body),
            "xl/sharedStrings.xml": sst,
            "[Content_Types].xml": types,
            "xl/_rels/workbook.xml.rels": rels,
        },
    )


def inflating_sheet(size: int) -> bytes:
    """A sheet whose XML inflates to ``size`` bytes of padding (a zip bomb in small)."""
    padding = b"<!--" + b"0" * size + b"-->"
    body = b'<row r="1">' + inline("A1") + b"</row>" + padding
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(body)})


def ods_content(body: str) -> bytes:
    """The content.xml of a one-table spreadsheet whose table holds ``body``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="S1">'
        f"{body}</table:table></office:spreadsheet></office:body></office:document-content>"
    ).encode()


def ods(body: str) -> bytes:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="S1">'
        f"{body}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


ODS_CELL = '<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'


def ods_repeat_bomb() -> bytes:
    """One written cell with a value repeated 60,000 rows × 1,000 columns: 60 million cells
    really present, which calamine would expand."""
    cell = ODS_CELL.replace(
        "<table:table-cell ", '<table:table-cell table:number-columns-repeated="1000" '
    )
    return ods(f'<table:table-row table:number-rows-repeated="60000">{cell}</table:table-row>')


def ods_sparse_repeats() -> bytes:
    """One written cell, 60,000 empty rows × 1,000 empty columns, one more cell: two cells
    really present (read once the empty rows and columns between them are shrunk)."""
    return ods(
        f"<table:table-row>{ODS_CELL}</table:table-row>"
        '<table:table-row table:number-rows-repeated="60000">'
        '<table:table-cell table:number-columns-repeated="1000"/></table:table-row>'
        '<table:table-row><table:table-cell table:number-columns-repeated="1000"/>'
        f"{ODS_CELL}</table:table-row>"
    )


def ods_trailing_empty_rows() -> bytes:
    """What LibreOffice writes after the data: a million empty rows, harmless."""
    rows = "".join(
        "<table:table-row>"
        + ODS_CELL.replace("x", name)
        + ODS_CELL.replace("x", phone)
        + "</table:table-row>"
        for name, phone in (
            ("氏名", "電話"),
            ("山田 太郎", "090-1234-5678"),
            ("鈴木 花子", "080-1111-2222"),
        )
    )
    return ods(
        rows + '<table:table-row table:number-rows-repeated="1048573">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
    )


def encrypted_xlsx() -> bytes:
    out = io.BytesIO()
    msoffcrypto.OfficeFile(io.BytesIO(small_xlsx())).encrypt("secret", out)
    return out.getvalue()


def lying_member_size(hidden: int = 64 << 20) -> bytes:
    """Shared strings that declare 1,000 bytes but inflate to ``hidden`` (a zip bomb in disguise).

    We pass members other than worksheets through without inflating them, because calamine
    reads no more than a member declares; this file checks that it still does.
    """
    data = shared_strings_count()
    head = XML_HEAD + b"<sst " + MAIN_NS + b' count="1" uniqueCount="1"><si><t>a</t></si><!--'
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for info in source.infolist():
            if info.filename != "xl/sharedStrings.xml":
                target.writestr(info.filename, source.read(info))
                continue
            with target.open(info.filename, "w") as sink:
                sink.write(head)
                block = b"0" * (16 << 20)
                for _ in range(hidden // len(block)):
                    sink.write(block)
                sink.write(b"--></sst>")
    patched = bytearray(out.getvalue())
    name = b"xl/sharedStrings.xml"
    position = 0
    while (position := patched.find(b"PK\x03\x04", position)) >= 0:
        length = struct.unpack_from("<H", patched, position + 26)[0]
        if patched[position + 30 : position + 30 + length] == name:
            struct.pack_into("<I", patched, position + 22, 1000)
        position += 4
    position = 0
    while (position := patched.find(b"PK\x01\x02", position)) >= 0:
        length = struct.unpack_from("<H", patched, position + 28)[0]
        if patched[position + 46 : position + 46 + length] == name:
            struct.pack_into("<I", patched, position + 24, 1000)
        position += 4
    return bytes(patched)


# --- xlsb, written record by record (MS-XLSB); LibreOffice cannot write it -------------------


def _record(kind: int, body: bytes = b"") -> bytes:
    head = bytearray([(kind & 0x7F) | (0x80 if kind > 0x7F else 0)])
    if kind > 0x7F:
        head.append(kind >> 7)
    size = len(body)
    while True:
        byte, size = size & 0x7F, size >> 7
        head.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(head) + body


def _wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def xlsb(sheets: list[tuple[str, int, list[tuple[int, list[tuple[int, str]]]]]]) -> bytes:
    """An xlsb workbook: sheets of (name, hidden state 0/1/2, [(row, [(column, text)])])."""
    bundles = b"".join(
        _record(0x9C, struct.pack("<II", state, i + 1) + _wide(f"rId{i + 1}") + _wide(name))
        for i, (name, state, _) in enumerate(sheets)
    )
    workbook = _record(0x83) + _record(0x8F) + bundles + _record(0x90) + _record(0x84)
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
        f'2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.bin"/>'
        for i in range(len(sheets))
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="bin" ContentType="application/'
            'vnd.ms-excel.sheet.binary.macroEnabled.main"/><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.bin"/></Relationships>',
        )
        archive.writestr("xl/workbook.bin", workbook)
        archive.writestr(
            "xl/_rels/workbook.bin.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships">{rels}</Relationships>',
        )
        for i, (_, _, rows) in enumerate(sheets):
            body = _record(0x81) + _record(0x94, bytes(16)) + _record(0x91)
            for row, cells in rows:
                body += _record(0x00, struct.pack("<IIHHBI", row, 0, 300, 0, 0, 0))
                for column, text in cells:
                    body += _record(0x06, struct.pack("<I", column) + bytes(4) + _wide(text))
            body += _record(0x92) + _record(0x82)
            archive.writestr(f"xl/worksheets/sheet{i + 1}.bin", body)
    return out.getvalue()


def xlsb_far_cell() -> bytes:
    return xlsb([("S", 0, [(0, [(0, "x")]), (1_048_575, [(16_383, "y")])])])


def xlsb_huge_column() -> bytes:
    """xlsb columns are 32-bit and calamine does not bound them."""
    return xlsb([("S", 0, [(0, [(0, "x"), (4_000_000_000, "y")])])])


# --- xls: patch the BIFF records of a file LibreOffice wrote ---------------------------------


def patch_xls(xls: bytes, patch: Callable[[bytearray, int, int, int], bool]) -> bytes:
    """Apply ``patch(stream, kind, body, size)`` to the BIFF records (same stream size)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "book.xls"
        path.write_bytes(xls)
        with olefile.OleFileIO(str(path), write_mode=True) as container:
            stream = bytearray(container.openstream("Workbook").read())
            position = 0
            while position + 4 <= len(stream):
                kind, size = struct.unpack_from("<HH", stream, position)
                if patch(stream, kind, position + 4, size):
                    break
                position += 4 + size
            container.write_stream("Workbook", bytes(stream))
        return path.read_bytes()


def xls_far_cell(xls: bytes) -> bytes:
    """One LabelSst cell moved to row 65,000, column 65,535 (what our fuzzing found)."""

    def far(stream: bytearray, kind: int, body: int, size: int) -> bool:
        if kind != 0x00FD:
            return False
        struct.pack_into("<HH", stream, body, 65_000, 65_535)
        return True

    return patch_xls(xls, far)


def xls_sst_count(xls: bytes) -> bytes:
    def count(stream: bytearray, kind: int, body: int, size: int) -> bool:
        if kind != 0x00FC:
            return False
        struct.pack_into("<i", stream, body + 4, 0x7FFFFFFF)
        return True

    return patch_xls(xls, count)


def xls_inverted_dimensions(xls: bytes) -> bytes:
    """A DIMENSIONS record whose last row comes before its first: calamine would underflow."""

    def invert(stream: bytearray, kind: int, body: int, size: int) -> bool:
        if kind != 0x0200 or size != 14:
            return False
        struct.pack_into("<II", stream, body, 5000, 10)
        return True

    return patch_xls(xls, invert)


def xls_huge_dimensions(xls: bytes) -> bytes:
    """DIMENSIONS declaring all 65,536 rows and 256 columns (calamine reserves them)."""

    def whole(stream: bytearray, kind: int, body: int, size: int) -> bool:
        if kind != 0x0200 or size != 14:
            return False
        struct.pack_into("<IIHH", stream, body, 0, 65_536, 0, 256)
        return True

    return patch_xls(xls, whole)


def long_sheet(rows: int, far_at: int | None = None) -> bytes:
    """``rows`` rows of a name and a phone (written as XML, fast); optionally one cell in
    column XFD at row ``far_at``, somewhere in the middle where only a full search finds it."""
    parts = [b'<row r="1">' + inline("A1", "氏名") + inline("B1", "電話番号") + b"</row>"]
    for i in range(2, rows + 2):
        cells = inline(f"A{i}", _name(i)) + inline(f"B{i}", f"090-{i // 10000:04d}-{i % 10000:04d}")
        if i == far_at:
            cells += inline(f"XFD{i}")
        parts.append(f'<row r="{i}">'.encode() + cells + b"</row>")
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(b"".join(parts))})


def wide_sheet(columns: int, rows: int) -> bytes:
    letters = [_letters(c) for c in range(1, columns + 1)]
    head = b'<row r="1">' + inline("A1", "氏名") + inline("B1", "電話番号")
    head += b"".join(inline(f"{col}1", f"項目{n}") for n, col in enumerate(letters[2:]))
    parts = [head + b"</row>"]
    for i in range(2, rows + 2):
        cells = inline(f"A{i}", _name(i)) + inline(f"B{i}", f"090-0000-{i:04d}")
        cells += b"".join(inline(f"{col}{i}", "x") for col in letters[2:])
        parts.append(f'<row r="{i}">'.encode() + cells + b"</row>")
    return replace_members(small_xlsx(), {"xl/worksheets/sheet1.xml": sheet_xml(b"".join(parts))})


def _letters(number: int) -> str:
    text = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        text = chr(65 + remainder) + text
    return text


def _name(i: int) -> str:
    families = ["山田", "佐藤", "東海林", "五十嵐", "鈴木", "高橋", "九条"]
    givens = ["太郎", "花子", "湊", "凪", "陽翔", "紬", "蓮", "澪", "樹", "杏", "律"]
    return f"{families[i % 7]} {givens[i // 7 % 11]}"
