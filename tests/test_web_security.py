"""CSRF tokens, sign-in rate limits, cookie flags, security headers, redirects, tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import pytest_asyncio

from dlp_proxy.web import auth
from dlp_proxy.web.apitokens import make_api_token, read_api_token
from dlp_proxy.web.ratelimit import Limits
from tests.webrig import (
    ADMIN,
    MANAGER_A,
    MANAGER_B,
    PASSWORD,
    SENDER_A,
    Browser,
    Rig,
    rig,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with rig(Path(tmp_path_factory.mktemp("security"))) as ready:
        yield ready


# --- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["missing", "wrong", "other-session"])
async def test_posts_without_the_sessions_csrf_token_are_refused(web: Rig, token: str) -> None:
    message_id = f"csrf-{token}"
    await web.hold(SENDER_A, message_id)
    browser = await web.signed_in(MANAGER_A)
    other = await web.signed_in(MANAGER_A)
    try:
        await browser.get(f"/m/{message_id}")
        await other.get(f"/m/{message_id}")
        assert browser.csrf and other.csrf and browser.csrf != other.csrf
        browser.csrf = {"missing": "", "wrong": "x" * 43, "other-session": other.csrf}[token]
        for path in (f"/m/{message_id}/approve", f"/m/{message_id}/reject", "/logout"):
            response = await browser.post(path, {"comment": "forged"})
            assert response.status_code == 403, path
            assert 'id="refusal"' in response.text
        assert await web.state(message_id) == "held"
        still = await browser.get("/")  # the refused logout did not sign anyone out
        assert still.status_code == 200
    finally:
        await browser.aclose()
        await other.aclose()


async def test_the_sign_in_form_has_a_csrf_token_too(web: Rig) -> None:
    browser = Browser(web.client())
    await browser.get("/login")
    browser.csrf = ""
    response = await browser.post("/login", {"email": MANAGER_A, "password": PASSWORD})
    assert response.status_code == 403
    assert (await browser.get("/")).status_code == 303  # not signed in


async def test_session_api_calls_need_the_csrf_header(web: Rig) -> None:
    await web.hold(SENDER_A, "csrf-api")
    browser = await web.signed_in(MANAGER_A)
    try:
        me = (await browser.http.get("/api/v1/me")).json()
        assert me["email"] == MANAGER_A and me["csrf_token"]
        url = "/api/v1/messages/csrf-api/approve"
        refused = await browser.http.post(url, json={})
        assert refused.status_code == 403
        wrong = await browser.http.post(url, json={}, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        assert await web.state("csrf-api") == "held"
        ok = await browser.http.post(url, json={}, headers={"X-CSRF-Token": me["csrf_token"]})
        assert ok.status_code == 200 and ok.json()["state"] == "approved"
    finally:
        await browser.aclose()


# --- sign-in ------------------------------------------------------------------------------


async def test_sign_in_is_limited_per_account(tmp_path: Path) -> None:
    async with rig(tmp_path) as ready:
        browser = Browser(ready.client(headers=ENGLISH))
        for attempt in range(5):
            response = await browser.sign_in(MANAGER_B, f"wrong-{attempt}")
            assert response.status_code == 401, attempt
            assert "not correct" in response.text
        # The right password no longer helps until the window passes.
        blocked = await browser.sign_in(MANAGER_B, PASSWORD)
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        # Other accounts from the same address are still served (address limit is 20).
        assert (await browser.sign_in(MANAGER_A, PASSWORD)).status_code == 303
        records = await ready.store.audit_log(event="sign_in_failed", limit=100)
        reasons = [r.detail["reason"] for r in records if r.actor == MANAGER_B]
        assert reasons.count("bad_credentials") == 5 and reasons.count("rate_limited") == 1
        lines = [line async for line in ready.store.audit_csv()]
        trail = json.dumps([r.detail for r in records]) + "".join(lines)
        assert "wrong-" not in trail and PASSWORD not in trail
        signed_in = await ready.store.audit_log(event="signed_in")
        assert [r.actor for r in signed_in] == [MANAGER_A]
        await browser.aclose()


async def test_parallel_guesses_are_limited_too(tmp_path: Path) -> None:
    """Guesses sent at once cannot all slip in while the first ones are being checked."""
    async with rig(tmp_path) as ready:
        browsers = [Browser(ready.client()) for _ in range(12)]
        for browser in browsers:
            await browser.get("/login")
        answers = await asyncio.gather(
            *(
                b.post("/login", {"email": MANAGER_B, "password": f"guess-{i}"})
                for i, b in enumerate(browsers)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 5 + [429] * 7, statuses
        for browser in browsers:
            await browser.aclose()


async def test_sign_in_is_limited_per_address(tmp_path: Path) -> None:
    async with rig(tmp_path, limits=Limits(account=100, address=3)) as ready:
        browser = Browser(ready.client())
        for index in range(3):
            response = await browser.sign_in(f"nobody{index}@dealer.example.jp", "guess")
            assert response.status_code == 401
        response = await browser.sign_in(MANAGER_A, PASSWORD)
        assert response.status_code == 429
        await browser.aclose()


async def test_wrong_and_unknown_accounts_get_the_same_answer(web: Rig) -> None:
    browser = Browser(web.client(headers=ENGLISH))
    wrong = await browser.sign_in(ADMIN, "not the password")
    unknown = await browser.sign_in("ghost@dealer.example.jp", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.count("not correct") == unknown.text.count("not correct") == 1
    await browser.aclose()


async def test_a_disabled_users_session_ends(web: Rig) -> None:
    await web.store.add_user("leaver@dealer.example.jp", password=PASSWORD, role="approver")
    browser = await web.signed_in("leaver@dealer.example.jp")
    assert (await browser.get("/")).status_code == 200
    await web.store.disable_user("leaver@dealer.example.jp")
    response = await browser.get("/")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    again = await browser.sign_in("leaver@dealer.example.jp", PASSWORD)
    assert again.status_code == 401
    await browser.aclose()


async def test_sessions_end_after_their_lifetime(web: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    browser = await web.signed_in(MANAGER_A)
    assert (await browser.get("/")).status_code == 200
    monkeypatch.setattr(auth, "SESSION_LIFETIME", 0)
    assert (await browser.get("/")).status_code == 303
    await browser.aclose()


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("/audit", "/audit"),
        ("/?state=all", "/?state=all"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
async def test_sign_in_returns_only_to_pages_of_this_site(
    web: Rig, next_path: str, landing: str
) -> None:
    browser = Browser(web.client())
    await browser.get("/login")
    response = await browser.post(
        "/login", {"email": MANAGER_A, "password": PASSWORD, "next": next_path}
    )
    assert response.status_code == 303
    assert response.headers["location"] == landing
    await browser.aclose()


async def test_signing_out_ends_the_session(web: Rig) -> None:
    browser = await web.signed_in(MANAGER_A)
    await browser.get("/")
    response = await browser.post("/logout")
    assert response.status_code == 303
    assert (await browser.get("/")).status_code == 303
    await browser.aclose()


# --- cookies and headers ------------------------------------------------------------------


def _cookie(header: str) -> tuple[str, dict[str, str]]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    (name, morsel), *_ = jar.items()
    flags = {key: str(morsel[key]) for key in ("httponly", "samesite", "secure", "path")}
    return name, flags


async def test_session_cookie_flags_over_http(web: Rig) -> None:
    response = await web.client().get("/login")
    name, flags = _cookie(response.headers["set-cookie"])
    assert name == "dlp_session"
    assert flags["httponly"] == "True" and flags["samesite"].lower() == "lax"
    assert flags["secure"] == "" and flags["path"] == "/"


async def test_session_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    async with rig(tmp_path, public_url="https://dlp.dealer.example.jp") as ready:
        response = await ready.client().get("/login")
        name, flags = _cookie(response.headers["set-cookie"])
        assert name == "__Host-dlp_session"
        assert flags["secure"] == "True" and flags["httponly"] == "True"
        assert flags["samesite"].lower() == "lax" and flags["path"] == "/"
        assert response.headers["strict-transport-security"] == "max-age=31536000"


@pytest.mark.parametrize("path", ["/login", "/static/style.css", "/api/openapi.json"])
async def test_security_headers(web: Rig, path: str) -> None:
    response = await web.client().get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # served over http


async def test_pages_load_nothing_from_elsewhere(web: Rig) -> None:
    await web.hold(SENDER_A, "no-external")
    browser = await web.signed_in(ADMIN)
    for path in ("/", "/m/no-external", "/audit", "/login"):
        page = (await browser.get(path)).text
        assert "http://" not in page and "https://" not in page, path
    await browser.aclose()


# --- API tokens ---------------------------------------------------------------------------


async def test_api_tokens(web: Rig) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    good = make_api_token(web.secret, MANAGER_A, expires_at=soon)
    assert read_api_token(web.secret, good) is not None
    expired = make_api_token(web.secret, MANAGER_A, expires_at=datetime.now(UTC) - timedelta(1))
    forged = make_api_token(b"x" * 32, ADMIN, expires_at=soon)
    unknown = make_api_token(web.secret, "ghost@dealer.example.jp", expires_at=soon)
    client = web.client()
    ok = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200 and ok.json()["email"] == MANAGER_A
    assert ok.json()["csrf_token"] is None
    for token in (expired, forged, unknown, good[:-4], "-", "dlp1.x"):
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    # A bearer token needs no CSRF header: it is not sent by browsers on their own.
    await web.hold(SENDER_A, "token-approve")
    approved = await client.post(
        "/api/v1/messages/token-approve/approve",
        headers={"Authorization": f"Bearer {good}"},
        json={"comment": "ok"},
    )
    assert approved.status_code == 200 and approved.json()["comment"] == "ok"
