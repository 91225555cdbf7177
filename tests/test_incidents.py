"""The incidents this product exists for, end to end: real workbooks through the running proxy."""

from __future__ import annotations

import io
import shutil
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import aiosmtplib
import openpyxl
import pytest
from faker import Faker

from dlp_proxy.decide import Facts, decide
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.inspect import Limits, inspect_message
from dlp_proxy.inspect.recipients import Recipients
from dlp_proxy.policy.load import load_policy
from dlp_proxy.scanner import evaluate, vocabulary_of
from tests.builders import customers, xlsx_bytes
from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.test_relay import send

REPO = Path(__file__).resolve().parent.parent
INTERNAL = "example.co.jp"
SENDER = f"tanaka@{INTERNAL}"
CUSTOMERS = [f"customer{i}@mail{i % 7}.example" for i in range(29)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("policies")
    for file in (REPO / "policies").glob("*.yaml"):
        shutil.copy(file, directory)
    (directory / "local.yaml").write_text(f"internal_domains: [{INTERNAL}]\n")
    return directory


def mail(to: list[str], cc: list[str], attachment: bytes | None, name: str = "顧客リスト.xlsx"):  # type: ignore[no-untyped-def]
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = "新型車のご案内"
    message.set_content("いつもお世話になっております。\n")
    if attachment is not None:
        message.add_attachment(
            attachment,
            maintype=XLSX.split("/", maxsplit=1)[0],
            subtype=XLSX.split("/")[1],
            filename=name,
        )
    return message.as_bytes(policy=SMTP)


def price_list() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["部品番号", "品名", "単価", "在庫"])
    for i in range(300):
        sheet.append([f"0120-{i:03d}-{(i * 7) % 1000:03d}", f"ブレーキパッド {i}", 1200 + i, i % 9])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_2940_customers_to_29_customers_in_cc_is_blocked(
    start_proxy: ProxyFactory, sink: Sink, policy_dir: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy_dir)
    raw = mail([SENDER], CUSTOMERS, xlsx_bytes(customers(2940)))
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, raw, sender=SENDER, rcpts=(SENDER, *CUSTOMERS))
    assert failure.value.code == 550
    assert failure.value.message.startswith("5.7.1 Blocked by policy rule appi-reportable-volume")
    # Nothing reached a customer; the sender was told why (a notice from the null sender).
    assert [m.rcpt_tos for m in sink.messages] == [[SENDER]]
    assert sink.messages[0].mail_from == "<>"
    assert b"X-DLP-Notice: blocked" in sink.messages[0].content


async def test_small_customer_list_to_external_is_held_back(
    start_proxy: ProxyFactory, sink: Sink, policy_dir: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy_dir)
    raw = mail(["client@partner.example"], [], xlsx_bytes(customers(3)))
    _, reply = await send(proxy.address, raw, sender=SENDER, rcpts=("client@partner.example",))
    assert "held for approval" in reply  # committed to the quarantine: the MTA is done
    assert sink.messages == []  # no directory, no admins: no approver to name, nothing sent
    assert proxy.quarantine is not None
    (held,) = await proxy.quarantine.list()
    assert held.rules == ("personal-data-to-external",)
    assert held.summary["release"]["encrypt"] is True


@pytest.mark.parametrize(
    ("to", "attachment"),
    [
        ([f"sato@{INTERNAL}", f"kato@tokyo.{INTERNAL}"], "customers"),
        (["buyer@partner.example"], "prices"),
        ([SENDER], None),
    ],
    ids=["customer-list-internal", "price-list-to-partner", "no-attachment"],
)
async def test_business_mail_passes_untouched(
    start_proxy: ProxyFactory, sink: Sink, policy_dir: Path, to: list[str], attachment: str | None
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy_dir)
    data = {"customers": xlsx_bytes(customers(2940)), "prices": price_list(), None: None}[
        attachment
    ]
    raw = mail(to, [], data)
    bcc = [] if attachment else CUSTOMERS  # 29 customers in Bcc only: they cannot see each other
    errors, _ = await send(proxy.address, raw, sender=SENDER, rcpts=(*to, *bcc))
    assert errors == {}
    assert sink.messages[0].content.endswith(raw)


def test_policy_synonyms_reach_the_detector(tmp_path: Path) -> None:
    fake = Faker("de_DE")
    fake.seed_instance(7)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Kundschaft", "Rufnummer", "E-Post", "Anschrift"])
    for _ in range(50):
        sheet.append([fake.name(), fake.phone_number(), fake.email(), fake.address()])
    out = io.BytesIO()
    book.save(out)
    raw = mail(["x@partner.example"], [], out.getvalue(), name="kunden.xlsx")

    directory = tmp_path / "p"
    directory.mkdir()
    (directory / "a.yaml").write_text("rules: []\n")
    plain = load_policy(directory).policy
    (directory / "a.yaml").write_text(
        "rules: []\ncolumn_synonyms:\n  person_name: [Kundschaft]\n  phone: [Rufnummer]\n"
        "  address: [Anschrift]\n  email: [E-Post]\n"
    )
    extended = load_policy(directory).policy
    without = inspect_message(raw, vocabulary=vocabulary_of(plain)).attachments
    with_synonyms = inspect_message(raw, vocabulary=vocabulary_of(extended)).attachments
    assert with_synonyms[0].personal_rows == 50
    assert {c.kind for c in with_synonyms[0].columns} >= {"person_name", "phone", "address"}
    assert without[0].personal_rows <= with_synonyms[0].personal_rows
    recipients = Recipients(0, 1, 1, 0, ("partner.example",), SENDER, SENDER, False)
    assert (
        decide(load_policy(REPO / "policies").policy, Facts(with_synonyms, recipients)).action
        == "hold"
    )


def test_archive_depth_setting_reaches_inspection(policy_dir: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("顧客.xlsx", xlsx_bytes(customers(20)))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, "x@partner.example", "zip"
    message.set_content("添付します。\n")
    message.add_attachment(
        inner.getvalue(), maintype="application", subtype="zip", filename="a.zip"
    )
    raw = message.as_bytes(policy=SMTP)
    envelope = Envelope("id", SENDER, ("x@partner.example",), Client("127.0.0.1"))
    policy = load_policy(policy_dir).policy
    opened = evaluate(raw, envelope, policy)
    assert [a.personal_rows for a in opened.inspection.attachments] == [0, 20]
    closed = evaluate(raw, envelope, policy, limits=Limits(max_depth=0))
    assert [a.unscannable for a in closed.inspection.attachments] == ["limit"]
    assert closed.decision.rules[0].name == "unscannable-attachment-to-external"
