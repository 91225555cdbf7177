"""Held mail: the summary stored with it (what approvers see), never a cell value."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from dlp_proxy.actions.apply import Changes
from dlp_proxy.actions.notice_context import NoticeContext
from dlp_proxy.decide import Decision, RuleResult
from dlp_proxy.inspect.model import Attachment, Column
from dlp_proxy.inspect.recipients import header_addresses
from dlp_proxy.policy.schema import Texts
from dlp_proxy.scanner import Verdict, header_section
from dlp_proxy.web.summary import headers_of as web_headers
from dlp_proxy.web.summary import make_summary


def headers_of(content: bytes) -> Message:
    """The header section only, parsed (the body is never read)."""
    return BytesHeaderParser(policy=compat32).parsebytes(header_section(content))


def summary(
    content: bytes,
    context: NoticeContext,
    verdict: Verdict,
    *,
    changes: Changes,
) -> dict[str, Any]:
    """The JSON-safe record of a held message that the queue, the web UI and notices show,
    plus what release must do to it; counts and masked samples, never a cell value."""
    stored = make_summary(
        context.message, verdict.decision, headers=web_headers(headers_of(content))
    )
    for item, attachment in zip(stored["attachments"], verdict.inspection.attachments, strict=True):
        item["columns"] = [
            {"sheet": c.sheet, "header": c.header, "kind": c.kind} for c in attachment.columns
        ]
    stored["recipients"]["shown_in_to_cc"] = sorted(
        a for a in header_addresses(headers_of(content)) if a in context.message.recipients.external
    )[:200]
    stored["release"] = {
        **changes.as_json(),
        "problem": verdict.modified.problem if verdict.modified is not None else None,
    }
    return stored


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
