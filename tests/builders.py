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
