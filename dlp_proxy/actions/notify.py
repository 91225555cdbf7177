"""Notices to senders, approvers, recipients and admins: Jinja2 templates to RFC 5322 bytes."""

from __future__ import annotations

import email.errors
import email.policy
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

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
    clean,
)
from dlp_proxy.policy.directory import Directory
from dlp_proxy.policy.schema import Language

NoticeKind = Literal[
    "encrypted",
    "encrypted_recipient_password",
    "blocked",
    "admin_alert",
    "held",
    "approval_request",
    "rejected",
    "released",
]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)
LANGUAGES: tuple[Language, ...] = get_args(Language)
BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
# Addresses shown before "and N more".
LIST_LIMIT = 20

# Kinds whose reader is the sender of the message.
_TO_SENDER = frozenset({"encrypted", "blocked", "held", "rejected", "released"})
# 7-bit clean output (quoted-printable or base64 bodies, RFC 2047 headers), CRLF line ends.
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_POLICY_UTF8 = email.policy.SMTPUTF8.clone(cte_type="7bit")


class NoticeError(ValueError):
    """A notice that cannot be made: missing context for its kind, or a broken template."""


@dataclass(frozen=True, slots=True)
class NoticeSettings:
    """How notices are sent and worded; the integrator fills it from policy and settings.

    ``envelope_from`` "" is the null reverse-path (``MAIL FROM:<>``), as for bounces, so a
    notice that cannot be delivered never produces another mail. ``contact`` (an address or
    URL) and ``file_transfer`` (the company's file-transfer service) are shown when set.
    """

    from_address: str
    from_name: str = "dlp-proxy"
    envelope_from: str = ""
    default_language: Language = "ja"
    admin_addresses: tuple[str, ...] = ()
    password_to_recipients: bool = False
    contact: str | None = None
    file_transfer: str | None = None
    timezone: str | None = None
    subject_tag: str = "[dlp-proxy]"

    def __post_init__(self) -> None:
        for address in (self.from_address, *self.admin_addresses):
            _address(address, "a notice address")
        if self.envelope_from:
            _address(self.envelope_from, "the notice envelope sender")
        if self.default_language not in LANGUAGES:
            raise NoticeError(f"default_language must be one of {', '.join(LANGUAGES)}")
        _ = self.zone  # an unknown name fails here, not at the first notice

    @classmethod
    def for_host(cls, hostname: str, **options: Any) -> NoticeSettings:
        """Settings with ``dlp-proxy@<hostname>`` as the From address."""
        return cls(from_address=f"dlp-proxy@{hostname}", **options)

    @property
    def zone(self) -> tzinfo | None:
        if self.timezone is None:
            return None
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise NoticeError(f"unknown time zone {self.timezone!r}") from exc


def _address(value: str, what: str) -> Address:
    """A checked address; a non-ASCII one (SMTPUTF8) is checked with its letters replaced."""
    try:
        checked = Address(addr_spec=_NON_ASCII.sub("x", value))
    except (ValueError, IndexError, email.errors.HeaderParseError) as exc:
        raise NoticeError(f"{what} is not an address: {value!r}") from exc
    if not checked.username or not checked.domain:
        raise NoticeError(f"{what} is not an address: {value!r}")
    if value.isascii():
        return checked
    local, _, domain = value.rpartition("@")
    return Address(username=local, domain=domain)


@dataclass(frozen=True, slots=True)
class Notice:
    """One rendered notice and its envelope: ``sendmail(mail_from, [rcpt_to], content)``.

    ``smtputf8``: an address is not ASCII, so the next hop must accept SMTPUTF8.
    """

    kind: NoticeKind
    language: Language
    mail_from: str
    rcpt_to: str
    content: bytes = field(repr=False)
    smtputf8: bool = False


