"""Bearer tokens for the JSON API: signed with the web secret, bound to a user, expiring."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

from dlp_proxy.web.secret import derive

PREFIX = "dlp1."


@dataclass(frozen=True, slots=True)
class TokenClaims:
    email: str
    expires_at: datetime
    token_id: str


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(
        derive(secret, "api-token"),
        salt="dlp-proxy.api-token",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def make_api_token(secret: bytes, email: str, *, expires_at: datetime) -> str:
    """A token for ``Authorization: Bearer``; it stops working at ``expires_at``, when the
    user is disabled or removed, or when the secret key changes."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = [email.strip().lower(), int(expires_at.timestamp()), secrets.token_urlsafe(9)]
    token: str = _serializer(secret).dumps(payload)
    return PREFIX + token


def read_api_token(secret: bytes, token: str, *, now: datetime | None = None) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    if not token.startswith(PREFIX):
        return None
    try:
        payload = _serializer(secret).loads(token[len(PREFIX) :])
    except BadSignature:
        return None
    except Exception:
        return None
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or not isinstance(payload[0], str)
        or not isinstance(payload[1], int)
        or not isinstance(payload[2], str)
    ):
        return None
    expires_at = datetime.fromtimestamp(payload[1], UTC)
    if (now or datetime.now(UTC)) >= expires_at:
        return None
    return TokenClaims(payload[0], expires_at, payload[2])
