"""``create_app``: the approval web UI and JSON API as one FastAPI application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import tzinfo
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from dlp_proxy import __version__
from dlp_proxy.policy.schema import Language
from dlp_proxy.quarantine import (
    NotAllowed,
    NotFound,
    Purged,
    Quarantine,
    QuarantineUnavailable,
    WrongState,
)
from dlp_proxy.web import api, auth, link_pages, views
from dlp_proxy.web.auth import ApiUnauthorized, SignInRequired, current_viewer, login_redirect
from dlp_proxy.web.csrf import CsrfFailed
from dlp_proxy.web.i18n import text
from dlp_proxy.web.ratelimit import Limits, SignInLimiter
from dlp_proxy.web.render import language, refusal
from dlp_proxy.web.secret import derive
from dlp_proxy.web.state import DirectoryLookup, OnDecision, WebContext, log

STATIC = Path(__file__).parent / "static"
# How long a session cookie lives in the browser; auth.SESSION_LIFETIME bounds it server-side.
COOKIE_MAX_AGE = 12 * 3600
# Sent with every answer: nothing from elsewhere, no framing, no referrer (link tokens are in
# URLs), no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_app(
    store: Quarantine,
    *,
    secret: bytes,
    public_url: str,
    directory_lookup: DirectoryLookup,
    on_decision: OnDecision,
    default_language: Language = "ja",
    zone: tzinfo | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """The web UI and API over ``store``.

    ``secret`` signs sessions, links and API tokens (``secret.load_secret``); ``public_url``
    is the base URL people reach (links, cookie flags: Secure when it is https, the path
    prefix behind a reverse proxy); ``directory_lookup(address)`` gives a person's name and
    language or None; ``on_decision(held)`` runs after every approval, rejection and
    withdrawal made here (notices, waking the release worker). ``zone`` is the time zone
    times are shown in (default: the server's).
    """
    if len(secret) < 32:
        raise ValueError("the web secret must be at least 32 bytes")
    ctx = WebContext(
        store=store,
        secret=secret,
        public_url=public_url.rstrip("/"),
        directory_lookup=directory_lookup,
        on_decision=on_decision,
        default_language=default_language,
        zone=zone,
        limiter=SignInLimiter(limits or Limits()),
    )
    app = FastAPI(
        title="dlp-proxy approval API",
        version=__version__,
        description="Held mail: list, show, approve, reject; the audit trail. See docs/web.md.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # FastAPI's docs pages load scripts from a CDN; we serve none
        redoc_url=None,
    )
    app.state.web = ctx
    app.add_middleware(
        SessionMiddleware,
        secret_key=derive(secret, "session").hex(),
        session_cookie="__Host-dlp_session" if ctx.secure else "dlp_session",
        max_age=COOKIE_MAX_AGE,
        same_site="lax",
        https_only=ctx.secure,
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if ctx.secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(views.router)
    app.include_router(link_pages.router)
    app.include_router(api.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _errors(app)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _errors(app: FastAPI) -> None:
    """One place that turns our exceptions into pages (or JSON under /api)."""

    async def viewer_of(request: Request) -> auth.Viewer | None:
        try:
            return await current_viewer(request)
        except Exception:
            return None

    async def answer(request: Request, status: int, key: str, state: str = "") -> Response:
        values = {"state": state} if state else {}
        if _is_api(request):
            return _problem(status, text(key, "en", **values))
        viewer = await viewer_of(request)
        return refusal(request, viewer=viewer, status=status, key=key, **values)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        return login_redirect(request, exc.next_path)

    @app.exception_handler(ApiUnauthorized)
    async def unauthorized(request: Request, exc: ApiUnauthorized) -> Response:
        return _problem(
            401, "a valid bearer token or session is required", {"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(CsrfFailed)
    async def csrf(request: Request, exc: CsrfFailed) -> Response:
        log.warning("CSRF token refused", extra={"path": request.url.path})
        return await answer(request, 403, "error.csrf")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return await answer(request, 404, "error.not_found")

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return await answer(request, 404, "error.not_found")

    @app.exception_handler(WrongState)
    async def wrong_state(request: Request, exc: WrongState) -> Response:
        if _is_api(request):
            return _problem(409, f"the message is {exc.state}, no longer held")
        lang = language(request)
        state = text(f"state.{exc.state}", lang) if exc.state else exc.state
        return await answer(request, 409, "error.wrong_state", state=state)

    @app.exception_handler(Purged)
    async def purged(request: Request, exc: Purged) -> Response:
        return await answer(request, 410, "error.purged")

    @app.exception_handler(QuarantineUnavailable)
    async def unavailable(request: Request, exc: QuarantineUnavailable) -> Response:
        log.error("quarantine unavailable", extra={"reason": str(exc)})
        return await answer(request, 503, "error.unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code != 404:
            return _problem(exc.status_code, str(exc.detail))
        return await answer(request, 404, "error.not_found")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        return await answer(request, 422, "error.invalid")
