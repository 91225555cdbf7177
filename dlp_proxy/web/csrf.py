"""CSRF tokens bound to the session: on every form, checked on every POST."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Form, Request


class CsrfFailed(Exception):
    """A POST without the session's CSRF token (or with another one)."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (anonymous sessions get one too, so the
    sign-in form and the link confirmations are protected)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def renew(request: Request) -> None:
    """A new token, after sign-in: a token seen before it is worthless after."""
    request.session["csrf"] = secrets.token_urlsafe(32)


def csrf_valid(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


async def require_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Dependency for every form POST."""
    if not csrf_valid(request, csrf):
        raise CsrfFailed()
