"""What a notice may show: plain values built from findings, with no field for a raw cell value."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from dlp_proxy.decide import Decision, RuleResult
from dlp_proxy.inspect import mime
from dlp_proxy.inspect.model import Attachment, UnscannableReason
from dlp_proxy.inspect.recipients import Domains, domain_of, header_addresses, normalise
from dlp_proxy.policy.directory import Directory
from dlp_proxy.policy.schema import Action, Language

SUBJECT_LIMIT = 80
NAME_LIMIT = 120
SAMPLE_LIMIT = 40
SAMPLES_PER_ATTACHMENT = 5
COMMENT_LIMIT = 2000
# Every masked sample the detector writes hides part of the value behind this character.
MASK = "*"

_MSG_ID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
_JOINERS = frozenset("\u200d\u034f")


def clean(text: str) -> str:
    """One line of text safe to show: controls become spaces, invisible format characters
    (bidi overrides that disguise ``xlsx.exe``, zero-width spaces) go, whitespace collapses."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            out.append(" ")
        elif category == "Cf" and char not in _JOINERS:
            continue
        else:
            out.append(char)
    return " ".join("".join(out).split())


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in "…" when cut; never splits a base character from
    its combining marks, variation selectors or joiners."""
    if len(text) <= limit:
        return text
    cut = max(limit - 1, 1)
    while cut > 1 and (_attached(text[cut]) or text[cut - 1] in _JOINERS):
        cut -= 1
    return text[:cut].rstrip() + "…"


def _attached(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char in _JOINERS
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
    )


def subject_of(message: Message) -> str:
    """The Subject header decoded (RFC 2047, 8-bit guessed, ISO-2022-JP with NEC characters),
    cleaned and cut to ``SUBJECT_LIMIT`` characters; "" when there is none."""
    raw = next((str(v) for k, v in message.raw_items() if k.lower() == "subject"), None)
    if raw is None:
        return ""
    return truncate(clean(mime.header_text(raw)), SUBJECT_LIMIT)


def masked_samples(samples: Iterable[str]) -> tuple[str, ...]:
    """Samples fit to show: only masked ones (a value with no mask character is dropped, never
    shown), each cut short, at most ``SAMPLES_PER_ATTACHMENT``, without repeats."""
    out: list[str] = []
    for sample in samples:
        text = truncate(clean(sample), SAMPLE_LIMIT)
        if MASK in text and text not in out:
            out.append(text)
        if len(out) == SAMPLES_PER_ATTACHMENT:
            break
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone a notice is about or for; ``language`` None means the policy's default."""

    address: str
    name: str | None = None
    language: Language | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", clean(self.address).strip("<>"))
        if self.name is not None:
            object.__setattr__(self, "name", truncate(clean(self.name), NAME_LIMIT) or None)

    @classmethod
    def lookup(cls, address: str, directory: Directory | None) -> Person:
        """The person as the directory knows them (name, language), else just the address."""
        entry = directory.lookup(address) if directory is not None else None
        if entry is None:
            return cls(address)
        return cls(address, entry.name, entry.language)


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """A rule that matched, with the reason the policy gives in both languages."""

    name: str
    reason_ja: str
    reason_en: str
    actions: tuple[Action, ...] = ()

    def reason(self, language: Language) -> str:
        return self.reason_ja if language == "ja" else self.reason_en

    @classmethod
    def of(cls, rule: RuleResult) -> RuleSummary:
        return cls(rule.name, rule.reason.ja, rule.reason.en, rule.actions)


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """The action taken and the enforcing rules that asked for it (monitor-only rules are
    left out: they did nothing to the message)."""

    action: Action
    actions: tuple[Action, ...] = ()
    rules: tuple[RuleSummary, ...] = ()
    policy_version: str = ""

    @classmethod
    def of(cls, decision: Decision) -> DecisionSummary:
        return cls(
            action=decision.action,
            actions=decision.actions,
            rules=tuple(RuleSummary.of(r) for r in decision.enforced_rules),
            policy_version=decision.policy_version,
        )


@dataclass(frozen=True, slots=True)
class AttachmentSummary:
    """One attachment as a notice shows it: name, type, counts, column kinds, masked samples.

    Column headers are not carried: in a table without a header row the detector's "header"
    may be a row of data.
    """

    name: str
    type: str
    size: int = 0
    personal_rows: int = 0
    persons: int = 0
    kinds: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    unscannable: UnscannableReason | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", truncate(clean(self.name), NAME_LIMIT) or "?")
        object.__setattr__(self, "type", truncate(clean(self.type), 20))
        object.__setattr__(self, "kinds", tuple(dict.fromkeys(self.kinds)))
        object.__setattr__(self, "samples", masked_samples(self.samples))

    @property
    def flagged(self) -> bool:
        """Worth a line in a notice: personal data found, or not inspectable."""
        return self.personal_rows > 0 or self.unscannable is not None

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentSummary:
        return cls(
            name=attachment.path,
            type=attachment.type,
            size=attachment.size,
            personal_rows=attachment.personal_rows,
            persons=attachment.persons,
            kinds=tuple(c.kind for c in attachment.columns),
            samples=attachment.samples,
            unscannable=attachment.unscannable,
        )


