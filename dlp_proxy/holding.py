"""Held mail: the summary stored with it (what approvers see), never a cell value."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from dlp_proxy.actions.apply import Changes, Modified
from dlp_proxy.actions.notice_context import clean, subject_of, truncate
from dlp_proxy.envelope import Envelope
from dlp_proxy.inspect.model import Attachment
from dlp_proxy.inspect.recipients import Domains, header_addresses
from dlp_proxy.scanner import Verdict, header_section

HEADER_LIMIT = 400


def _header(message: Message, name: str) -> str | None:
    values = message.get_all(name)
    if not values:
        return None
    return truncate(clean(" ".join(str(v) for v in values)), HEADER_LIMIT)


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    """An attachment as approvers see it: counts, kinds, masked samples, never values."""
    return {
        "path": attachment.path,
        "type": attachment.type,
        "size": attachment.size,
        "personal_rows": attachment.personal_rows,
        "persons": attachment.persons,
        "kinds": sorted({c.kind for c in attachment.columns}),
        "columns": [
            {"sheet": c.sheet, "header": c.header, "kind": c.kind} for c in attachment.columns
        ],
        "samples": list(attachment.samples),
        "unscannable": attachment.unscannable,
        "detail": attachment.detail,
        "section": attachment.section,
    }


def summary(
    content: bytes,
    envelope: Envelope,
    verdict: Verdict,
    *,
    internal: Domains,
    changes: Changes,
) -> dict[str, Any]:
    """The JSON-safe record of a held message that the queue, the web UI and notices show."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_section(content))
    visible = set(header_addresses(headers))
    modified: Modified | None = verdict.modified
    return {
        "headers": {
            "from": _header(headers, "From"),
            "to": _header(headers, "To"),
            "cc": _header(headers, "Cc"),
            "subject": subject_of(headers),
            "date": _header(headers, "Date"),
            "message_id": _header(headers, "Message-ID"),
        },
        "recipients": {
            "internal": [a for a in envelope.rcpt_tos if internal.is_internal(a)],
            "external": [a for a in envelope.rcpt_tos if not internal.is_internal(a)],
            "external_visible": verdict.recipients.external_visible,
            "external_envelope_only": verdict.recipients.external_envelope_only,
            "external_domains": list(verdict.recipients.external_domains),
            "shown_in_to_cc": sorted(a for a in visible if not internal.is_internal(a))[:200],
        },
        "attachments": [attachment_json(a) for a in verdict.inspection.attachments],
        "personal_rows": sum(a.personal_rows for a in verdict.inspection.attachments),
        "persons": sum(a.persons for a in verdict.inspection.attachments),
        "decision": verdict.decision.as_json(),
        "rules": [r.name for r in verdict.decision.enforced_rules],
        "release": {
            **changes.as_json(),
            "problem": modified.problem if modified is not None else None,
        },
        "size": len(content),
    }
