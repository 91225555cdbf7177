"""Errors of the quarantine store, each in its place in dlp_proxy.errors' tree."""

from __future__ import annotations

from dlp_proxy.errors import DlpProxyError, TemporaryFailure


class QuarantineError(DlpProxyError):
    """Base of the errors the quarantine store raises on purpose."""


class NotFound(QuarantineError):
    """No held message (or user) by that id."""


class AlreadyExists(QuarantineError):
    """A held message or a user with that id or address is there already."""


class WrongState(QuarantineError):
    """The message is not in the state the transition starts from."""

    def __init__(self, message_id: str, state: str, wanted: str) -> None:
        super().__init__(f"message {message_id} is {state}, not {wanted}")
        self.message_id = message_id
        self.state = state
        self.wanted = wanted


class NotAllowed(QuarantineError):
    """The actor may not do this to this message (not an approver, not the sender, not the
    holder of the release lease)."""


class Purged(QuarantineError):
    """The content of this message was removed after the retention period."""


class ContentUnreadable(QuarantineError):
    """The stored content cannot be decrypted: its key is not configured, or it was tampered
    with or moved to another row."""


class QuarantineUnavailable(TemporaryFailure, QuarantineError):
    """The database cannot be reached or is locked; held mail gets 451 and is retried."""
