"""Pure inspection: message bytes in, findings out; no sockets, no logging of content."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes
from email.policy import compat32


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf MIME part."""

    content_type: str
    filename: str | None
    size: int


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything the detectors found in one message."""

    parts: tuple[Part, ...]


def inspect_message(raw: bytes) -> Inspection:
    """Walk the MIME tree of ``raw``; detectors hang off this walk (see the detection issue)."""
    message = message_from_bytes(raw, policy=compat32)
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=False)
        parts.append(
            Part(
                content_type=part.get_content_type(),
                filename=part.get_filename(),
                size=len(payload) if isinstance(payload, str | bytes) else 0,
            )
        )
    return Inspection(parts=tuple(parts))
