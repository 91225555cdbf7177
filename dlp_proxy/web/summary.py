"""The ``summary`` stored with a held message: what the pages show, built once at hold time.

``make_summary`` builds it (the pipeline calls it when it holds a message); ``Summary`` reads
it back, leniently: a key that is missing shows as empty, never as an error page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from email.message import Message
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from dlp_proxy.actions.notice_context import MessageSummary, clean, masked_samples, truncate
from dlp_proxy.decide import Decision
from dlp_proxy.inspect import mime

SUMMARY_VERSION = 1
HEADER_NAMES = ("from", "to", "cc", "subject", "date", "message_id")
HEADER_LIMIT = 2000


class _Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Headers(_Lenient):
    """Header fields as shown: decoded (RFC 2047), cleaned, cut to ``HEADER_LIMIT``."""

    from_: str = Field("", alias="from")
    to: str = ""
    cc: str = ""
    subject: str = ""
    date: str = ""
    message_id: str = ""


class Recipients(_Lenient):
    """Envelope recipients split internal/external; ``external_visible`` counts the external
    addresses in To/Cc."""

    internal: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    external_visible: int = 0
    external_domains: tuple[str, ...] = ()


class AttachmentInfo(_Lenient):
    """One file (a MIME part, or ``a.zip/b.xlsx``) with counts, column kinds, masked samples."""

    name: str = Field("?", validation_alias=AliasChoices("path", "name"))
    type: str = ""
    size: int = 0
    personal_rows: int = 0
    persons: int = 0
    kinds: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    unscannable: str | None = None


class Reason(_Lenient):
    ja: str = ""
    en: str = ""


class RuleInfo(_Lenient):
    """A rule that matched, its reason in both languages and one line per condition tested."""

    name: str
    mode: str = "enforce"
    actions: tuple[str, ...] = ()
    reason: Reason = Reason()
    why: tuple[str, ...] = ()


class DecisionInfo(_Lenient):
    action: str = "hold"
    actions: tuple[str, ...] = ()
    mode: str = "enforce"
    policy_version: str = ""
    rules: tuple[RuleInfo, ...] = ()


class Summary(_Lenient):
    """The whole summary; ``Summary.read(held.summary)`` never raises."""

    version: int = SUMMARY_VERSION
    headers: Headers = Headers.model_validate({})
    recipients: Recipients = Recipients()
    attachments: tuple[AttachmentInfo, ...] = ()
    decision: DecisionInfo = DecisionInfo()

    @classmethod
    def read(cls, data: Mapping[str, Any] | None) -> Summary:
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError:
            # A malformed part must not hide the rest: keep what validates on its own.
            parts: dict[str, Any] = {}
            for key, model in (
                ("headers", Headers),
                ("recipients", Recipients),
                ("decision", DecisionInfo),
            ):
                with contextlib.suppress(ValidationError):
                    parts[key] = model.model_validate((data or {}).get(key) or {})
            attachments = []
            for item in (data or {}).get("attachments") or ():
                try:
                    attachments.append(AttachmentInfo.model_validate(item))
                except ValidationError:
                    attachments.append(AttachmentInfo(name="?", unscannable="corrupt"))
            return cls(**parts, attachments=tuple(attachments))

    @property
    def personal_rows(self) -> int:
        return sum(a.personal_rows for a in self.attachments)

    @property
    def persons(self) -> int:
        return sum(a.persons for a in self.attachments)

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.decision.rules)


def headers_of(message: Message) -> dict[str, str]:
    """From, To, Cc, Subject, Date and Message-ID, decoded and cleaned (first of each)."""
    wanted = {"from": "from", "to": "to", "cc": "cc", "subject": "subject", "date": "date"}
    wanted["message-id"] = "message_id"
    out = dict.fromkeys(HEADER_NAMES, "")
    for name, value in message.raw_items():
        key = wanted.get(name.lower())
        if key is None or out[key]:
            continue
        out[key] = truncate(clean(mime.header_text(str(value))), HEADER_LIMIT)
    return out


def make_summary(
    message: MessageSummary, decision: Decision, *, headers: Mapping[str, str]
) -> dict[str, Any]:
    """The JSON-safe summary for ``NewHold.summary``: counts, column kinds and masked samples,
    never a cell value (samples without a mask character are dropped)."""
    recipients = message.recipients
    return {
        "version": SUMMARY_VERSION,
        "headers": {
            key: truncate(clean(headers.get(key, "")), HEADER_LIMIT) for key in HEADER_NAMES
        },
        "recipients": {
            "internal": list(recipients.internal),
            "external": list(recipients.external),
            "external_visible": recipients.external_visible,
            "external_domains": list(recipients.external_domains),
        },
        "attachments": [
            {
                "path": a.name,
                "type": a.type,
                "size": a.size,
                "personal_rows": a.personal_rows,
                "persons": a.persons,
                "kinds": list(a.kinds),
                "samples": list(masked_samples(a.samples)),
                "unscannable": a.unscannable,
            }
            for a in message.attachments
        ],
        "decision": {
            "action": decision.action,
            "actions": list(decision.actions),
            "mode": decision.mode,
            "policy_version": decision.policy_version,
            "rules": [
                {
                    "name": r.name,
                    "mode": r.mode,
                    "actions": list(r.actions),
                    "reason": {"ja": r.reason.ja, "en": r.reason.en},
                    "why": list(r.why),
                }
                for r in decision.enforced_rules
            ],
        },
    }
