from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.inspect import Inspection, Limits, files, inspect_file, inspect_message
from dlp_proxy.inspect.model import Attachment
from dlp_proxy.policy.load import load_policy
from dlp_proxy.scanner import evaluate
from tests.builders import (
    csv_bytes,
    customers,
    message,
    pdf_bytes,
    raw_message,
    xlsx_bytes,
    zip_bytes,
)

ROWS = customers(30)
XLSX = xlsx_bytes(ROWS)
CSV = csv_bytes(ROWS)

REPO = Path(__file__).resolve().parent.parent


def _encrypted(data: bytes, password: str) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def _rows(inspection: Inspection) -> list[tuple[str, str, int, str | None]]:
    return [(a.path, a.type, a.personal_rows, a.unscannable) for a in inspection.attachments]


@pytest.mark.parametrize(
    ("data", "content_type", "name", "expected"),
    [
        (XLSX, "application/octet-stream", "report.dat", ("report.dat", "xlsx", len(ROWS), None)),
        (XLSX, "application/octet-stream", "顧客.xlsx", ("顧客.xlsx", "xlsx", len(ROWS), None)),
        (XLSX, "text/csv", "list.csv", ("list.csv", "xlsx", len(ROWS), None)),
        (CSV, "application/vnd.ms-excel", "list.xls", ("list.xls", "csv", len(ROWS), None)),
        (
            csv_bytes(ROWS, encoding="cp932"),
            "text/csv",
            "sjis.csv",
            ("sjis.csv", "csv", len(ROWS), None),
        ),
        (
            _encrypted(XLSX, "Secret-2024"),
            "application/octet-stream",
            "顧客.xlsx",
            ("顧客.xlsx", "ooxml", 0, "encrypted"),
        ),
        (
            _encrypted(XLSX, "VelvetSweatshop"),
            "application/octet-stream",
            "ro.xlsx",
            ("ro.xlsx", "xlsx", len(ROWS), None),
        ),
        (XLSX[:3000], "application/octet-stream", "cut.xlsx", ("cut.xlsx", "xlsx", 0, "corrupt")),
        (pdf_bytes(), "application/pdf", "a.pdf", ("a.pdf", "pdf", 0, None)),
        (b"%PDF-1.4\n", "application/pdf", "b.pdf", ("b.pdf", "pdf", 0, "corrupt")),
        (
            CSV.replace(b"\r\n", b"\x00\r\n"),
            "application/octet-stream",
            "nul.csv",
            ("nul.csv", "csv", len(ROWS), None),
        ),
    ],
    ids=[
        "customer-list-renamed-dat",
        "xlsx-as-octet-stream",
        "xlsx-declared-csv",
        "csv-declared-xls",
        "csv-cp932",
        "encrypted-xlsx",
        "excel-default-password",
        "truncated-xlsx",
        "pdf-text-read",
        "pdf-corrupt",
        "csv-with-nul-bytes",
    ],
)
def test_attachment_type_and_rows(
    data: bytes, content_type: str, name: str, expected: tuple[object, ...]
) -> None:
    inspection = inspect_message(message(attachments=[(data, content_type, name)]).as_bytes())
    assert _rows(inspection) == [expected]


def test_default_password_is_noted() -> None:
    raw = message(
        attachments=[(_encrypted(XLSX, "VelvetSweatshop"), "application/octet-stream", "ro.xlsx")]
    )
    [attachment] = inspect_message(raw.as_bytes()).attachments
    assert attachment.detail == "opened with Excel's default password"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain.xls", ("f", "xls", 25, None)),
        ("encrypted.xls", ("f", "xls", 0, "encrypted")),
        ("plain.ods", ("f", "ods", 25, None)),
        ("encrypted.ods", ("f", "ods", 0, "encrypted")),
    ],
    ids=["xls", "xls-encrypted", "ods", "ods-encrypted"],
)
def test_libreoffice_workbooks(
    office_files: dict[str, bytes], name: str, expected: tuple[object, ...]
) -> None:
    [attachment] = inspect_file(office_files[name], "f")
    assert (
        attachment.path,
        attachment.type,
        attachment.personal_rows,
        attachment.unscannable,
    ) == expected


def test_csv_pasted_in_the_body_counts_and_prose_does_not() -> None:
    with_table = inspect_message(message(body=CSV.decode()).as_bytes())
    assert _rows(with_table) == [("part 1", "csv", len(ROWS), None)]
    prose = inspect_message(
        message(body="お世話になっております。\n資料は明日送ります。\n").as_bytes()
    )
    assert prose.attachments == ()


