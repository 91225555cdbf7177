"""The values the quarantine store takes and gives: new holds, held messages, audit, users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

States = Literal["held", "approved", "released", "rejected", "expired", "withdrawn"]
STATES: tuple[States, ...] = ("held", "approved", "released", "rejected", "expired", "withdrawn")
FINAL_STATES: tuple[States, ...] = ("released", "rejected", "expired", "withdrawn")
OnExpiry = Literal["reject", "release"]
Role = Literal["admin", "approver"]
ROLES: tuple[Role, ...] = ("admin", "approver")
LANGUAGES = ("ja", "en")

# Audit event names in use; the store accepts others (the web UI may add its own).
EVENTS = (
    "decided",
    "held",
    "approved",
    "rejected",
    "expired",
    "withdrawn",
    "released",
    "release_failed",
    "purged",
    "user_added",
    "user_disabled",
    "user_enabled",
    "password_changed",
    "signed_in",
    "sign_in_failed",
)


@dataclass(frozen=True, slots=True)
class NewHold:
    """A message to hold, as the SMTP side hands it over; ``content`` is the raw message."""

    id: str
    sender: str
    recipients: tuple[str, ...]
    mail_options: tuple[str, ...]
    client: Mapping[str, Any]
    subject: str
    summary: Mapping[str, Any]
    policy_version: str
    approvers: tuple[str, ...]
    expires_at: datetime
    content: bytes = field(repr=False)
    received_at: datetime | None = None  # None: now


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """What ``get`` and ``list`` return: everything but the content."""

    id: str
    state: States
    received_at: datetime
    sender: str
    recipients: tuple[str, ...]
    mail_options: tuple[str, ...]
    client: dict[str, Any]
    subject: str
    summary: dict[str, Any]
    policy_version: str
    approvers: tuple[str, ...]
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    released_at: datetime | None
    attempts: int
    last_error: str | None
    purged: bool
    size: int
    next_attempt_at: datetime | None

    @property
    def rules(self) -> tuple[str, ...]:
        """Names of the rules that held the message, from the summary's decision.

        Enforced rules asking for ``hold`` when the decision lists any; else every rule listed.
        """
        decision = self.summary.get("decision")
        listed = decision.get("rules") if isinstance(decision, dict) else None
        if not isinstance(listed, list):
            return ()
        rules = [r for r in listed if isinstance(r, dict) and isinstance(r.get("name"), str)]
        holding = [
            r
            for r in rules
            if r.get("mode", "enforce") == "enforce" and "hold" in (r.get("actions") or ())
        ]
        return tuple(r["name"] for r in holding or rules)

    def may_decide(self, actor: str) -> bool:
        """Whether ``actor`` is one of this message's approvers (admins are the caller's call)."""
        return actor.strip().lower() in self.approvers

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form (times in ISO 8601 UTC), with the names of the rules that held it."""
        return {
            "id": self.id,
            "state": self.state,
            "received_at": _iso(self.received_at),
            "sender": self.sender,
            "recipients": list(self.recipients),
            "rules": list(self.rules),
            "subject": self.subject,
            "approvers": list(self.approvers),
            "expires_at": _iso(self.expires_at),
            "decided_by": self.decided_by,
            "decided_at": _iso(self.decided_at),
            "comment": self.comment,
            "released_at": _iso(self.released_at),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_attempt_at": _iso(self.next_attempt_at),
            "purged": self.purged,
            "size": self.size,
            "policy_version": self.policy_version,
            "mail_options": list(self.mail_options),
            "client": self.client,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing that happened: who (actor), through what (via), why (detail), under which
    policy version. ``detail`` is JSON-safe and never holds cell values."""

    at: datetime
    message_id: str | None
    event: str
    actor: str
    via: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    policy_version: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit event as stored, with its sequence number (the order of the trail)."""

    seq: int
    at: datetime
    message_id: str | None
    event: str
    actor: str
    via: str
    detail: dict[str, Any]
    policy_version: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "message_id": self.message_id,
            "event": self.event,
            "actor": self.actor,
            "via": self.via,
            "detail": self.detail,
            "policy_version": self.policy_version,
        }


@dataclass(frozen=True, slots=True)
class User:
    """A web UI user (never the password hash)."""

    email: str
    role: Role
    language: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "role": self.role,
            "language": self.language,
            "disabled": self.disabled,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
