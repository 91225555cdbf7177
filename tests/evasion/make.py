"""Write the committed evasion corpus and its MANIFEST.yaml; run by hand, output is committed.

    PYTHONPATH=. python tests/evasion/make.py

Each case wraps a customer list the way a careless sender or an attacker would (a carrier, an
odd file layout, an ambiguous MIME structure, a recipient that routes elsewhere) and is
written twice: ``<case>.eml`` carries the list, ``<case>.twin.eml`` the same wrapping around a
harmless price list. tests/test_evasion.py sends both through a running proxy with the shipped
policy: the list must be stopped (held or blocked) for the reason the manifest states, and the
twin must pass, except where the wrapping itself cannot be read (encrypted, ambiguous): then
the twin is held too, by design. Deterministic: seeded data, pinned dates and zip times.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import quopri
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests import carriers, cfb, legacycraft  # noqa: E402
from tests.builders import HEADER, customers, pdf_bytes  # noqa: E402

SENDER = "sales@corp.example"
PARTNER = "buyer@customer.example"
INTERNAL_DOMAIN = "corp.example"
ZIP_TIME = (2024, 4, 1, 9, 0, 0)
SMALL = 60  # rows: held for the manager (personal-data-to-external)
LARGE = 1200  # rows: blocked (appi-reportable-volume: 1,000 or more)
PRODUCTS = ("品番", "品名", "単価", "在庫数")
OOXML = b"application/vnd.openxmlformats-officedocument"
RELATIONSHIPS = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"


# --- the two payloads every case carries ---------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """What a case wraps: a customer list (``rows`` people) or a harmless price list."""

    rows: int  # 0 for the harmless price list

    @property
    def listing(self) -> bool:
        return self.rows > 0

    def table(self) -> list[Sequence[str]]:
        if self.listing:
            return [HEADER, *customers(self.rows, seed=12)]
        return [
            PRODUCTS,
            *(
                (f"P-{1000 + i}", f"部品 {i} 型", str(100 + 7 * i), str(i % 50))
                for i in range(SMALL)
            ),
        ]

    @property
    def stem(self) -> str:
        return "顧客一覧" if self.listing else "価格表"

    def csv(self, *, delimiter: str = ",", newline: str = "\r\n") -> bytes:
        return "".join(
            delimiter.join(_quoted(c) for c in row) + newline for row in self.table()
        ).encode()

    def xlsx(self) -> bytes:
        return workbook(self.table())


def _quoted(cell: str) -> str:
    return f'"{cell}"' if any(c in cell for c in ',"\r\n') else cell


def workbook(rows: Sequence[Sequence[str]]) -> bytes:
    """An xlsx written by openpyxl with its dates pinned, zip times fixed."""
    import openpyxl  # noqa: PLC0415 - only the builder needs it

    book = openpyxl.Workbook()
    book.properties.created = book.properties.modified = _pinned()
    sheet = book.active
    assert sheet is not None
    sheet.title = "一覧"
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return repack(out.getvalue(), {})


def _pinned() -> object:
    import datetime  # noqa: PLC0415

    return datetime.datetime(2024, 4, 1, 9, 0, 0)


def repack(
    data: bytes,
    changes: dict[str, bytes | None],
    *,
    rename: Callable[[str], str] = lambda name: name,
) -> bytes:
    """A zip rewritten: members replaced (bytes), removed (None) or added, names mapped."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename in changes and changes[info.filename] is None:
                continue
            content = changes.get(info.filename) or source.read(info)
            target.writestr(_member(rename(info.filename)), content)
        for name, content in changes.items():
            if content is not None and name not in source.namelist():
                target.writestr(_member(rename(name)), content)
    return out.getvalue()


