"""The pages of signed-in users: the queue, a message, deciding, the audit log and its CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from dlp_proxy.actions.notice_context import COMMENT_LIMIT, Person
from dlp_proxy.policy.schema import Language
from dlp_proxy.quarantine import EVENTS, STATES, HeldMessage, States
from dlp_proxy.web import i18n
from dlp_proxy.web.access import DONE, Decision, decide, visible
from dlp_proxy.web.audit_scope import AuditFilter, audit_csv, audit_page
from dlp_proxy.web.auth import PageViewer
from dlp_proxy.web.csrf import require_csrf
from dlp_proxy.web.render import flash, language, page
from dlp_proxy.web.state import WebContext, context
from dlp_proxy.web.summary import Summary

PAGE_SIZE = 50
QUEUE_STATES = (*STATES, "all")
_STATE: dict[str, States] = {state: state for state in STATES}
SEARCH_LIMIT = 200

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class QueueItem:
    held: HeldMessage
    summary: Summary
    sender: Person


def _search(value: str | None) -> str | None:
    text = " ".join((value or "").split())[:SEARCH_LIMIT]
    return text or None


def _offset(value: int) -> int:
    return max(0, min(value, 1_000_000))


def _pager(
    ctx: WebContext, path: str, params: dict[str, str], offset: int, more: bool
) -> tuple[str | None, str | None]:
    def url(at: int) -> str:
        query = {k: v for k, v in params.items() if v}
        if at:
            query["offset"] = str(at)
        return f"{ctx.base_path}{path}?{urlencode(query)}"

    newer = url(max(0, offset - PAGE_SIZE)) if offset else None
    older = url(offset + PAGE_SIZE) if more else None
    return newer, older


def outcome(summary: Summary, lang: Language) -> str:
    """What approving or rejecting will do, in words."""
    extra = ""
    if "encrypt" in summary.decision.actions:
        extra += i18n.text("detail.outcome_encrypt", lang)
    if "bcc" in summary.decision.actions:
        extra += i18n.text("detail.outcome_bcc", lang)
    return i18n.text("detail.outcome", lang, extra=extra)


@router.get("/")
async def queue(
    request: Request,
    viewer: PageViewer,
    state: str = "held",
    q: str | None = None,
    offset: int = 0,
) -> Response:
    ctx = context(request)
    state = state if state in QUEUE_STATES else "held"
    offset = _offset(offset)
    search = _search(q)
    found = await ctx.store.list(
        state=_STATE.get(state),
        approver=None if viewer.is_admin else viewer.email,
        limit=PAGE_SIZE + 1,
        offset=offset,
        search=search,
    )
    items = [
        QueueItem(held, Summary.read(held.summary), ctx.person(held.sender))
        for held in found[:PAGE_SIZE]
    ]
    newer, older = _pager(
        ctx, "/", {"state": state, "q": search or ""}, offset, len(found) > PAGE_SIZE
    )
    return page(
        request,
        "queue.html.j2",
        viewer=viewer,
        states=QUEUE_STATES,
        state=state,
        q=search or "",
        items=items,
        prev_url=newer,
        next_url=older,
    )


@router.get("/m/{message_id}")
async def message(request: Request, viewer: PageViewer, message_id: str) -> Response:
    ctx = context(request)
    held = await visible(ctx, viewer, message_id)
    summary = Summary.read(held.summary)
    history = await ctx.store.audit_log(message_id=held.id, limit=200)
    lang = language(request, viewer.language)
    return page(
        request,
        "message.html.j2",
        viewer=viewer,
        held=held,
        summary=summary,
        sender=ctx.person(held.sender),
        approvers=[ctx.person(a) for a in held.approvers],
        can_act=held.state == "held",
        outcome=outcome(summary, lang),
        comment_limit=COMMENT_LIMIT,
        history=list(reversed(history)),
    )


async def _decide(
    request: Request, viewer: PageViewer, message_id: str, comment: str, decision: Decision
) -> Response:
    ctx = context(request)
    held = await visible(ctx, viewer, message_id)
    await decide(
        ctx,
        held.id,
        decision,
        actor=viewer.email,
        admin=viewer.is_admin,
        comment=comment,
        via="web",
    )
    flash(request, DONE[decision])
    return RedirectResponse(f"{ctx.base_path}/m/{quote(held.id, safe='')}", status_code=303)


@router.post("/m/{message_id}/approve", dependencies=[Depends(require_csrf)])
async def approve(
    request: Request,
    viewer: PageViewer,
    message_id: str,
    comment: Annotated[str, Form(max_length=COMMENT_LIMIT * 2)] = "",
) -> Response:
    return await _decide(request, viewer, message_id, comment, "approve")


@router.post("/m/{message_id}/reject", dependencies=[Depends(require_csrf)])
async def reject(
    request: Request,
    viewer: PageViewer,
    message_id: str,
    comment: Annotated[str, Form(max_length=COMMENT_LIMIT * 2)] = "",
) -> Response:
    return await _decide(request, viewer, message_id, comment, "reject")


def _day(value: str | None, ctx: WebContext, *, end: bool = False) -> datetime | None:
    """A date field as the start of that day in the UI's time zone (``end``: the next day's
    start, so the range includes the whole last day)."""
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return None
    if end:
        day += timedelta(days=1)
    moment = datetime.combine(day, time.min)
    return moment.replace(tzinfo=ctx.zone) if ctx.zone else moment.astimezone()


def audit_filter(
    ctx: WebContext, q: str | None, event: str | None, since: str | None, until: str | None
) -> AuditFilter:
    return AuditFilter(
        search=_search(q),
        event=event if event in EVENTS or event == "link_refused" else None,
        since=_day(since, ctx),
        until=_day(until, ctx, end=True),
    )


@router.get("/audit")
async def audit(
    request: Request,
    viewer: PageViewer,
    *,
    q: str | None = None,
    event: str | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: int = 0,
) -> Response:
    ctx = context(request)
    where = audit_filter(ctx, q, event, since, until)
    offset = _offset(offset)
    records = await audit_page(ctx, viewer, where, limit=PAGE_SIZE + 1, offset=offset)
    params = {
        "q": where.search or "",
        "event": where.event or "",
        "since": (since or "") if where.since else "",
        "until": (until or "") if where.until else "",
    }
    newer, older = _pager(ctx, "/audit", params, offset, len(records) > PAGE_SIZE)
    csv_query = urlencode({k: v for k, v in params.items() if v})
    return page(
        request,
        "audit.html.j2",
        viewer=viewer,
        records=records[:PAGE_SIZE],
        events=(*EVENTS, "link_refused"),
        q=params["q"],
        event=params["event"],
        since=params["since"],
        until=params["until"],
        csv_url=f"{ctx.base_path}/audit.csv" + (f"?{csv_query}" if csv_query else ""),
        prev_url=newer,
        next_url=older,
    )


async def _with_bom(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """A byte-order mark first: Excel reads UTF-8 CSV as such only with one."""
    yield "\ufeff"
    async for line in lines:
        yield line


@router.get("/audit.csv")
async def audit_export(
    request: Request,
    viewer: PageViewer,
    *,
    q: str | None = None,
    event: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    ctx = context(request)
    where = audit_filter(ctx, q, event, since, until)
    stamp = datetime.now(ctx.zone).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        _with_bom(audit_csv(ctx, viewer, where)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dlp-proxy-audit-{stamp}.csv"'},
    )
