"""Pure inspection: message bytes in, findings out; no sockets, no logging of content."""

from __future__ import annotations

from dataclasses import dataclass

from dlp_proxy.inspect import files
from dlp_proxy.inspect.archives import Limits
from dlp_proxy.inspect.model import Attachment, Column, Unscannable
from dlp_proxy.inspect.vocabulary import Vocabulary

__all__ = [
    "Attachment",
    "Column",
    "Inspection",
    "Limits",
    "Unscannable",
    "inspect_file",
    "inspect_message",
]

DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything the detectors found in one message: each file in it once, in message order,
    containers (zip, attached messages) before their contents and with no rows of their own."""

    attachments: tuple[Attachment, ...]

    @property
    def personal_rows(self) -> int:
        return sum(attachment.personal_rows for attachment in self.attachments)

    @property
    def unscannable(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.unscannable is not None)


def inspect_message(
    raw: bytes, *, limits: Limits = DEFAULT_LIMITS, vocabulary: Vocabulary | None = None
) -> Inspection:
    """Walk every MIME part of ``raw`` (never re-serialised) and every file inside them."""
    return Inspection(attachments=files.inspect_message(raw, limits=limits, vocabulary=vocabulary))


def inspect_file(
    data: bytes,
    name: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    vocabulary: Vocabulary | None = None,
) -> tuple[Attachment, ...]:
    """Inspect one file, typed by its content; ``name`` is its path in findings and a hint."""
    return files.inspect_file(data, name, limits=limits, vocabulary=vocabulary)
