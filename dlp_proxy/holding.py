"""Held mail: the summary stored with it (what approvers see), never a cell value."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from dlp_proxy.actions.apply import Changes, Modified
from dlp_proxy.actions.notice_context import clean, subject_of, truncate
from dlp_proxy.decide import Decision, RuleResult
from dlp_proxy.envelope import Envelope
from dlp_proxy.inspect.model import Attachment, Column
from dlp_proxy.inspect.recipients import Domains, header_addresses
from dlp_proxy.policy.schema import Texts
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


def headers_of(content: bytes) -> Message:
    """The header section only, parsed (the body is never read)."""
    return BytesHeaderParser(policy=compat32).parsebytes(header_section(content))


def summary(
    content: bytes,
    envelope: Envelope,
    verdict: Verdict,
    *,
    internal: Domains,
    changes: Changes,
) -> dict[str, Any]:
    """The JSON-safe record of a held message that the queue, the web UI and notices show."""
    headers = headers_of(content)
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


def attachments_of(summary: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The attachments as stored in a held message's summary (counts and samples only)."""
    out = []
    for item in summary.get("attachments") or ():
        columns = tuple(
            Column(str(c.get("sheet")), c.get("header"), str(c.get("kind")), index)
            for index, c in enumerate(item.get("columns") or ())
        )
        out.append(
            Attachment(
                path=str(item.get("path")),
                type=str(item.get("type")),
                size=int(item.get("size") or 0),
                personal_rows=int(item.get("personal_rows") or 0),
                persons=int(item.get("persons") or 0),
                columns=columns,
                samples=tuple(item.get("samples") or ()),
                unscannable=item.get("unscannable"),
                detail=item.get("detail"),
                section=item.get("section"),
            )
        )
    return tuple(out)


def decision_of(summary: Mapping[str, Any]) -> Decision:
    """The decision as stored in a held message's summary."""
    data = summary.get("decision") or {}
    rules = tuple(
        RuleResult(
            name=str(r.get("name")),
            matched=bool(r.get("matched", True)),
            mode=r.get("mode", "enforce"),
            actions=tuple(r.get("actions") or ()),
            reason=Texts(**(r.get("reason") or {"ja": "-", "en": "-"})),
            why=tuple(r.get("why") or ()),
        )
        for r in data.get("rules") or ()
    )
    return Decision(
        action=data.get("action", "hold"),
        actions=tuple(data.get("actions") or ("hold",)),
        rules=rules,
        policy_version=str(data.get("policy_version", "")),
        mode=data.get("mode", "enforce"),
        would=data.get("would", data.get("action", "hold")),
    )
