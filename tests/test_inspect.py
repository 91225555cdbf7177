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
from tests.builders import csv_bytes, customers, message, raw_message, xlsx_bytes, zip_bytes

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
        (b"%PDF-1.4\n", "application/pdf", "a.pdf", ("a.pdf", "pdf", 0, None)),
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
        "pdf-listed-not-read",
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
    real = files._scan_table

    def flaky(kind: str, data: bytes, name: str, vocabulary: object = None) -> object:
        if name == "bad.xlsx":
            raise error
        return real(kind, data, name, vocabulary)  # type: ignore[arg-type]

    monkeypatch.setattr(files, "_scan_table", flaky)
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
