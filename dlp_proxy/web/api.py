"""The JSON API under /api/v1: the queue, a message, approve, reject, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from dlp_proxy.actions.notice_context import COMMENT_LIMIT
from dlp_proxy.quarantine import AuditRecord, HeldMessage, States
from dlp_proxy.web.access import Decision, decide, visible
from dlp_proxy.web.audit_scope import AuditFilter, audit_page
from dlp_proxy.web.auth import ApiUnauthorized, Viewer, current_viewer
from dlp_proxy.web.csrf import CsrfFailed, csrf_token, csrf_valid
from dlp_proxy.web.state import context
from dlp_proxy.web.summary import Summary

MAX_LIMIT = 500
_bearer = HTTPBearer(
    auto_error=False,
    description="A token from `dlp-proxy users token EMAIL`. Without one, the session cookie "
    "of a signed-in browser works too, with the X-CSRF-Token header on POST.",
)


class Problem(BaseModel):
    """Every error answer: a sentence saying what is wrong."""

    detail: str


class Me(BaseModel):
    email: str
    role: Literal["admin", "approver"]
    language: str | None
    csrf_token: str | None = Field(
        None, description="For session callers: send it as X-CSRF-Token on every POST."
    )


class MessageOut(BaseModel):
    """A held message without its content."""

    id: str
    state: States
    received_at: datetime
    sender: str
    recipients: list[str]
    subject: str
    rules: list[str] = Field(description="names of the rules that held it")
    personal_rows: int
    persons: int
    external_recipients: int
    attachments: int
    approvers: list[str]
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    released_at: datetime | None
    attempts: int
    last_error: str | None
    purged: bool
    policy_version: str

    @classmethod
    def of(cls, held: HeldMessage) -> MessageOut:
        summary = Summary.read(held.summary)
        return cls(
            id=held.id,
            state=held.state,
            received_at=held.received_at,
            sender=held.sender,
            recipients=list(held.recipients),
            subject=held.subject,
            rules=list(held.rules),
            personal_rows=summary.personal_rows,
            persons=summary.persons,
            external_recipients=len(summary.recipients.external),
            attachments=len(summary.attachments),
            approvers=list(held.approvers),
            expires_at=held.expires_at,
            decided_by=held.decided_by,
            decided_at=held.decided_at,
            comment=held.comment,
            released_at=held.released_at,
            attempts=held.attempts,
            last_error=held.last_error,
            purged=held.purged,
            policy_version=held.policy_version,
        )


class AuditOut(BaseModel):
    seq: int
    at: datetime
    message_id: str | None
    event: str
    actor: str
    via: str
    detail: dict[str, Any]
    policy_version: str | None

    @classmethod
    def of(cls, record: AuditRecord) -> AuditOut:
        return cls(
            seq=record.seq,
            at=record.at,
            message_id=record.message_id,
            event=record.event,
            actor=record.actor,
            via=record.via,
            detail=dict(record.detail),
            policy_version=record.policy_version,
        )


class MessageDetail(MessageOut):
    """A message with what was found (counts, column kinds, masked samples), the rules with
    their reasons, and its history."""

    summary: Summary
    history: list[AuditOut]


class MessageList(BaseModel):
    items: list[MessageOut]
    limit: int
    offset: int
    more: bool = Field(description="whether another page follows")


class AuditList(BaseModel):
    items: list[AuditOut]
    limit: int
    offset: int
    more: bool


class DecisionIn(BaseModel):
    comment: str | None = Field(
        default=None, max_length=COMMENT_LIMIT, description="shown to the sender"
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def api_viewer(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Viewer:
    """A bearer token, or a session cookie plus X-CSRF-Token on anything but a read."""
    viewer = await current_viewer(request)
    if viewer is None:
        raise ApiUnauthorized()
    writing = request.method not in ("GET", "HEAD", "OPTIONS")
    csrf_ok = csrf_valid(request, request.headers.get("x-csrf-token"))
    if viewer.via == "session" and writing and not csrf_ok:
        raise CsrfFailed()
    return viewer


ApiViewer = Annotated[Viewer, Depends(api_viewer)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid token or session"},
    403: {"model": Problem, "description": "CSRF token missing or wrong (session callers)"},
}
router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERRORS)


@router.get("/me", response_model=Me)
async def me(request: Request, viewer: ApiViewer) -> Me:
    """Who the token or session belongs to."""
    token = csrf_token(request) if viewer.via == "session" else None
    return Me(email=viewer.email, role=viewer.role, language=viewer.language, csrf_token=token)


@router.get("/messages", response_model=MessageList)
async def list_messages(
    request: Request,
    viewer: ApiViewer,
    *,
    state: States | None = None,
    q: Annotated[str | None, Query(max_length=200, description="id, sender, subject")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MessageList:
    """Newest first: every message for admins, an approver's own messages otherwise."""
    ctx = context(request)
    found = await ctx.store.list(
        state=state,
        approver=None if viewer.is_admin else viewer.email,
        limit=limit + 1,
        offset=offset,
        search=q or None,
    )
    return MessageList(
        items=[MessageOut.of(held) for held in found[:limit]],
        limit=limit,
        offset=offset,
        more=len(found) > limit,
    )