def zip_members(members: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(_member(name), content)
    return out.getvalue()


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


# --- raw MIME, written by hand so that every header is exactly as the case needs ------------


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def headers(*, to: str = PARTNER, subject: bytes = b"=?UTF-8?B?6LOH5paZ6YCB5LuY?=") -> bytes:
    return (
        f"From: Sales <{SENDER}>\r\nTo: <{to}>\r\n".encode()
        + b"Subject: "
        + subject
        + b"\r\nDate: Mon, 01 Apr 2024 09:00:00 +0900\r\nMessage-ID: <evasion@corp.example>\r\n"
        b"MIME-Version: 1.0\r\n"
    )


def part(head: str | bytes, body: bytes) -> bytes:
    head_bytes = head.encode() if isinstance(head, str) else head
    return crlf(head_bytes).rstrip(b"\r\n") + b"\r\n\r\n" + body


def text_part(text: str, *, subtype: str = "plain") -> bytes:
    """A UTF-8 text part: 8bit, or base64 when a line is too long for SMTP (as mailers do)."""
    data = text.encode()
    if max(map(len, data.splitlines() or [b""])) > 900:
        return part(
            f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: base64",
            b64(data),
        )
    return part(
        f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: 8bit",
        crlf(data),
    )


def attachment(name: str, data: bytes, content_type: str = "application/octet-stream") -> bytes:
    encoded = name.encode()
    disposition = "attachment; filename*=utf-8''" + "".join(
        chr(b) if b < 0x80 and (chr(b).isalnum() or chr(b) in ".-_") else f"%{b:02X}"
        for b in encoded
    )
    return part(
        f"Content-Type: {content_type}\nContent-Transfer-Encoding: base64\n"
        f"Content-Disposition: {disposition}",
        b64(data),
    )


def multipart(
    parts: Sequence[bytes],
    *,
    boundary: str = "=_evasion_1",
    subtype: str = "mixed",
    to: str = PARTNER,
    top: bytes | None = None,
    extra: bytes = b"",
) -> bytes:
    head = top if top is not None else headers(to=to)
    body = b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
    return (
        head
        + f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n'.encode()
        + extra
        + b"\r\n"
        + body
        + f"--{boundary}--\r\n".encode()
    )


GREETING = "お世話になっております。\n資料をお送りします。\nよろしくお願いいたします。\n"


def with_file(
    name: str, data: bytes, content_type: str = "application/octet-stream", **kw: str
) -> bytes:
    return multipart([text_part(GREETING), attachment(name, data, content_type)], **kw)


# --- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One wrapping. ``stop``: the shipped rule that must stop the list (its action follows:
    block for 1,000+ rows, hold otherwise); ``found``: how inspection must see the list —
    ``rows`` (personal rows counted) or an unscannable reason; ``twin``: what happens to the
    harmless twin (pass, or hold when the wrapping itself is unscannable)."""

    name: str
    item: str
    what: str
    build: Callable[[Payload], bytes]
    rows: int = SMALL
    found: str = "rows"
    twin: str = "pass"
    rcpt: tuple[str, ...] = (PARTNER,)
    needs: tuple[str, ...] = field(default=())

    @property
    def stop(self) -> str:
        if self.found != "rows":
            return "unscannable-attachment-to-external"
        return "appi-reportable-volume" if self.rows >= 1000 else "personal-data-to-external"

    @property
    def action(self) -> str:
        return "block" if self.stop == "appi-reportable-volume" else "hold"


CASES: list[Case] = []


def case(name: str, item: str, what: str, **options: object) -> Callable[..., object]:
    def register(build: Callable[[Payload], bytes]) -> Callable[[Payload], bytes]:
        CASES.append(Case(name, item, what, build, **options))  # type: ignore[arg-type]
        return build

    return register


# Item 2: delimited text that the recipient's spreadsheet program shows whole.


@case("csv-bare-cr", "2", "CSV with old Mac line ends (bare CR) throughout", rows=LARGE)
def _bare_cr(payload: Payload) -> bytes:
    return with_file(f"{payload.stem}.csv", payload.csv(newline="\r"), "text/csv")


@case("csv-stray-cr", "2", "CRLF CSV with a stray bare CR inside every fifth row")
def _stray_cr(payload: Payload) -> bytes:
    lines = payload.csv().split(b"\r\n")
    lines = [line.replace(b",", b"\r,", 1) if i % 5 == 4 else line for i, line in enumerate(lines)]
    return with_file(f"{payload.stem}.csv", b"\r\n".join(lines), "text/csv")


@case("csv-mixed-line-ends", "2", "CSV whose rows end in CRLF, LF and CR by turns")
def _mixed(payload: Payload) -> bytes:
    rows = payload.csv(newline="\n").split(b"\n")
    ends = (b"\r\n", b"\n", b"\r")
    return with_file(
        f"{payload.stem}.csv",
        b"".join(row + ends[i % 3] for i, row in enumerate(rows) if row),
        "text/csv",
    )


@case(
    "csv-long-field",
    "2",
    "CSV with a 140,000-character field (over csv's default limit) in its second row",
)
def _long_field(payload: Payload) -> bytes:
    lines = payload.csv().split(b"\r\n")
    lines[1] += b',"' + b"x" * 140_000 + b'"'
    return with_file(f"{payload.stem}.csv", b"\r\n".join(lines), "text/csv")


@case("csv-open-quote", "2", "CSV whose third row starts a quoted field that never closes")
def _open_quote(payload: Payload) -> bytes:
    lines = payload.csv().split(b"\r\n")
    lines[3] = b'"' + lines[3]
    return with_file(f"{payload.stem}.csv", b"\r\n".join(lines), "text/csv")


@case("body-table-far-down", "2", "the list pasted as TSV into a text body below 150 KB of prose")
def _far_down(payload: Payload) -> bytes:
    prose = "先日の打ち合わせの議事録を以下に記載いたします。ご確認ください。\n" * 2000
    table = payload.csv(delimiter="\t", newline="\n").decode()
    return multipart([text_part(prose + "\n" + table + "\n以上です。\n")])


# Item 3: workbooks as packages.


def _rels(target_prefix: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/officeDocument" Target="{target_prefix}workbook.xml"/>'
        "</Relationships>"
    ).encode()


@case(
    "xlsx-parts-at-root",
    "3",
    "workbook whose parts sit at the package root, found by its relationships",
    rows=LARGE,
)
def _at_root(payload: Payload) -> bytes:
    original = payload.xlsx()
    source = zipfile.ZipFile(io.BytesIO(original))
    changes: dict[str, bytes | None] = {}
    for name in source.namelist():
        content = source.read(name)
        if name == "_rels/.rels":
            content = content.replace(b'Target="xl/workbook.xml"', b'Target="workbook.xml"')
        elif name == "[Content_Types].xml":
            content = content.replace(b'PartName="/xl/', b'PartName="/')
        elif name.endswith(".rels"):
            content = content.replace(b'Target="/xl/', b'Target="/')
        changes[name] = content
    renamed = {
        (name[3:] if name.startswith("xl/") else name): content for name, content in changes.items()
    }
    return with_file(f"{payload.stem}.xlsx", zip_members(sorted(renamed.items())))


@case("xlsx-backslash-names", "3", "workbook whose member names use backslashes")
def _backslashes(payload: Payload) -> bytes:
    data = repack(payload.xlsx(), {}, rename=lambda name: name.replace("/", "\\"))
    return with_file(f"{payload.stem}.xlsx", data)


@case("xlsx-macro-sheet", "3", "the list in an Excel 4.0 macro sheet beside a normal sheet")
def _macro_sheet(payload: Payload) -> bytes:
    data = payload.xlsx()
    source = zipfile.ZipFile(io.BytesIO(data))
    sheet = source.read("xl/worksheets/sheet1.xml")
    macro = sheet.replace(
        b"<worksheet ",
        b'<xm:macrosheet xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main" ',
        1,
    )
    macro = macro.replace(b"</worksheet>", b"</xm:macrosheet>")
    worksheet_type = OOXML + b".spreadsheetml.worksheet+xml"
    types = source.read("[Content_Types].xml").replace(
        b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="' + worksheet_type + b'"/>',
        b'<Override PartName="/xl/macrosheets/sheet1.xml" '
        b'ContentType="application/vnd.ms-excel.macrosheet+xml"/>',
    )
    rels = (
        source.read("xl/_rels/workbook.xml.rels")
        .replace(
            b'Type="' + RELATIONSHIPS + b'/worksheet" Target="worksheets/sheet1.xml"',
            b'Type="http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet" '
            b'Target="macrosheets/sheet1.xml"',
        )
        .replace(b'Target="/xl/worksheets/sheet1.xml"', b'Target="/xl/macrosheets/sheet1.xml"')
    )
    changed = repack(
        data,
        {
            "xl/worksheets/sheet1.xml": None,
            "xl/macrosheets/sheet1.xml": macro,
            "[Content_Types].xml": types,
            "xl/_rels/workbook.xml.rels": rels,
        },
    )
    return with_file(f"{payload.stem}.xlsm", changed)


@case("xlsx-huge-dimension", "3", "workbook that declares A1:XFD1048576 and one far formatted cell")
def _huge_dimension(payload: Payload) -> bytes:
    data = payload.xlsx()
    source = zipfile.ZipFile(io.BytesIO(data))
    sheet = source.read("xl/worksheets/sheet1.xml")
    start = sheet.index(b"<dimension ")
    end = sheet.index(b"/>", start) + 2
    sheet = sheet[:start] + b'<dimension ref="A1:XFD1048576"/>' + sheet[end:]
    sheet = sheet.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" s="0"/></row></sheetData>'
    )
    return with_file(f"{payload.stem}.xlsx", repack(data, {"xl/worksheets/sheet1.xml": sheet}))


@case("xlsx-embedded-in-xlsx", "3", "the list as a workbook embedded in a harmless workbook")
def _embedded_workbook(payload: Payload) -> bytes:
    outer = Payload(0).xlsx()
    inner = payload.xlsx()
    data = repack(outer, {"xl/embeddings/Microsoft_Excel_Worksheet1.xlsx": inner})
    return with_file("報告書.xlsx", data)


def _ole10native(name: str, data: bytes) -> bytes:
    """The \\x01Ole10Native stream of an OLE Package object (MS-OLEDS 2.3.6 and the Packager
    layout): total size, flags, label, source path, temp path, data size, data."""
    label = name.encode("cp932") + b"\0"
    path = b"C:\\Users\\sales\\" + label
    body = b"\x02\x00" + label + path + b"\x00\x00\x03\x00" + len(path).to_bytes(4, "little") + path
    body += len(data).to_bytes(4, "little") + data
    return len(body).to_bytes(4, "little") + body


def docx(body_xml: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal Word document: content types, relationships, document.xml, extra parts."""
    types = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" '
        b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Default Extension="bin" ContentType="' + OOXML + b'.oleObject"/>'
        b'<Override PartName="/word/document.xml" '
        b'ContentType="' + OOXML + b'.wordprocessingml.document.main+xml"/>'
        b"</Types>"
    )
    rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="' + RELATIONSHIPS + b'/officeDocument" '
        b'Target="word/document.xml"/></Relationships>'
    )
    document = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + body_xml
        + b"</w:body></w:document>"
    )
    members = [
        ("[Content_Types].xml", types),
        ("_rels/.rels", rels),
        ("word/document.xml", document),
    ]
    members += sorted((extra or {}).items())
    return zip_members(members)


