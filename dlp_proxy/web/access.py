"""Who may see and decide which message, and deciding: one path for pages, API and links."""

from __future__ import annotations

from typing import Literal

from dlp_proxy.actions.notice_context import COMMENT_LIMIT, clean, truncate
from dlp_proxy.quarantine.errors import NotFound
from dlp_proxy.quarantine.records import HeldMessage
from dlp_proxy.web.auth import Viewer
from dlp_proxy.web.state import WebContext

Decision = Literal["approve", "reject"]
# The text that confirms each done action.
DONE = {"approve": "flash.approved", "reject": "flash.rejected", "withdraw": "flash.withdrawn"}


def may_see(viewer: Viewer, held: HeldMessage) -> bool:
    """Admins see every message; an approver sees the messages they are an approver of."""
    return viewer.is_admin or held.may_decide(viewer.email)


async def visible(ctx: WebContext, viewer: Viewer, message_id: str) -> HeldMessage:
    """The message if this viewer may see it; NotFound otherwise, so that a message of
    someone else's team looks the same as one that does not exist."""
    held = await ctx.store.get(message_id)
    if held is None or not may_see(viewer, held):
        raise NotFound(f"no message {message_id}")
    return held


def clean_comment(text: str | None) -> str | None:
    """A comment as stored and mailed: control characters out, lines kept, cut to the limit."""
    if not text:
        return None
    lines = (clean(line) for line in text.replace("\r\n", "\n").split("\n"))
    return truncate("\n".join(lines).strip(), COMMENT_LIMIT) or None


async def decide(
    ctx: WebContext,
    message_id: str,
    decision: Decision,
    *,
    actor: str,
    admin: bool,
    comment: str | None,
    via: str,
) -> HeldMessage:
    """Approve or reject (the store checks the state and the approver), then tell the
    integrator through ``on_decision``."""
    note = clean_comment(comment)
    if decision == "approve":
        held = await ctx.store.approve(message_id, actor=actor, comment=note, via=via, admin=admin)
    else:
        held = await ctx.store.reject(message_id, actor=actor, comment=note, via=via, admin=admin)
    await ctx.decided(held)
    return held


async def withdraw(ctx: WebContext, message_id: str, *, actor: str, via: str) -> HeldMessage:
    held = await ctx.store.withdraw(message_id, actor=actor, via=via)
    await ctx.decided(held)
    return held
