"""Signed approve/reject/withdraw links: who may do what to which message, until when, once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from dlp_proxy.errors import DlpProxyError
from dlp_proxy.web.secret import derive

LinkAction = Literal["approve", "reject", "withdraw"]
LINK_ACTIONS: tuple[LinkAction, ...] = get_args(LinkAction)
_FORMAT = 1


class LinkError(DlpProxyError):
    """A link that must not be followed; ``status`` is the HTTP status of the refusal page."""

    status = 400
    code = "link_invalid"


class LinkInvalid(LinkError):
    """Not a link we signed: mistyped, cut short, or altered."""


class LinkExpired(LinkError):
    """Signed by us, but past its deadline; ``claims`` are genuine (for the refusal page's
    language and the audit trail), just no longer good for anything."""

    status = 410
    code = "link_expired"

    def __init__(self, message: str, claims: LinkClaims) -> None:
        super().__init__(message)
        self.claims = claims


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a verified link says. ``actor`` is the approver (or, to withdraw, the sender);
    ``token_id`` is what makes the link single-use (``Quarantine.use_token``)."""

    message_id: str
    actor: str
    action: LinkAction
    expires_at: datetime
    token_id: str


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(
        derive(secret, "link"),
        salt="dlp-proxy.link",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def make_link(
    secret: bytes,
    *,
    message_id: str,
    approver: str,
    action: LinkAction,
    expires_at: datetime,
) -> str:
    """A URL-safe token for ``/l/{token}``: HMAC-SHA256 over the message, the person it was
    made for, the action, the deadline and a random token id."""
    if action not in LINK_ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = [
        _FORMAT,
        message_id,
        approver.strip().lower(),
        action,
        int(expires_at.timestamp()),
        secrets.token_urlsafe(12),
    ]
    token: str = _serializer(secret).dumps(payload)
    return token


def read_link(secret: bytes, token: str, *, now: datetime | None = None) -> LinkClaims:
    """Verify the signature first, then the deadline; raise LinkInvalid or LinkExpired."""
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        raise LinkInvalid("the link's signature does not match") from None
    except Exception:  # a token that decodes to garbage is just as invalid
        raise LinkInvalid("the link cannot be read") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 6
        or payload[0] != _FORMAT
        or not all(isinstance(payload[i], str) for i in (1, 2, 3, 5))
        or payload[3] not in LINK_ACTIONS
        or not isinstance(payload[4], int)
    ):
        raise LinkInvalid("the link has an unknown format")
    _, message_id, actor, action, deadline, token_id = payload
    claims = LinkClaims(message_id, actor, action, datetime.fromtimestamp(deadline, UTC), token_id)
    if (now or datetime.now(UTC)) >= claims.expires_at:
        raise LinkExpired(f"the link expired at {claims.expires_at.isoformat()}", claims)
    return claims


def link_url(public_url: str, token: str) -> str:
    """The absolute URL of a link token."""
    return f"{public_url.rstrip('/')}/l/{token}"


def review_url(public_url: str, message_id: str) -> str:
    """The message's detail page (sign-in required), for a notice's "Details" link."""
    return f"{public_url.rstrip('/')}/m/{quote(message_id, safe='')}"


@dataclass(frozen=True, slots=True)
class Links:
    """Make the absolute links a notice carries, e.g. for ``Approval(approve_url=...)``."""

    secret: bytes
    public_url: str

    def url(
        self, *, message_id: str, approver: str, action: LinkAction, expires_at: datetime
    ) -> str:
        token = make_link(
            self.secret,
            message_id=message_id,
            approver=approver,
            action=action,
            expires_at=expires_at,
        )
        return link_url(self.public_url, token)

    def review(self, message_id: str) -> str:
        return review_url(self.public_url, message_id)
