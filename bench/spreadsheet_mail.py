"""Benchmark mail carrying a synthetic customer list: an xlsx (openpyxl) or CSV, base64 MIME.

    .venv/bin/python bench/spreadsheet_mail.py 1M 5M 25M [--csv]   # build (cached), print paths

The workbook is scan_xlsx.py's 8-column customer list (customer ID, name, kana, email, phone,
postcode, address, birth date; Faker ja_JP, fixed seed), with as many rows as give about the
requested attachment size. The message is ``multipart/mixed``: a short text part and the
attachment in base64, CRLF line endings, headers included: what ``smtp-source -F`` and the
latency clients send. Files are cached in bench/results/mail/ (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_xlsx

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "results" / "mail"
SENDER = "sender@bench.local"
RECIPIENT = "rcpt@example.com"
XLSX_BYTES_PER_ROW = 88  # openpyxl, inline strings: 4.4 MB for 50,000 rows
CSV_BYTES_PER_ROW = 150
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20}
    if text[-1:].upper() in units:
        return int(float(text[:-1]) * units[text[-1:].upper()])
    return int(text)


def label(size: int) -> str:
    return f"{size >> 20}M" if size >= 1 << 20 else f"{size >> 10}K"


def customer_xlsx(size: int) -> Path:
    """A customer-list workbook of about ``size`` bytes (cached)."""
    path = CACHE / f"customers-{label(size)}.xlsx"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.xlsx")
        scan_xlsx.build(max(1, size // XLSX_BYTES_PER_ROW), partial)
        partial.rename(path)
    return path


def customer_csv(size: int) -> Path:
    """The same customer list as UTF-8 CSV, about ``size`` bytes (cached)."""
    path = CACHE / f"customers-{label(size)}.csv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        book = openpyxl.load_workbook(customer_xlsx(size // 2), read_only=True)
        rows = [[str(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
        header, body = rows[0], rows[1:]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        written = 0
        while out.tell() < size:  # repeat the rows (new IDs) until the size is reached
            for row in body:
                writer.writerow([f"C{written:07d}", *row[1:]])
                written += 1
                if out.tell() >= size:
                    break
        path.write_bytes(out.getvalue().encode())
    return path


def message(attachment: bytes, filename: str, content_type: str) -> bytes:
    """A complete message (headers, CRLF) with one base64 attachment."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"<{SENDER}>"
    msg["To"] = f"<{RECIPIENT}>"
    msg["Subject"] = "customer list"
    msg["Message-ID"] = f"<{filename}@bench.local>"
    msg.set_content("Please find the customer list attached.\n")
    maintype, subtype = content_type.split("/")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def spreadsheet_mail(size: int, *, as_csv: bool = False) -> Path:
    """Path of a cached .eml whose attachment is a customer list of about ``size`` bytes."""
    kind = "csv" if as_csv else "xlsx"
    path = CACHE / f"mail-{kind}-{label(size)}.eml"
    if not path.exists():
        source = customer_csv(size) if as_csv else customer_xlsx(size)
        content_type = "text/csv" if as_csv else XLSX
        path.write_bytes(message(source.read_bytes(), source.name, content_type))
    return path


def for_smtp_source(eml: Path) -> Path:
    """The same message with LF line endings, for ``smtp-source -F``: it appends CRLF to each
    line it reads and keeps a CR before the LF, so a CRLF file would arrive as CR CR LF."""
    path = eml.with_suffix(".lf.eml")
    if not path.exists():
        path.write_bytes(eml.read_bytes().replace(b"\r\n", b"\n"))
    return path


def plain_mail(size: int) -> bytes:
    """Headers plus ``size`` bytes of 80-byte text lines, ready for DATA (dot-terminated)."""
    head = (
        f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: plain\r\n"
        f"Message-Id: <plain@bench.local>\r\n\r\n"
    ).encode()
    line = b"X" * 78 + b"\r\n"
    body = line * (size // len(line)) + b"X" * max(0, size % len(line) - 2) + b"\r\n"
    return head + body + b".\r\n"


def data_of(eml: bytes) -> bytes:
    """A message file made ready for DATA: dot-stuffed and terminated."""
    if eml.startswith(b"."):
        eml = b"." + eml
    eml = eml.replace(b"\r\n.", b"\r\n..")
    if not eml.endswith(b"\r\n"):
        eml += b"\r\n"
    return eml + b".\r\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", help="attachment sizes, e.g. 1M 5M 25M")
    parser.add_argument("--csv", action="store_true", help="a CSV customer list, not xlsx")
    args = parser.parse_args()
    for size in args.sizes:
        path = spreadsheet_mail(parse_size(size), as_csv=args.csv)
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
