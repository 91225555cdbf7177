"""``/l/{token}``: a signed link opens a confirmation page; only its POST acts, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from dlp_proxy.actions.notice_context import COMMENT_LIMIT
from dlp_proxy.quarantine import AuditEvent, HeldMessage, WrongState
from dlp_proxy.web import i18n
from dlp_proxy.web.access import DONE, decide, withdraw
from dlp_proxy.web.auth import client_address, current_viewer
from dlp_proxy.web.csrf import CsrfFailed, csrf_valid
from dlp_proxy.web.links import LinkClaims, LinkError, LinkExpired, read_link
from dlp_proxy.web.render import language, page, refusal
from dlp_proxy.web.state import WebContext, context, log
from dlp_proxy.web.summary import Summary
from dlp_proxy.web.views import outcome

router = APIRouter(include_in_schema=False)


def _allowed(claims: LinkClaims, held: HeldMessage) -> bool:
    """The link's person must still be entitled: an approver now (the directory may have
    changed since the notice), or the sender for a withdrawal."""
    if claims.action == "withdraw":
        return held.sender.strip().lower() == claims.actor
    return held.may_decide(claims.actor)


async def _audit_refusal(
    ctx: WebContext,
    request: Request,
    reason: str,
    claims: LinkClaims | None,
    held: HeldMessage | None = None,
) -> None:
    detail = {"reason": reason, "method": request.method, "client": client_address(request)}
    if claims is not None:
        detail["action"] = claims.action
    await ctx.store.audit(
        AuditEvent(
            at=datetime.now(UTC),
            message_id=claims.message_id if claims else None,
            event="link_refused",
            actor=claims.actor if claims else "-",
            via="link",
            detail=detail,
            policy_version=held.policy_version if held else None,
        )
    )
    queue_id = claims.message_id if claims else None
    log.warning("link refused", extra={"reason": reason, "queue_id": queue_id})


async def _check(request: Request, token: str) -> tuple[LinkClaims, HeldMessage] | Response:
    """The claims and the message, or the refusal page (already audited)."""
    ctx = context(request)
    viewer = await current_viewer(request)
    try:
        claims = read_link(ctx.secret, token)
    except LinkExpired as exc:
        held = await ctx.store.get(exc.claims.message_id)
        await _audit_refusal(ctx, request, exc.code, exc.claims, held)
        own = ctx.person(exc.claims.actor).language
        return refusal(
            request, viewer=viewer, status=exc.status, key=f"error.{exc.code}", own_language=own
        )
    except LinkError as exc:
        await _audit_refusal(ctx, request, exc.code, None)
        return refusal(request, viewer=viewer, status=exc.status, key=f"error.{exc.code}")
    own = ctx.person(claims.actor).language
    held = await ctx.store.get(claims.message_id)
    if held is None:
        await _audit_refusal(ctx, request, "not_found", claims)
        return refusal(request, viewer=viewer, status=404, key="error.not_found", own_language=own)
    if not _allowed(claims, held):
        await _audit_refusal(ctx, request, "link_not_allowed", claims, held)
        return refusal(
            request, viewer=viewer, status=403, key="error.link_not_allowed", own_language=own
        )
    return claims, held


def _wrong_state(request: Request, held: HeldMessage, own: str | None) -> Response:
    lang = language(request, own)
    state = i18n.text(f"state.{held.state}", lang)
    return refusal(
        request,
        viewer=request.state.viewer,
        status=409,
        key="error.wrong_state",
        own_language=own,
        state=state,
    )


@router.get("/l/{token}")
async def confirm(request: Request, token: str) -> Response:
    """The confirmation page. It never changes anything: mail scanners open links too."""
    checked = await _check(request, token)
    if isinstance(checked, Response):
        return checked
    claims, held = checked
    ctx = context(request)
    own = ctx.person(claims.actor).language
    if held.state != "held":
        return _wrong_state(request, held, own)
    summary = Summary.read(held.summary)
    return page(
        request,
        "link.html.j2",
        viewer=request.state.viewer,
        own_language=own,
        claims=claims,
        token=token,
        held=held,
        summary=summary,
        sender=ctx.person(held.sender),
        outcome=outcome(summary, language(request, own)),
        comment_limit=COMMENT_LIMIT,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/l/{token}")
async def act(
    request: Request,
    token: str,
    csrf: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=COMMENT_LIMIT * 2)] = "",
) -> Response:
    """Verify everything again, spend the link (single use), then decide."""
    if not csrf_valid(request, csrf):
        raise CsrfFailed()
    checked = await _check(request, token)
    if isinstance(checked, Response):
        return checked
    claims, held = checked
    ctx = context(request)
    own = ctx.person(claims.actor).language
    if not await ctx.store.use_token(claims.token_id, expires_at=claims.expires_at):
        await _audit_refusal(ctx, request, "link_used", claims, held)
        return refusal(
            request,
            viewer=request.state.viewer,
            status=410,
            key="error.link_used",
            own_language=own,
        )
    try:
        if claims.action == "withdraw":
            held = await withdraw(ctx, held.id, actor=claims.actor, via="link")
        else:
            held = await decide(
                ctx,
                held.id,
                claims.action,
                actor=claims.actor,
                admin=False,
                comment=comment,
                via="link",
            )
    except WrongState:
        current = await ctx.store.get(held.id)
        return _wrong_state(request, current or held, own)
    lang = language(request, own)
    return page(
        request,
        "done.html.j2",
        viewer=request.state.viewer,
        own_language=own,
        held=held,
        title=i18n.text(f"done.{claims.action}", lang),
        message=i18n.text(DONE[claims.action], lang),
    )
