"""Who is asking: signed session cookies or API bearer tokens; sign-in, sign-out, language."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dlp_proxy.quarantine.records import AuditEvent, Role
from dlp_proxy.web.apitokens import read_api_token
from dlp_proxy.web.csrf import CsrfFailed, csrf_valid, renew, require_csrf
from dlp_proxy.web.render import flash, page
from dlp_proxy.web.state import WebContext, context, log

# A session lasts this long from sign-in, however active (seconds).
SESSION_LIFETIME = 12 * 3600
EMAIL_LIMIT = 254


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in user of the pages or the API."""

    email: str
    role: Role
    language: str | None
    via: Literal["session", "token"]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SignInRequired(Exception):
    """A page needs a signed-in user; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ApiUnauthorized(Exception):
    """An API call without a valid session or bearer token."""


def client_address(request: Request) -> str:
    """The client's address (behind a trusted proxy, uvicorn has put X-Forwarded-For here)."""
    return request.client.host if request.client else "unknown"


async def _active(ctx: WebContext, email: str, via: Literal["session", "token"]) -> Viewer | None:
    user = await ctx.store.get_user(email)
    if user is None or user.disabled:
        return None
    return Viewer(user.email, user.role, user.language, via)


async def current_viewer(request: Request) -> Viewer | None:
    """The user behind this request: a bearer token if one is sent, else the session."""
    if "viewer" in request.scope.get("state", {}):
        cached: Viewer | None = request.state.viewer
        return cached
    ctx = context(request)
    viewer: Viewer | None = None
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        claims = read_api_token(ctx.secret, credentials.strip())
        if claims is None:
            raise ApiUnauthorized()
        viewer = await _active(ctx, claims.email, "token")
        if viewer is None:
            raise ApiUnauthorized()
    else:
        email = request.session.get("user")
        since = request.session.get("since")
        if isinstance(email, str) and isinstance(since, int | float):
            if time.time() - since < SESSION_LIFETIME:
                viewer = await _active(ctx, email, "session")
            if viewer is None:
                _forget(request)
    request.state.viewer = viewer
    return viewer


async def page_viewer(request: Request) -> Viewer:
    """Dependency for pages: the signed-in user, else a redirect to the sign-in page."""
    viewer = await current_viewer(request)
    if viewer is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return viewer


PageViewer = Annotated[Viewer, Depends(page_viewer)]


def _forget(request: Request) -> None:
    language = request.session.get("lang")
    request.session.clear()
    if language:
        request.session["lang"] = language


def safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//evil`` or ``https://evil`` (open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 0x20 for char in value):
        return "/"
    return value


router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    viewer = await current_viewer(request)
    if viewer is not None:
        return RedirectResponse(context(request).base_path + safe_next(next), status_code=303)
    return page(request, "login.html.j2", viewer=None, next=safe_next(next), email="")


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    ctx = context(request)
    if not csrf_valid(request, csrf):
        raise CsrfFailed()
    account = email.strip().lower()[:EMAIL_LIMIT]
    address = client_address(request)
    target = safe_next(next)
    wait = ctx.limiter.retry_after(account, address)
    if wait is not None:
        await _audit_failure(ctx, account, address, "rate_limited")
        minutes = max(1, -(-int(wait) // 60))
        return page(
            request,
            "login.html.j2",
            viewer=None,
            status=429,
            headers={"Retry-After": str(int(wait) + 1)},
            next=target,
            email=account,
            error_key=("login.rate_limited", {"minutes": minutes}),
        )
    ctx.limiter.failed(account, address)
    user = await ctx.store.verify_user(account, password) if account and password else None
    if user is None or user.disabled:
        await _audit_failure(ctx, account, address, "bad_credentials")
        return page(
            request,
            "login.html.j2",
            viewer=None,
            status=401,
            next=target,
            email=account,
            error_key=("login.failed", {}),
        )
    ctx.limiter.succeeded(account, address)
    _forget(request)
    request.session.update({"user": user.email, "since": int(time.time())})
    renew(request)
    await ctx.store.audit(
        AuditEvent(
            at=datetime.now(UTC),
            message_id=None,
            event="signed_in",
            actor=user.email,
            via="web",
            detail={"client": address},
        )
    )
    log.info("signed in", extra={"user": user.email, "client": address})
    return RedirectResponse(ctx.base_path + target, status_code=303)


async def _audit_failure(ctx: WebContext, account: str, address: str, reason: str) -> None:
    await ctx.store.audit(
        AuditEvent(
            at=datetime.now(UTC),
            message_id=None,
            event="sign_in_failed",
            actor=account or "-",
            via="web",
            detail={"client": address, "reason": reason},
        )
    )
    log.warning("sign-in refused", extra={"user": account, "client": address, "reason": reason})


@router.post("/logout", dependencies=[Depends(require_csrf)])
async def logout(request: Request) -> Response:
    _forget(request)
    flash(request, "login.signed_out")
    return RedirectResponse(context(request).base_path + "/login", status_code=303)


@router.get("/lang/{language}")
async def choose_language(request: Request, language: str, next: str = "/") -> Response:
    """The language toggle: remembered in the session (signed-in or not); changes no data."""
    if language in ("ja", "en"):
        request.session["lang"] = language
    return RedirectResponse(context(request).base_path + safe_next(next), status_code=303)


def login_redirect(request: Request, next_path: str) -> Response:
    ctx = context(request)
    flash(request, "login.needed")
    return RedirectResponse(
        f"{ctx.base_path}/login?next={quote(next_path, safe='/')}", status_code=303
    )