def test_iso2022jp_body_with_nec_characters_is_read_as_a_table() -> None:
    """A CSV pasted into a Japanese mail body: ISO-2022-JP, with ① written the Windows way."""
    text = csv_bytes(ROWS).decode().replace("\r\n", "\n")
    encoded = text.encode("iso2022_jp", errors="replace").replace(b"\n", b"\r\n")
    circled = b"\x1b$B\x2d\x21\x1b(B"
    body = encoded.replace(b"\r\n", circled + b"\r\n", 1)  # ① after the header row
    raw = raw_message(
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit", body
    )
    [attachment] = inspect_message(raw).attachments
    assert (attachment.type, attachment.personal_rows) == ("csv", len(ROWS))


def test_nested_message_zip_and_eml_in_zip() -> None:
    inner = message(attachments=[(zip_bytes([("list.csv", CSV)]), "application/zip", "list.zip")])
    eml_in_zip = zip_bytes([("mail.eml", inner.as_bytes())])
    outer = EmailMessage()
    outer["From"] = "a@example.jp"
    outer.set_content("fwd")
    outer.add_attachment(inner, filename="fwd.eml")
    outer.add_attachment(eml_in_zip, maintype="application", subtype="zip", filename="archive.zip")
    inspection = inspect_message(outer.as_bytes())
    assert _rows(inspection) == [
        ("fwd.eml", "eml", 0, None),
        ("fwd.eml/list.zip", "zip", 0, None),
        ("fwd.eml/list.zip/list.csv", "csv", len(ROWS), None),
        ("archive.zip", "zip", 0, None),
        ("archive.zip/mail.eml", "eml", 0, None),
        ("archive.zip/mail.eml/list.zip", "zip", 0, None),  # the same zip: listed, not reopened
    ]
    assert inspection.attachments[-1].detail == "same content as fwd.eml/list.zip"


def test_attached_messages_count_toward_depth() -> None:
    innermost = message(attachments=[(CSV, "text/csv", "list.csv")])
    msg = innermost
    for level in range(3):
        wrapper = EmailMessage()
        wrapper.set_content(f"level {level}")
        wrapper.add_attachment(msg, filename=f"m{level}.eml")
        msg = wrapper
    assert _rows(inspect_message(msg.as_bytes(), limits=Limits(max_depth=2))) == [
        ("m2.eml", "eml", 0, None),
        ("m2.eml/m1.eml", "eml", 0, None),
        ("m2.eml/m1.eml/m0.eml", "eml", 0, "limit"),
    ]


