"""Shared helpers for the notice tests: contexts, settings, and reading a rendered notice back."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

from dlp_proxy.actions.notice_context import (
    Approval,
    AttachmentSummary,
    DecisionSummary,
    EncryptedArchive,
    Encryption,
    MessageSummary,
    NoticeContext,
    Person,
    RecipientSummary,
    RuleSummary,
)
from dlp_proxy.actions.notify import NoticeSettings

NOW = datetime.fromisoformat("2024-05-01T14:05:00+09:00")
SENDER = Person("tanaka@example.co.jp", "Tanaka Ichiro")
APPROVER = Person("sato@example.co.jp", "Sato Hanako")
PASSWORD = "Qv8-Tz3m-Hr6k"
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
HIRAGANA = re.compile(r"[\u3041-\u309f]")


def settings(**options: object) -> NoticeSettings:
    base = NoticeSettings(
        from_address="dlp-proxy@mx.example.co.jp",
        admin_addresses=("admin@example.co.jp", "soc@example.co.jp"),
        contact="helpdesk@example.co.jp",
        file_transfer="https://files.example.co.jp/",
        timezone="Asia/Tokyo",
    )
    return replace(base, **options)  # type: ignore[arg-type]


def context(
    *,
    subject: str = "Quotation with customer list",
    attachment_name: str = "customers.xlsx",
    samples: tuple[str, ...] = ("Y**** T***", "090-****-5678"),
    sender: Person = SENDER,
    external: tuple[str, ...] = ("buyer@customer.example", "info@partner.example"),
    comment: str = "Please send only the rows they need.",
    reason_en: str = "The mail to external recipients has attachments with personal data.",
    password: str = PASSWORD,
) -> NoticeContext:
    """A context with every part filled, so one context renders every kind; ASCII only by
    default, so an English notice of it must be free of Japanese."""
    return NoticeContext(
        message=MessageSummary(
            queue_id="18F2A3B4C5D6E",
            sender=sender,
            subject=subject,
            recipients=RecipientSummary(
                internal=("suzuki@example.co.jp",), external=external, external_visible=2
            ),
            attachments=(
                AttachmentSummary(
                    name=attachment_name,
                    type="xlsx",
                    size=183_024,
                    personal_rows=2940,
                    persons=2931,
                    kinds=("person_name", "phone", "address"),
                    samples=samples,
                ),
                AttachmentSummary(name="old.zip/list.xlsx", type="xlsx", unscannable="encrypted"),
            ),
            received=datetime.fromisoformat("2024-05-01T14:03:00+09:00"),
            message_id="<original.42@example.co.jp>",
        ),
        decision=DecisionSummary(
            action="hold",
            actions=("hold", "encrypt"),
            rules=(
                RuleSummary(
                    "personal-data-to-external",
                    "社外宛てのメールに個人データを含む添付ファイルがあります。",
                    reason_en,
                    ("hold", "encrypt"),
                ),
            ),
            policy_version="abc123",
        ),
        encryption=Encryption(
            password=password,
            archives=(EncryptedArchive("customers.zip", (attachment_name,)),),
        ),
        approval=Approval(
            approvers=(APPROVER,),
            approve_url="https://dlp.example.co.jp/a/approve?t=1&u=2",
            reject_url="https://dlp.example.co.jp/a/reject?t=1&u=2",
            review_url="https://dlp.example.co.jp/a/review?t=1",
            expires=datetime.fromisoformat("2024-05-03T14:03:00+09:00"),
            decided_by=APPROVER,
            comment=comment,
        ),
    )


@dataclass
class Read:
    """A rendered notice parsed back with the email package."""

    raw: bytes
    message: EmailMessage
    text: str
    html: str

    @property
    def everything(self) -> str:
        """Headers decoded, both bodies, and the raw bytes as text."""
        headers = "\n".join(f"{k}: {v}" for k, v in self.message.items())
        return "\n".join((headers, self.text, self.html, self.raw.decode("ascii", "replace")))


def read(raw: bytes) -> Read:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return Read(raw, message, text.get_content(), html.get_content())


VOID = {"meta", "br", "hr", "img", "input", "link"}


class TagBalance(HTMLParser):
    """Records unbalanced tags: every non-void element must close, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def html_problems(html: str) -> list[str]:
    parser = TagBalance()
    parser.feed(html)
    parser.close()
    return parser.problems + [f"<{tag}> never closed" for tag in parser.stack]