_LABELS: dict[str, dict[Language, str]] = {
    # column kinds
    "person_name": {"ja": "氏名", "en": "name"},
    "name": {"ja": "氏名", "en": "name"},
    "kana_name": {"ja": "氏名（フリガナ）", "en": "name in kana"},
    "email": {"ja": "メールアドレス", "en": "email address"},
    "phone": {"ja": "電話番号", "en": "phone number"},
    "postal_code": {"ja": "郵便番号", "en": "postal code"},
    "address": {"ja": "住所", "en": "postal address"},
    "birth_date": {"ja": "生年月日", "en": "date of birth"},
    "gender": {"ja": "性別", "en": "gender"},
    "my_number": {"ja": "マイナンバー（個人番号）", "en": "My Number (individual number)"},
    "corporate_number": {"ja": "法人番号", "en": "corporate number"},
    "vin": {"ja": "車台番号（VIN）", "en": "VIN"},
    "chassis_number": {"ja": "車台番号", "en": "chassis number"},
    "licence_plate": {"ja": "自動車登録番号", "en": "licence plate number"},
    "customer_id": {"ja": "顧客番号", "en": "customer ID"},
    "card_number": {"ja": "クレジットカード番号", "en": "card number"},
    "bank_account": {"ja": "口座番号", "en": "bank account number"},
    "company_name": {"ja": "会社名", "en": "company name"},
}
_ACTIONS: dict[str, dict[Language, str]] = {
    "pass": {"ja": "送信", "en": "passed"},
    "tag": {"ja": "タグ付け", "en": "tagged"},
    "encrypt": {"ja": "添付ファイルを暗号化", "en": "attachments encrypted"},
    "bcc": {"ja": "社外宛先をBccに変更", "en": "external addresses moved to Bcc"},
    "hold": {"ja": "承認待ちで保留", "en": "held for approval"},
    "block": {"ja": "送信停止", "en": "blocked"},
}
_UNSCANNABLE: dict[str, dict[Language, str]] = {
    "encrypted": {"ja": "パスワード付き・暗号化", "en": "password-protected or encrypted"},
    "corrupt": {"ja": "ファイルが壊れている", "en": "damaged"},
    "limit": {
        "ja": "大きすぎる・入れ子が深すぎる",
        "en": "too large or nested too deeply to unpack",
    },
    "unsupported": {"ja": "未対応の形式", "en": "in a format that cannot be read"},
    "ambiguous": {
        "ja": "メールソフトによって内容の解釈が異なる構造",
        "en": "built so that mail programs may show different contents",
    },
    "image-only": {
        "ja": "文字情報のない画像のみのPDF",
        "en": "an image-only PDF with no text to read",
    },
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_BLANK_RUNS = re.compile(r"\n(?:[ \t]*\n){2,}")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class Formatter:
    """Words and numbers in the notice's language; templates reach it as ``fmt``."""

    language: Language
    zone: tzinfo | None = None

    def kind(self, kind: str) -> str:
        return _LABELS.get(kind, {}).get(self.language, kind)

    def kinds(self, kinds: Sequence[str]) -> str:
        words = list(dict.fromkeys(self.kind(k) for k in kinds))
        return ("、" if self.language == "ja" else ", ").join(words)

    def action(self, action: str) -> str:
        return _ACTIONS.get(action, {}).get(self.language, action)

    def actions(self, actions: Sequence[str]) -> str:
        return self.join([self.action(a) for a in actions])

    def unscannable(self, reason: str) -> str:
        return _UNSCANNABLE.get(reason, {}).get(self.language, reason)

    def unscannables(self, attachments: Sequence[AttachmentSummary]) -> str:
        reasons = dict.fromkeys(a.unscannable for a in attachments if a.unscannable)
        return self.join([self.unscannable(r) for r in reasons])

    def types(self, attachments: Sequence[AttachmentSummary]) -> str:
        return self.join(list(dict.fromkeys(a.type for a in attachments)))

    def number(self, value: int) -> str:
        return f"{value:,}"

    def size(self, size: int) -> str:
        if size < 1024:
            return f"{size} バイト" if self.language == "ja" else f"{size} bytes"
        if size < 1024 * 1024:
            return f"{size / 1024:.0f} KB"
        return f"{size / 1024 / 1024:.1f} MB"

    def when(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        name = local.tzname() or local.strftime("UTC%z")
        if self.language == "ja":
            return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（{name}）"
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M} {name}"

    def person(self, person: Person) -> str:
        if not person.name:
            return person.address
        if self.language == "ja":
            return f"{person.name}（{person.address}）"
        return f"{person.name} <{person.address}>"

    def names(self, people: Sequence[Person]) -> str:
        """Each person by name, or by address when the directory has no name."""
        return self.join([p.name or p.address for p in people])

    def join(self, items: Sequence[str]) -> str:
        return ("、" if self.language == "ja" else ", ").join(items)


class NoticeRenderer:
    """Render notices from templates named ``<kind>.<lang>.txt.j2`` and ``.html.j2``.

    ``template_dirs`` are searched in order, and the built-in templates last: a file of the
    same name in an earlier directory overrides the built-in one.
    """

    def __init__(self, settings: NoticeSettings, *, template_dirs: Sequence[Path] = ()) -> None:
        self.settings = settings
        dirs = [Path(d) for d in template_dirs]
        if BUILTIN_TEMPLATES not in dirs:
            dirs.append(BUILTIN_TEMPLATES)
        self.template_dirs = tuple(dirs)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(dirs),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def language_for(self, person: Person) -> Language:
        return person.language or self.settings.default_language

    def render(
        self,
        kind: NoticeKind,
        context: NoticeContext,
        *,
        to: Person,
        language: Language | None = None,
        now: datetime | None = None,
    ) -> bytes:
        """The complete notice for ``to``, in ``language`` (else theirs, else the default)."""
        return self._build(kind, context, to=to, language=language, now=now)[0]

    def notice(
        self,
        kind: NoticeKind,
        context: NoticeContext,
        *,
        to: Person,
        now: datetime | None = None,
    ) -> Notice:
        """The notice for one reader, with its envelope."""
        content, smtputf8 = self._build(kind, context, to=to, language=None, now=now)
        return Notice(
            kind=kind,
            language=self.language_for(to),
            mail_from=self.settings.envelope_from,
            rcpt_to=to.address,
            content=content,
            smtputf8=smtputf8,
        )

    def audience(
        self, kind: NoticeKind, context: NoticeContext, *, directory: Directory | None = None
    ) -> tuple[Person, ...]:
        """Who reads this kind: the sender; the approvers; the admins; or, only when
        ``password_to_recipients`` is on, the recipients of the encrypted copy."""
        if kind in _TO_SENDER:
            people: Sequence[Person] = (context.message.sender,)
        elif kind == "admin_alert":
            people = [Person(a) for a in self.settings.admin_addresses]
        elif kind == "approval_request":
            people = context.approval.approvers if context.approval else ()
        elif kind == "encrypted_recipient_password":
            if not self.settings.password_to_recipients or context.encryption is None:
                return ()
            addresses = context.encryption.recipients or context.message.recipients.external
            people = [Person(a) for a in addresses]
        else:
            raise NoticeError(f"unknown notice kind {kind!r}")
        return tuple(_known(p, directory) for p in dict.fromkeys(people))

    def notices(
        self,
        kind: NoticeKind,
        context: NoticeContext,
        *,
        directory: Directory | None = None,
        now: datetime | None = None,
    ) -> tuple[Notice, ...]:
        """One notice per reader of this kind, each in that reader's language."""
        return tuple(
            self.notice(kind, context, to=person, now=now)
            for person in self.audience(kind, context, directory=directory)
        )

    def check(self) -> None:
        """Render every kind in every language from a sample: a broken override template is
        found at start or reload, not at the first blocked message."""
        settings = replace(self.settings, password_to_recipients=True)
        renderer = NoticeRenderer(settings, template_dirs=self.template_dirs)
        context = sample_context()
        problems = []
        for kind in NOTICE_KINDS:
            for language in LANGUAGES:
                try:
                    renderer.render(kind, context, to=context.message.sender, language=language)
                except NoticeError as exc:
                    problems.append(f"{kind}.{language}: {exc}")
        if problems:
            raise NoticeError("; ".join(problems))

    # --- internals ------------------------------------------------------------------------

    def _require(self, kind: NoticeKind, context: NoticeContext) -> None:
        if kind not in NOTICE_KINDS:
            raise NoticeError(f"unknown notice kind {kind!r}")
        approval = context.approval
        if kind in ("encrypted", "encrypted_recipient_password") and context.encryption is None:
            raise NoticeError(f"a {kind} notice needs the encryption (password and archives)")
        if kind == "encrypted_recipient_password" and not self.settings.password_to_recipients:
            raise NoticeError(
                "sending the password to recipients is off (password_to_recipients: false)"
            )
        if kind in ("held", "approval_request", "rejected", "released") and approval is None:
            raise NoticeError(f"a {kind} notice needs the approval details")
        if kind == "held" and approval is not None and not approval.approvers:
            raise NoticeError("a held notice needs at least one approver")
        if (
            kind == "approval_request"
            and approval
            and not (approval.approve_url and approval.reject_url)
        ):
            raise NoticeError("an approval request needs the approve and reject links")

    def _build(
        self,
        kind: NoticeKind,
        context: NoticeContext,
        *,
        to: Person,
        language: Language | None,
        now: datetime | None,
    ) -> tuple[bytes, bool]:
        self._require(kind, context)
        lang = language or self.language_for(to)
        if lang not in LANGUAGES:
            raise NoticeError(f"no notices in language {lang!r}")
        settings = self.settings
        zone = settings.zone
        moment = (now or datetime.now(zone)).astimezone(zone)
        variables: dict[str, Any] = {
            "kind": kind,
            "lang": lang,
            "to": to,
            "message": context.message,
            "decision": context.decision,
            "encryption": context.encryption,
            "approval": context.approval,
            "settings": settings,
            "fmt": Formatter(lang, zone),
            "now": moment,
            "list_limit": LIST_LIMIT,
        }
        try:
            text_module = self._env.get_template(f"{kind}.{lang}.txt.j2").make_module(variables)
            subject = " ".join(str(getattr(text_module, "subject", "")).split())
            if not subject:
                raise NoticeError(f"{kind}.{lang}.txt.j2 sets no subject")
            text = _BLANK_RUNS.sub("\n\n", str(text_module)).strip("\n") + "\n"
            html = self._env.get_template(f"{kind}.{lang}.html.j2").render(
                variables, subject=subject
            )
        except NoticeError:
            raise
        except jinja2.TemplateSyntaxError as exc:
            raise NoticeError(f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}") from exc
        except Exception as exc:  # an override template is code: any failure is its failure
            raise NoticeError(f"{kind}.{lang}: {type(exc).__name__}: {exc}") from exc

        sender = _address(settings.from_address, "the notice From address")
        reader = _address(to.address, "the notice recipient")
        smtputf8 = not (to.address.isascii() and settings.from_address.isascii())
        message = EmailMessage(policy=_POLICY_UTF8 if smtputf8 else _POLICY)
        message["From"] = Address(settings.from_name, sender.username, sender.domain)
        message["To"] = Address(to.name or "", reader.username, reader.domain)
        message["Subject"] = f"{settings.subject_tag} {subject}".strip()
        message["Date"] = format_datetime(moment)
        message["Message-ID"] = f"<{secrets.token_hex(12)}@{sender.domain}>"
        if context.message.message_id:
            message["References"] = context.message.message_id
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-DLP-Notice"] = kind
        message["X-DLP-Queue-ID"] = clean(context.message.queue_id) or "-"
        message.set_content(text, subtype="plain", charset="utf-8")
        message.add_alternative(html, subtype="html", charset="utf-8")
        message["Content-Language"] = lang  # after the body: setting content clears Content-*
        return message.as_bytes(), smtputf8


def _known(person: Person, directory: Directory | None) -> Person:
    if directory is None or (person.name and person.language):
        return person
    found = Person.lookup(person.address, directory)
    return Person(person.address, person.name or found.name, person.language or found.language)


def sample_context() -> NoticeContext:
    """A synthetic context for previews and template checks (no real data)."""
    received = datetime.fromisoformat("2024-05-01T14:03:00+09:00")
    return NoticeContext(
        message=MessageSummary(
            queue_id="18F2A3B4C5D6E7",
            sender=Person("tanaka@example.co.jp", "田中 一郎", "ja"),
            subject="お見積りの件（顧客リスト添付）",
            recipients=RecipientSummary(
                internal=("sato@example.co.jp",),
                external=("buyer@customer.example", "info@partner.example"),
                external_visible=2,
            ),
            attachments=(
                AttachmentSummary(
                    name="顧客リスト.xlsx",
                    type="xlsx",
                    size=183_024,
                    personal_rows=2940,
                    persons=2931,
                    kinds=("person_name", "address", "phone", "email"),
                    samples=("山田 **", "東京都港***", "090-****-5678", "t***@example.jp"),
                ),
                AttachmentSummary(
                    name="旧資料.zip/一覧.xlsx", type="xlsx", unscannable="encrypted"
                ),
            ),
            received=received,
            message_id="<sample.1@example.co.jp>",
        ),
        decision=DecisionSummary(
            action="hold",
            actions=("hold", "encrypt"),
            rules=(
                RuleSummary(
                    "personal-data-to-external",
                    "社外宛てのメールに個人データを含む添付ファイルがあります。",
                    "The mail to external recipients has attachments with personal data.",
                    ("hold", "encrypt"),
                ),
            ),
            policy_version="sample",
        ),
        encryption=Encryption(
            password="Kq7-mZ4t-Wx9p",
            archives=(EncryptedArchive("顧客リスト.zip", ("顧客リスト.xlsx",)),),
        ),
        approval=Approval(
            approvers=(Person("sato@example.co.jp", "佐藤 花子", "ja"),),
            approve_url="https://dlp.example.co.jp/approve/sample",
            reject_url="https://dlp.example.co.jp/reject/sample",
            review_url="https://dlp.example.co.jp/review/sample",
            expires=datetime.fromisoformat("2024-05-03T14:03:00+09:00"),
            decided_by=Person("sato@example.co.jp", "佐藤 花子", "ja"),
            comment="顧客リストは添付せず、ファイル転送サービスで必要な分だけ送ってください。",
        ),
    )