@pytest.mark.parametrize(
    ("error", "reason"),
    [(ValueError("boom"), "corrupt"), (MemoryError(), "limit"), (RecursionError(), "limit")],
    ids=["value-error", "memory-error", "recursion-error"],
)
def test_a_failing_reader_costs_only_its_own_part(
    monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    real = files.READERS["workbook"]

    def flaky(item: files.Item, data: bytes) -> None:
        if item.name == "bad.xlsx":
            raise error
        real(item, data)

    monkeypatch.setitem(files.READERS, "workbook", flaky)
    raw = message(
        attachments=[(XLSX, "application/octet-stream", "bad.xlsx"), (CSV, "text/csv", "good.csv")]
    )
    assert _rows(inspect_message(raw.as_bytes())) == [
        ("bad.xlsx", "xlsx", 0, reason),
        ("good.csv", "csv", len(ROWS), None),
    ]
    [bad, _] = inspect_message(raw.as_bytes()).attachments
    assert "boom" not in (bad.detail or "")  # exception text may quote cell values


def test_scanner_job_returns_attachments() -> None:
    raw = message(
        attachments=[(zip_bytes([("a.csv", CSV)]), "application/zip", "a.zip")]
    ).as_bytes()
    envelope = Envelope("id", "a@example.jp", ("b@example.com",), Client("127.0.0.1"))
    verdict = evaluate(raw, envelope, load_policy(REPO / "policies").policy)
    assert [a.path for a in verdict.inspection.attachments] == ["a.zip", "a.zip/a.csv"]
    assert verdict.inspection.personal_rows == len(ROWS)
    assert verdict.decision.action == "hold"  # the shipped policy: personal rows to outside
    assert isinstance(verdict.inspection.attachments[0], Attachment)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_every_file_is_read_not_applicable_or_unscannable_with_a_reason() -> None:
    raw = message(
        body="お世話になっております。\n資料を送ります。\n",
        attachments=[
            (PNG, "image/png", "logo.png"),
            (CSV, "text/csv", "list.csv"),
            (pdf_bytes(), "application/pdf", "brochure.pdf"),
            (b"MZ\x90\x00" + bytes(200), "application/octet-stream", "setup.exe"),
            (bytes(range(256)) * 4, "application/octet-stream", "blob.bin"),
            (zip_bytes([("a.csv", CSV), ("b.png", PNG)]), "application/zip", "a.zip"),
            (PNG, "text/csv", "photo.csv"),
        ],
    )
    found = {a.path: a for a in inspect_message(raw.as_bytes()).attachments}
    assert {path: (a.status, a.read_as, a.unscannable) for path, a in found.items()} == {
        "logo.png": ("not-applicable", "not-applicable", None),
        "list.csv": ("read", "table", None),
        "brochure.pdf": ("read", "text", None),
        "setup.exe": ("unscannable", None, "unsupported"),
        "blob.bin": ("unscannable", None, "unsupported"),
        "a.zip": ("read", "container", None),
        "a.zip/a.csv": ("read", "table", None),
        "a.zip/b.png": ("not-applicable", "not-applicable", None),
        "photo.csv": ("unscannable", None, "ambiguous"),  # Excel would show its bytes as text
    }
    assert all(a.detail for a in found.values() if a.status == "unscannable")


def test_a_family_without_a_reader_is_unscannable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(files.READERS, "zip")
    [attachment] = inspect_file(zip_bytes([("a.csv", CSV)]), "a.zip")
    assert (attachment.status, attachment.unscannable) == ("unscannable", "unsupported")
    assert attachment.detail == "no reader for zip"


def test_a_reader_that_reads_nothing_leaves_the_file_unscannable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(files.READERS, "delimited", lambda item, data: None)
    [attachment] = inspect_file(CSV, "list.csv")
    assert (attachment.unscannable, attachment.detail) == ("unsupported", files.NOT_READ)


def test_a_table_far_down_a_long_body_is_read() -> None:
    prose = "本日はお世話になりました。詳細は追ってご連絡いたします。\n" * 3000  # ~190 KB
    [attachment] = inspect_message(message(body=prose + CSV.decode()).as_bytes()).attachments
    assert (attachment.type, attachment.personal_rows) == ("text", len(ROWS))


def test_pdf_text_embedded_files_and_scanned_pages(office_files: dict[str, bytes]) -> None:
    with_list = pdf_bytes(attachments=[("list.csv", CSV)])
    assert [(a.path, a.read_as, a.personal_rows) for a in inspect_file(with_list, "a.pdf")] == [
        ("a.pdf", "text", 0),
        ("a.pdf/list.csv", "table", len(ROWS)),
    ]
    [scan] = inspect_file(pdf_bytes(image=True), "scan.pdf")
    assert (scan.status, scan.unscannable) == ("unscannable", "image-only")
    [printed] = inspect_file(office_files["plain.pdf"], "printed.pdf")  # LibreOffice's print
    assert (printed.status, printed.read_as) == ("read", "text")
    [locked] = inspect_file(office_files["encrypted.pdf"], "locked.pdf")
    assert (locked.unscannable, locked.detail) == ("encrypted", "password-protected PDF")


def test_the_shipped_policy_records_scanned_pdfs_and_holds_what_cannot_be_read() -> None:
    """Image-only PDFs are recorded by a monitor rule (scanned invoices are everyday mail);
    every other unscannable reason holds mail to an outside address."""
    policy = load_policy(REPO / "policies").policy
    envelope = Envelope("id", "a@example.jp", ("b@example.com",), Client("127.0.0.1"))
    scanned = message(attachments=[(pdf_bytes(image=True), "application/pdf", "scan.pdf")])
    verdict = evaluate(scanned.as_bytes(), envelope, policy)
    [rule] = verdict.decision.rules
    assert (rule.name, rule.mode, verdict.decision.action) == (
        "scanned-pdf-to-external",
        "monitor",
        "pass",
    )
    blob = message(attachments=[(b"MZ\x90\x00" + bytes(64), "application/octet-stream", "x.exe")])
    held = evaluate(blob.as_bytes(), envelope, policy)
    assert [r.name for r in held.decision.rules] == ["unscannable-attachment-to-external"]
    assert held.decision.action == "hold"
