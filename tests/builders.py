"""Real test inputs built at test time: customer tables, workbooks, zips and messages."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from email.message import EmailMessage

import openpyxl
from faker import Faker

HEADER = ("氏名", "住所", "電話番号", "メールアドレス")


def customers(count: int, *, seed: int = 3) -> list[tuple[str, str, str, str]]:
    """Synthetic Japanese customer rows (Faker ja_JP): name, address, phone, email."""
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    return [(fake.name(), fake.address(), fake.phone_number(), fake.email()) for _ in range(count)]


PRODUCT_HEADER = ("品番", "品名", "数量", "単価")


def products(count: int) -> list[tuple[str, str, str, str]]:
    """A harmless twin of ``customers``: a stock list with no personal data."""
    return [
        (f"P-{i:05d}", f"部品 {i}", str(i % 7 + 1), str(120 * (i % 9 + 1))) for i in range(count)
    ]


def csv_bytes(
    rows: Sequence[Sequence[str]], *, encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[str]], *, title: str = "顧客") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bytes(
    members: Iterable[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def message(
    *,
    body: str = "お世話になっております。",
    attachments: Iterable[tuple[bytes, str, str]] = (),
) -> EmailMessage:
    """A message with (data, content type, file name) attachments, built with the email package."""
    msg = EmailMessage()
    msg["From"] = "sales@dealer.example.jp"
    msg["To"] = "customer@example.com"
    msg["Subject"] = "資料送付"
    msg.set_content(body)
    for data, content_type, name in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def raw_message(head: bytes, body: bytes) -> bytes:
    """A hand-written message: for malformed structure the email package would not produce."""
    return (
        b"From: sales@dealer.example.jp\r\nTo: customer@example.com\r\nSubject: test\r\n"
        b"MIME-Version: 1.0\r\n" + head + b"\r\n\r\n" + body
    )


def pdf_bytes(
    lines: Sequence[str] = ("A brochure",),
    *,
    image: bool = False,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """A small valid PDF written object by object: one page of Helvetica ASCII text, or of one
    grey image and no text (a scan), with files embedded the way Acrobat attaches them."""
    if image:
        content = b"q 200 0 0 200 72 500 cm /Im1 Do Q\n"
    else:
        content = "".join(
            f"BT /F1 11 Tf 72 {760 - 14 * i} Td ({_pdf_escape(line)}) Tj ET\n"
            for i, line in enumerate(lines)
        ).encode("latin-1")
    resources = b"/XObject << /Im1 6 0 R >>" if image else b"/Font << /F1 4 0 R >>"
    names = b"".join(
        b"(%s) %d 0 R " % (name.encode("latin-1"), 7 + 2 * i)
        for i, (name, _) in enumerate(attachments)
    )
    catalog = b"<< /Type /Catalog /Pages 2 0 R"
    if attachments:
        catalog += b" /Names << /EmbeddedFiles << /Names [" + names + b"] >> >>"
    objects = [
        catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << "
        + resources
        + b" >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        _pdf_stream(b"", content),
        _pdf_stream(
            b"/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8",
            b"\x00\x80\x80\xff",
        ),
    ]
    for i, (name, data) in enumerate(attachments):
        spec = b"(%s)" % name.encode("latin-1")
        objects.append(
            b"<< /Type /Filespec /F %s /UF %s /EF << /F %d 0 R >> >>" % (spec, spec, 8 + 2 * i)
        )
        objects.append(_pdf_stream(b"/Type /EmbeddedFile", data))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_stream(keys: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n" % (keys, len(data)) + data + b"\nendstream"


def _pdf_escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
