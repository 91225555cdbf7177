"""Held mail: the durable, encrypted quarantine store and its audit trail (docs/quarantine.md)."""

from dlp_proxy.quarantine.errors import (
    AlreadyExists,
    ContentUnreadable,
    NotAllowed,
    NotFound,
    Purged,
    QuarantineError,
    QuarantineUnavailable,
    WrongState,
)
from dlp_proxy.quarantine.records import (
    EVENTS,
    FINAL_STATES,
    STATES,
    AuditEvent,
    AuditRecord,
    HeldMessage,
    NewHold,
    OnExpiry,
    Role,
    States,
    User,
)
from dlp_proxy.quarantine.store import Quarantine

__all__ = [
    "EVENTS",
    "FINAL_STATES",
    "STATES",
    "AlreadyExists",
    "AuditEvent",
    "AuditRecord",
    "ContentUnreadable",
    "HeldMessage",
    "NewHold",
    "NotAllowed",
    "NotFound",
    "OnExpiry",
    "Purged",
    "Quarantine",
    "QuarantineError",
    "QuarantineUnavailable",
    "Role",
    "States",
    "User",
    "WrongState",
]