def _paragraph(text: str) -> bytes:
    return f"<w:p><w:r><w:t>{_escape(text)}</w:t></w:r></w:p>".encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@case("docx-ole-package", "3", "the list as an OLE Package (Ole10Native) object in a Word document")
def _ole_package(payload: Payload) -> bytes:
    native = _ole10native(f"{payload.stem}.csv", payload.csv())
    ole = cfb.compound_file({"\x01Ole10Native": native, "\x01CompObj": bytes(76)})
    rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/oleObject" Target="embeddings/oleObject1.bin"/></Relationships>'
    )
    body = _paragraph("添付資料を参照してください。") + (
        b'<w:p><w:r><w:object><o:OLEObject xmlns:o="urn:schemas-microsoft-com:office:office" '
        b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        b'Type="Embed" ProgID="Package" r:id="rId5"/></w:object></w:r></w:p>'
    )
    data = docx(body, {"word/embeddings/oleObject1.bin": ole, "word/_rels/document.xml.rels": rels})
    return with_file("報告書.docx", data)


@case("docx-table", "3", "the list as a table in a Word document (mail merge)")
def _docx_table(payload: Payload) -> bytes:
    rows = b"".join(
        b"<w:tr>"
        + b"".join(
            f"<w:tc><w:p><w:r><w:t>{_escape(cell)}</w:t></w:r></w:p></w:tc>".encode()
            for cell in row
        )
        + b"</w:tr>"
        for row in payload.table()
    )
    data = docx(_paragraph("一覧") + b"<w:tbl>" + rows + b"</w:tbl>")
    return with_file(f"{payload.stem}.docx", data)