@dataclass(frozen=True, slots=True)
class RecipientSummary:
    """Envelope recipients split internal/external; ``external_visible`` counts the external
    addresses shown in To/Cc (every recipient sees those). ``domains``: the external domains
    as the policy counts them (a routed address by where it routes), when ``split`` made it."""

    internal: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    external_visible: int = 0
    domains: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "internal", tuple(clean(a) for a in self.internal))
        object.__setattr__(self, "external", tuple(clean(a) for a in self.external))
        if self.domains is not None:
            object.__setattr__(self, "domains", tuple(clean(d) for d in self.domains))

    @property
    def external_domains(self) -> tuple[str, ...]:
        if self.domains is not None:
            return self.domains
        return tuple(sorted({domain_of(a) for a in self.external}))

    @classmethod
    def split(
        cls, envelope_to: Iterable[str], *, internal: Domains, visible: Iterable[str] = ()
    ) -> RecipientSummary:
        rcpts = list(dict.fromkeys(normalise(a) for a in envelope_to))
        shown = {normalise(a) for a in visible}
        external = tuple(a for a in rcpts if not internal.is_internal(a))
        return cls(
            internal=tuple(a for a in rcpts if internal.is_internal(a)),
            external=external,
            external_visible=len({a for a in shown if not internal.is_internal(a)}),
            domains=tuple(sorted({d for a in external for d in internal.reached(a)})),
        )


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """The message a notice is about: our queue id (in logs and the 250 reply), the sender,
    the decoded subject, recipients and attachments."""

    queue_id: str
    sender: Person
    subject: str = ""
    recipients: RecipientSummary = field(default_factory=RecipientSummary)
    attachments: tuple[AttachmentSummary, ...] = ()
    received: datetime | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "queue_id", truncate(clean(self.queue_id), 64))
        object.__setattr__(self, "subject", truncate(clean(self.subject), SUBJECT_LIMIT))
        mid = clean(self.message_id or "")
        object.__setattr__(self, "message_id", mid if _MSG_ID.fullmatch(mid) else None)

    @property
    def flagged(self) -> tuple[AttachmentSummary, ...]:
        return tuple(a for a in self.attachments if a.flagged)

    @property
    def personal_rows(self) -> int:
        return sum(a.personal_rows for a in self.attachments)

    @property
    def persons(self) -> int:
        return sum(a.persons for a in self.attachments)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for a in self.attachments for k in a.kinds))

    @property
    def unscannable(self) -> tuple[AttachmentSummary, ...]:
        return tuple(a for a in self.attachments if a.unscannable is not None)

    @classmethod
    def of(
        cls,
        message: Message,
        *,
        queue_id: str,
        sender: Person,
        envelope_to: Sequence[str],
        internal: Domains,
        attachments: Iterable[Attachment],
        received: datetime | None = None,
    ) -> MessageSummary:
        """Build from the parsed headers, the envelope and the inspection's attachments."""
        return cls(
            queue_id=queue_id,
            sender=sender,
            subject=subject_of(message),
            recipients=RecipientSummary.split(
                envelope_to, internal=internal, visible=header_addresses(message)
            ),
            attachments=tuple(AttachmentSummary.of(a) for a in attachments),
            received=received,
            message_id=str(message.get("Message-ID", "") or "").strip() or None,
        )


@dataclass(frozen=True, slots=True)
class EncryptedArchive:
    """One encrypted zip as delivered, and the original attachments inside it."""

    name: str
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", truncate(clean(self.name), NAME_LIMIT) or "?")
        object.__setattr__(
            self, "members", tuple(truncate(clean(m), NAME_LIMIT) for m in self.members)
        )


@dataclass(frozen=True, slots=True)
class Encryption:
    """What the encrypt action did: the archives, their password, and who received them
    (empty: the message's external recipients)."""

    password: str = field(repr=False)
    archives: tuple[EncryptedArchive, ...]
    recipients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        text = self.password
        if not text or not text.isprintable() or any(char.isspace() for char in text):
            raise ValueError("the password must be non-empty printable text without spaces")


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"https?://[!-~]+", value):
        raise ValueError(f"not an http(s) URL: {value[:80]!r}")
    return value


@dataclass(frozen=True, slots=True)
class Approval:
    """The held-mail workflow: who approves, the signed links for the approver, and once
    decided, who decided and their comment."""

    approvers: tuple[Person, ...] = ()
    approve_url: str | None = None
    reject_url: str | None = None
    review_url: str | None = None
    expires: datetime | None = None
    decided_by: Person | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        for name in ("approve_url", "reject_url", "review_url"):
            object.__setattr__(self, name, _url(getattr(self, name)))
        if self.comment is not None:
            lines = (clean(line) for line in self.comment.splitlines())
            text = "\n".join(lines).strip()
            object.__setattr__(self, "comment", truncate(text, COMMENT_LIMIT) or None)


@dataclass(frozen=True, slots=True)
class NoticeContext:
    """Everything any notice may show; each kind's templates use the part meant for their
    reader (admin alerts, for one, show counts only)."""

    message: MessageSummary
    decision: DecisionSummary
    encryption: Encryption | None = None
    approval: Approval | None = None