@router.get(
    "/messages/{message_id}",
    response_model=MessageDetail,
    responses={404: {"model": Problem, "description": "no such message, or not yours"}},
)
async def show_message(request: Request, viewer: ApiViewer, message_id: str) -> MessageDetail:
    ctx = context(request)
    held = await visible(ctx, viewer, message_id)
    history = await ctx.store.audit_log(message_id=held.id, limit=200)
    return MessageDetail(
        **MessageOut.of(held).model_dump(),
        summary=Summary.read(held.summary),
        history=[AuditOut.of(r) for r in reversed(history)],
    )


async def _decide(
    request: Request, viewer: Viewer, message_id: str, body: DecisionIn, decision: Decision
) -> MessageOut:
    ctx = context(request)
    held = await visible(ctx, viewer, message_id)
    done = await decide(
        ctx,
        held.id,
        decision,
        actor=viewer.email,
        admin=viewer.is_admin,
        comment=body.comment,
        via="api",
    )
    return MessageOut.of(done)


_DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such message, or not yours"},
    409: {"model": Problem, "description": "the message is no longer held"},
}


@router.post(
    "/messages/{message_id}/approve", response_model=MessageOut, responses=_DECISION_ERRORS
)
async def approve(
    request: Request, viewer: ApiViewer, message_id: str, body: DecisionIn | None = None
) -> MessageOut:
    """held → approved; the proxy then delivers it."""
    return await _decide(request, viewer, message_id, body or DecisionIn(), "approve")


@router.post("/messages/{message_id}/reject", response_model=MessageOut, responses=_DECISION_ERRORS)
async def reject(
    request: Request, viewer: ApiViewer, message_id: str, body: DecisionIn | None = None
) -> MessageOut:
    """held → rejected; the sender is told, with the comment."""
    return await _decide(request, viewer, message_id, body or DecisionIn(), "reject")


@router.get("/audit", response_model=AuditList)
async def audit(
    request: Request,
    viewer: ApiViewer,
    *,
    q: Annotated[str | None, Query(max_length=200)] = None,
    event: str | None = None,
    message_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditList:
    """Newest first; ``since`` inclusive, ``until`` exclusive (ISO 8601). Admins: the whole
    trail; approvers: the events of their messages."""
    ctx = context(request)
    where = AuditFilter(q or None, event or None, _utc(since), _utc(until), message_id or None)
    records = await audit_page(ctx, viewer, where, limit=limit + 1, offset=offset)
    return AuditList(
        items=[AuditOut.of(r) for r in records[:limit]],
        limit=limit,
        offset=offset,
        more=len(records) > limit,
    )