@case("doc-table", "3", "the list as a table in a Word 97-2003 .doc (written from MS-DOC)")
def _doc_table(payload: Payload) -> bytes:
    data = legacycraft.word97_table(payload.table(), intro="お世話になっております。\r")
    return with_file(f"{payload.stem}.doc", data, "application/msword")


@case("ppt-table", "3", "the list as a table on a PowerPoint 97-2003 slide (a group of shapes)")
def _ppt_table(payload: Payload) -> bytes:
    data = legacycraft.powerpoint97(payload.table())
    return with_file(f"{payload.stem}.ppt", data, "application/vnd.ms-powerpoint")


# Item 4: carriers.


@case("uuencode-in-body", "4", "the list uuencoded into the text body (begin 644 ... end)")
def _uuencode(payload: Payload) -> bytes:
    import binascii  # noqa: PLC0415

    data = payload.csv()
    lines = [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
    block = b"begin 644 list.csv\n" + b"".join(lines) + b"`\nend\n"
    body = GREETING.encode() + b"\n" + block
    return multipart(
        [
            part(
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit",
                crlf(body),
            )
        ]
    )


@case("data-uri-link", "4", "the list as a data: URI download link in an HTML body")
def _data_uri(payload: Payload) -> bytes:
    uri = "data:text/csv;base64," + base64.b64encode(payload.csv()).decode()
    link = f'<a href="{uri}" download="list.csv">こちら</a>'
    html = f"<html><body><p>一覧は{link}です。</p></body></html>"
    return multipart([text_part(GREETING), text_part(html, subtype="html")], subtype="alternative")


@case("html-pasted-range", "4", "the list pasted from Excel into an HTML body (Outlook's table)")
def _pasted(payload: Payload) -> bytes:
    cells = "\n".join(
        "<tr style='height:13.5pt'>"
        + "".join(
            f"<td nowrap class=xl65 style='border:solid windowtext 1.0pt'>{_escape(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in payload.table()
    )
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta charset=utf-8></head>'
        "<body lang=JA><div class=WordSection1>"
        "<p class=MsoNormal>お世話になっております。<o:p></o:p></p>"
        f"<table class=MsoNormalTable border=0 cellspacing=0 cellpadding=0>{cells}</table>"
        "<p class=MsoNormal>&nbsp;</p></div></body></html>"
    )
    return multipart([text_part(html, subtype="html")])


def _inner_message(payload: Payload) -> bytes:
    return multipart(
        [text_part("本社からの資料です。\n"), attachment(f"{payload.stem}.xlsx", payload.xlsx())],
        boundary="=_inner_1",
        top=(
            b"From: honsha@corp.example\r\nTo: sales@corp.example\r\nSubject: data\r\n"
            b"Date: Mon, 01 Apr 2024 08:00:00 +0900\r\nMIME-Version: 1.0\r\n"
        ),
    )


@case(
    "rfc822-base64",
    "4",
    "a forwarded message (with the list) attached as message/rfc822 in base64",
    rows=LARGE,
)
def _rfc822_b64(payload: Payload) -> bytes:
    inner = part(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment",
        b64(_inner_message(payload)),
    )
    return multipart([text_part("転送します。\n"), inner])


@case(
    "rfc822-quoted-printable",
    "4",
    "a forwarded message attached as message/rfc822 in quoted-printable",
)
def _rfc822_qp(payload: Payload) -> bytes:
    inner = part(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable",
        crlf(quopri.encodestring(_inner_message(payload).replace(b"\r\n", b"\n"))),
    )
    return multipart([text_part("転送します。\n"), inner])


@case("csv-gzip", "4", "the list as a gzip-compressed CSV (list.csv.gz)")
def _gzip(payload: Payload) -> bytes:
    return with_file(
        f"{payload.stem}.csv.gz", gzip.compress(payload.csv(), mtime=0), "application/gzip"
    )


@case("csv-bzip2", "4", "the list as a bzip2-compressed CSV")
def _bzip2(payload: Payload) -> bytes:
    return with_file(f"{payload.stem}.csv.bz2", bz2.compress(payload.csv()), "application/x-bzip2")


@case("xlsx-xz", "4", "the list as an xz-compressed workbook")
def _xz(payload: Payload) -> bytes:
    return with_file(f"{payload.stem}.xlsx.xz", lzma.compress(payload.xlsx()), "application/x-xz")


@case("pdf-embedded-file", "4", "the list as a file embedded in a PDF (Acrobat's attachments)")
def _pdf_embedded(payload: Payload) -> bytes:
    data = pdf_bytes(["Quarterly report"], attachments=[("list.csv", payload.csv())])
    return with_file("report.pdf", data, "application/pdf")


@case(
    "png-polyglot-csv",
    "4",
    "a CSV list behind a PNG signature, named .csv",
    found="ambiguous",
    twin="hold",
)
def _polyglot(payload: Payload) -> bytes:
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    return with_file(f"{payload.stem}.csv", png + b"\r\n" + payload.csv(), "text/csv")


@case("tnef-winmail", "4", "the list inside an Outlook TNEF winmail.dat", rows=LARGE)
def _tnef(payload: Payload) -> bytes:
    data = carriers.tnef_bytes(attachments=[(f"{payload.stem}.xlsx", payload.xlsx())])
    return with_file("winmail.dat", data, "application/ms-tnef")


@case("outlook-msg", "4", "the list attached to an Outlook .msg file attached to the mail")
def _msg(payload: Payload) -> bytes:
    data = carriers.msg_bytes(attachments=[(f"{payload.stem}.xlsx", payload.xlsx())])
    return with_file("転送.msg", data, "application/vnd.ms-outlook")


@case("outlook-msg-embedded", "4", "the list in a message embedded in an Outlook .msg")
def _msg_embedded(payload: Payload) -> bytes:
    inner = carriers.msg_tree(
        attachments=[(f"{payload.stem}.csv", payload.csv())], top=False, subject="元の資料"
    )
    data = carriers.msg_bytes(embedded=[("元の資料.msg", inner)])
    return with_file("転送.msg", data, "application/vnd.ms-outlook")


@case("seven-zip", "4", "the list in a 7z archive (solid LZMA2)")
def _seven_zip(payload: Payload) -> bytes:
    data = carriers.seven_zip_bytes([(f"{payload.stem}.csv", payload.csv())])
    return with_file("資料.7z", data, "application/x-7z-compressed")


# Item 5: signed and encrypted mail.


def _entity(payload: Payload) -> bytes:
    return carriers.mime_entity(
        body="資料をお送りします。\n",
        attachments=[(f"{payload.stem}.xlsx", payload.xlsx())],
    )


def _smime_head() -> bytes:
    return headers()


@case(
    "smime-opaque-signed", "5", "an opaque-signed S/MIME message (anyone can read it)", rows=LARGE
)
def _smime_signed(payload: Payload) -> bytes:
    structure = carriers.smime_signed(_entity(payload))
    return _smime_head() + _pkcs7_part(structure, "signed-data")


@case("smime-compressed", "5", "an S/MIME compressed-data message (RFC 3274)")
def _smime_compressed(payload: Payload) -> bytes:
    structure = carriers.smime_compressed(_entity(payload))
    return _smime_head() + _pkcs7_part(structure, "compressed-data")


@case("smime-enveloped", "5", "an S/MIME encrypted message", found="encrypted", twin="hold")
def _smime_enveloped(payload: Payload) -> bytes:
    structure = carriers.smime_enveloped(_entity(payload))
    return _smime_head() + _pkcs7_part(structure, "enveloped-data")


def _pkcs7_part(structure: bytes, smime_type: str) -> bytes:
    return (
        f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
    ).encode() + b64(structure)


@case("pgp-mime-encrypted", "5", "a PGP/MIME encrypted message", found="encrypted", twin="hold")
def _pgp_mime(payload: Payload) -> bytes:
    armored = carriers.pgp_encrypted(_entity(payload), armor=True, symmetric=True)
    control = part("Content-Type: application/pgp-encrypted", b"Version: 1\r\n")
    body = part('Content-Type: application/octet-stream; name="encrypted.asc"', crlf(armored))
    return multipart(
        [control, body],
        subtype='encrypted; protocol="application/pgp-encrypted"',
    )


@case(
    "pgp-inline", "5", "an inline PGP message block in a text body", found="encrypted", twin="hold"
)
def _pgp_inline(payload: Payload) -> bytes:
    armored = carriers.pgp_encrypted(payload.csv(), armor=True, symmetric=True)
    text = GREETING.encode() + b"\n" + armored
    plain = part(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", crlf(text)
    )
    return multipart([plain])


# Item 6: ambiguous structure.


@case(
    "duplicate-content-type",
    "6",
    "the list's part has two Content-Type headers",
    found="ambiguous",
    twin="hold",
)
def _dup_type(payload: Payload) -> bytes:
    listing = part(
        "Content-Type: text/plain\nContent-Type: text/csv; name=list.csv\n"
        "Content-Disposition: attachment; filename=list.csv\nContent-Transfer-Encoding: base64",
        b64(payload.csv()),
    )
    return multipart([text_part(GREETING), listing])


@case(
    "duplicate-transfer-encoding",
    "6",
    "the list's part has two Content-Transfer-Encoding headers",
    found="ambiguous",
    twin="hold",
)
def _dup_cte(payload: Payload) -> bytes:
    listing = part(
        "Content-Type: text/csv; name=list.csv\nContent-Transfer-Encoding: 7bit\n"
        "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=list.csv",
        b64(payload.csv()),
    )
    return multipart([text_part(GREETING), listing])


@case(
    "two-boundaries",
    "6",
    "a multipart with two different boundary parameters",
    found="ambiguous",
    twin="hold",
)
def _two_boundaries(payload: Payload) -> bytes:
    return multipart(
        [text_part(GREETING), attachment(f"{payload.stem}.csv", payload.csv(), "text/csv")],
        boundary="=_a",
        extra=b'\tboundary="=_b"\r\n',
    ).replace(b'boundary="=_a"\r\n\tboundary', b'boundary="=_a";\r\n\tboundary', 1)


@case(
    "message-partial",
    "6",
    "the list split into message/partial fragments",
    found="ambiguous",
    twin="hold",
)
def _partial(payload: Payload) -> bytes:
    inner = _inner_message(payload)
    half = len(inner) // 2
    return headers() + (
        b'Content-Type: message/partial; id="evasion@corp.example"; number=1; total=2\r\n\r\n'
        + inner[:half]
    )


# Item 7: recipients whose local part routes elsewhere (the domain looks internal).


@case(
    "percent-hack",
    "7",
    "sent to buyer%customer.example@corp.example (Postfix's percent hack)",
    rcpt=("buyer%customer.example@corp.example",),
)
def _percent(payload: Payload) -> bytes:
    return with_file(
        f"{payload.stem}.xlsx", payload.xlsx(), to="buyer%customer.example@corp.example"
    )


@case(
    "bang-path",
    "7",
    "sent to customer.example!buyer@corp.example (a UUCP bang path)",
    rcpt=("customer.example!buyer@corp.example",),
)
def _bang(payload: Payload) -> bytes:
    return with_file(
        f"{payload.stem}.xlsx", payload.xlsx(), to="customer.example!buyer@corp.example"
    )


@case(
    "quoted-local-part",
    "7",
    'sent to "buyer@customer.example"@corp.example',
    rcpt=('"buyer@customer.example"@corp.example',),
)
def _quoted_local(payload: Payload) -> bytes:
    return with_file(
        f"{payload.stem}.xlsx", payload.xlsx(), to='"buyer@customer.example"@corp.example'
    )


# Item 8: definite answers.


@case("encoded-word-bomb", "8", "a Subject of 5,000 encoded words, with the list attached")
def _encoded_words(payload: Payload) -> bytes:
    subject = b"\r\n ".join([b"=?UTF-8?B?44GC?="] * 5000)
    top = headers(subject=subject)
    return multipart(
        [text_part(GREETING), attachment(f"{payload.stem}.xlsx", payload.xlsx())], top=top
    )


@case("nested-groups", "8", "a To header of 2,000 nested address groups, with the list attached")
def _groups(payload: Payload) -> bytes:
    to = "\r\n ".join(["g: " * 100] * 20) + f"<{PARTNER}>" + "\r\n ".join([";" * 100] * 20)
    top = (
        f"From: <{SENDER}>\r\nTo: {to}\r\nSubject: data\r\nMIME-Version: 1.0\r\n"
        "Date: Mon, 01 Apr 2024 09:00:00 +0900\r\n"
    ).encode()
    return multipart(
        [text_part(GREETING), attachment(f"{payload.stem}.xlsx", payload.xlsx())], top=top
    )


@case(
    "delivery-report", "8", "a delivery report (multipart/report) returning a message with the list"
)
def _report(payload: Payload) -> bytes:
    status = part(
        "Content-Type: message/delivery-status",
        crlf(
            b"Reporting-MTA: dns; mx.corp.example\n\n"
            b"Final-Recipient: rfc822; gone@customer.example\n"
            b"Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n"
        ),
    )
    returned = part("Content-Type: message/rfc822", _inner_message(payload))
    notice = text_part(
        "This is the mail system at host mx.corp.example.\nYour message could not be delivered.\n"
    )
    return multipart([notice, status, returned], subtype='report; report-type="delivery-status"')


# --- writing ---------------------------------------------------------------------------------


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    manifest = []
    for entry in CASES:
        listing = entry.build(Payload(entry.rows))
        twin = entry.build(Payload(0))
        (HERE / f"{entry.name}.eml").write_bytes(listing)
        (HERE / f"{entry.name}.twin.eml").write_bytes(twin)
        manifest.append(
            {
                "case": entry.name,
                "item": entry.item,
                "what": entry.what,
                "rows": entry.rows,
                "rcpt": list(entry.rcpt),
                "found": entry.found,
                "stop": entry.stop,
                "action": entry.action,
                "twin": entry.twin,
            }
        )
    head = (
        "# The evasion corpus: written by make.py (do not edit by hand). Each case is\n"
        "# <case>.eml (a customer list of `rows` people) and <case>.twin.eml (a price list).\n"
        "# found: how inspection must see the list (rows, or an unscannable reason);\n"
        "# stop/action: the shipped rule that stops it and what it does;\n"
        "# twin: pass, or hold where the wrapping itself cannot be read.\n"
    )
    text = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False, width=100)
    (HERE / "MANIFEST.yaml").write_text(head + text)
    print(f"{len(CASES)} cases, {2 * len(CASES)} messages")


if __name__ == "__main__":
    main()
