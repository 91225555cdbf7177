"""Notices never carry what they must not: raw cell values, the password, admins' personal data."""

from __future__ import annotations

import shutil
from dataclasses import replace
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest

from dlp_proxy.actions.notice_context import (
    AttachmentSummary,
    DecisionSummary,
    MessageSummary,
    Person,
)
from dlp_proxy.actions.notify import LANGUAGES, NOTICE_KINDS, NoticeRenderer
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.inspect.model import Attachment, Column
from dlp_proxy.policy.load import load_policy
from dlp_proxy.scanner import evaluate
from tests.builders import customers, message, xlsx_bytes
from tests.notices import APPROVER, PASSWORD, SENDER, context, read, settings

REPO = Path(__file__).resolve().parent.parent
CASES = [(kind, lang) for kind in NOTICE_KINDS for lang in LANGUAGES]
IDS = [f"{kind}-{lang}" for kind, lang in CASES]

# Full values that reach the context only through fields no template may show.
CANARY_NAME = "山本 美咲"
CANARY_RAW_SAMPLE = "山本美咲 東京都港区芝公園4-2-8 03-5555-0100"
CANARY_HEADER = "CANARYHEADER"
CANARY_DETAIL = "CANARYDETAIL"


def reader(kind: str) -> Person:
    return {
        "approval_request": APPROVER,
        "admin_alert": Person("admin@example.co.jp"),
        "encrypted_recipient_password": Person("buyer@customer.example"),
    }.get(kind, SENDER)


def render_all(ctx, kinds=NOTICE_KINDS):  # type: ignore[no-untyped-def]
    renderer = NoticeRenderer(settings(password_to_recipients=True))
    for kind in kinds:
        for lang in LANGUAGES:
            yield kind, lang, read(renderer.render(kind, ctx, to=reader(kind), language=lang))


def test_raw_values_cannot_enter_the_context():
    """A header that is really a data row, an unmasked "sample" and the detail text are
    dropped when an inspection finding becomes a notice's attachment."""
    finding = Attachment(
        path="list.xlsx",
        type="xlsx",
        size=1000,
        personal_rows=2,
        persons=2,
        columns=(
            Column("Sheet1", CANARY_NAME, "person_name", 0),
            Column("Sheet1", CANARY_HEADER, "phone", 1),
        ),
        samples=(CANARY_RAW_SAMPLE, CANARY_NAME, "山本 **"),
        detail=CANARY_DETAIL,
    )
    summary = AttachmentSummary.of(finding)
    assert summary.samples == ("山本 **",)
    assert summary.kinds == ("person_name", "phone")
    assert {"header", "detail", "rows", "columns"}.isdisjoint(
        AttachmentSummary.__dataclass_fields__
    )
    ctx = context()
    ctx = replace(ctx, message=replace(ctx.message, attachments=(summary,)))
    for kind, lang, notice in render_all(ctx):
        everything = notice.everything
        for canary in (CANARY_NAME, CANARY_RAW_SAMPLE, CANARY_HEADER, CANARY_DETAIL, "山本美咲"):
            assert canary not in everything, (kind, lang, canary)
        if kind in ("blocked", "held", "approval_request"):
            assert "山本 **" in notice.text  # the masked sample is what shows


@pytest.mark.parametrize("lang", LANGUAGES)
def test_admin_alert_has_counts_and_no_personal_data(lang: str):
    ctx = context(
        subject="Customer list for Mr Yamamoto",
        attachment_name="yamamoto-family.xlsx",
        samples=("Y******* M****",),
        external=("misaki.yamamoto@gmail.example", "ken@partner.example"),
        comment="private comment",
    )
    renderer = NoticeRenderer(settings())
    notice = read(
        renderer.render("admin_alert", ctx, to=Person("admin@example.co.jp"), language=lang)
    )
    forbidden = [
        "Customer list for Mr Yamamoto",
        "yamamoto-family",
        "Y******* M****",
        "misaki.yamamoto",
        "gmail.example",
        "ken@partner.example",
        "suzuki@example.co.jp",  # internal recipients are not the admin's business either
        "customers.zip",
        "private comment",
        "dlp.example.co.jp/a/",
        PASSWORD,
        SENDER.name or "",
    ]
    for value in forbidden:
        assert value not in notice.everything, value
    # what the admin does get: who, what, how many, which rules, and the reference
    for value in (
        "tanaka@example.co.jp",
        "2,940",
        "2,931",
        "personal-data-to-external",
        "18F2A3B4C5D6E",
    ):
        assert value in notice.text, value
    assert {"ja": "社外 2件", "en": "2 external"}[lang] in notice.text


@pytest.mark.parametrize(("kind", "lang"), CASES, ids=IDS)
def test_the_password_appears_only_in_the_password_notices(kind: str, lang: str):
    renderer = NoticeRenderer(settings(password_to_recipients=True))
    notice = read(renderer.render(kind, context(), to=reader(kind), language=lang))  # type: ignore[arg-type]
    shown = PASSWORD in notice.text and PASSWORD in notice.html
    assert shown is (kind in ("encrypted", "encrypted_recipient_password"))
    if not shown:
        assert PASSWORD not in notice.everything


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("policy")
    for file in (REPO / "policies").glob("*.yaml"):
        shutil.copy(file, directory)
    (directory / "local.yaml").write_text("internal_domains: [example.co.jp]\n")
    return directory


def test_notices_from_a_real_inspection_never_show_a_full_value(policy_dir: Path):
    """A real workbook through inspection and the shipped policy: every notice, both
    languages, shows counts and masked samples but not one complete cell of the sheet."""
    rows = customers(40, seed=11)
    mail: EmailMessage = message(
        attachments=[(xlsx_bytes(rows), "application/octet-stream", "顧客リスト.xlsx")]
    )
    mail.replace_header("To", "buyer@customer.example")
    mail["Cc"] = "sato@example.co.jp"
    raw = mail.as_bytes()
    policy = load_policy(policy_dir).policy
    envelope = Envelope(
        message_id="18F2A3B4C5D6F",
        mail_from="tanaka@example.co.jp",
        rcpt_tos=("buyer@customer.example", "sato@example.co.jp"),
        client=Client("127.0.0.1"),
    )
    verdict = evaluate(raw, envelope, policy)
    assert verdict.decision.action == "hold"
    assert verdict.inspection.attachments[0].personal_rows == 40
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    summary = MessageSummary.of(
        headers,
        queue_id=envelope.message_id,
        sender=Person("tanaka@example.co.jp", "田中 一郎", "ja"),
        envelope_to=envelope.rcpt_tos,
        internal=policy.internal,
        attachments=verdict.inspection.attachments,
    )
    assert summary.subject == "資料送付"
    assert summary.recipients.external == ("buyer@customer.example",)
    assert summary.recipients.internal == ("sato@example.co.jp",)
    assert summary.recipients.external_visible == 1
    ctx = replace(context(), message=summary, decision=DecisionSummary.of(verdict.decision))
    assert [r.name for r in ctx.decision.rules] == ["personal-data-to-external"]

    full_values = {value for row in rows for value in row}
    full_values |= {row[0].replace(" ", "").replace("\u3000", "") for row in rows}
    shown_samples = 0
    for kind, lang, notice in render_all(ctx):
        everything = notice.everything
        leaked = sorted(v for v in full_values if v in everything)
        assert not leaked, (kind, lang, leaked[:3])
        shown_samples += sum(s in notice.text for s in summary.attachments[0].samples)
        if kind == "blocked":
            assert {"ja": "40行", "en": "40 rows"}[lang] in notice.text
    assert summary.attachments[0].samples and shown_samples > 0
