"""Authorization matrix: who may see and decide on a held message, through pages, API, links.

Sender A's mail is for manager A and A's delegate; manager B must not see or touch it by any
road, admins may (in the UI and API; links are made per approver), anonymous callers get the
sign-in page or 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from dlp_proxy.web.apitokens import make_api_token
from tests.webrig import (
    ADMIN,
    DELEGATE_A,
    MANAGER_A,
    MANAGER_B,
    SENDER_A,
    Browser,
    Rig,
    rig,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACTORS = {"admin": ADMIN, "manager_a": MANAGER_A, "delegate_a": DELEGATE_A, "manager_b": MANAGER_B}


@dataclass
class World:
    rig: Rig
    browsers: dict[str, Browser]
    tokens: dict[str, str]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with rig(Path(tmp_path_factory.mktemp("access"))) as ready:
        browsers = {name: await ready.signed_in(email) for name, email in ACTORS.items()}
        anonymous = Browser(ready.client())
        await anonymous.get("/login")  # an anonymous session with its own CSRF token
        browsers["anonymous"] = anonymous
        expires = datetime.now(UTC) + timedelta(days=1)
        tokens = {
            name: make_api_token(ready.secret, email, expires_at=expires)
            for name, email in ACTORS.items()
        }
        yield World(ready, browsers, tokens)
        for browser in browsers.values():
            await browser.aclose()


def _bearer(world: World, actor: str) -> dict[str, str]:
    token = world.tokens.get(actor)
    return {"Authorization": f"Bearer {token}"} if token else {}


# (surface, actor, expected): "yes" = allowed, "no" = refused as if the message did not
# exist, "login" = sent to sign in / 401.
MATRIX = [
    (surface, actor, expected)
    for surface in (
        "ui_view",
        "ui_queue",
        "ui_approve",
        "ui_reject",
        "api_show",
        "api_list",
        "api_approve",
        "api_reject",
        "api_audit",
    )
    for actor, expected in (
        ("admin", "yes"),
        ("manager_a", "yes"),
        ("delegate_a", "yes"),
        ("manager_b", "no"),
        ("anonymous", "login"),
    )
] + [
    # Links are signed for one person: admins decide in the UI, not with someone's link.
    ("link_approve", "manager_a", "yes"),
    ("link_approve", "delegate_a", "yes"),
    ("link_reject", "manager_a", "yes"),
    ("link_approve", "manager_b", "no"),
    ("link_reject", "manager_b", "no"),
    ("link_approve", "admin", "no"),
    ("link_withdraw", "manager_a", "no"),
]


@pytest.mark.parametrize(("surface", "actor", "expected"), MATRIX, ids=str)
async def test_authorization_matrix(world: World, surface: str, actor: str, expected: str) -> None:
    ready = world.rig
    message_id = f"{surface}-{actor}"
    held = await ready.hold(SENDER_A, message_id)
    assert held.approvers == (MANAGER_A, DELEGATE_A)
    browser = world.browsers[actor]
    decided_before = len(ready.decisions)
    acting = surface.endswith(("approve", "reject", "withdraw"))

    if surface == "ui_view":
        response = await browser.get(f"/m/{message_id}")
        _expect_page(response, expected)
        if expected == "yes":
            assert held.subject in response.text
            assert "customer0@client0.example.com" in response.text
        elif expected == "no":
            assert held.subject not in response.text
    elif surface == "ui_queue":
        response = await browser.get("/?state=all")
        if expected == "login":
            _expect_page(response, "login")
        else:
            assert response.status_code == 200
            assert (f'data-id="{message_id}"' in response.text) == (expected == "yes")
    elif surface in ("ui_approve", "ui_reject"):
        action = surface.removeprefix("ui_")
        response = await browser.post(f"/m/{message_id}/{action}", {"comment": "ok"})
        if expected == "yes":
            assert response.status_code == 303, response.text
            assert response.headers["location"] == f"/m/{message_id}"
        else:
            _expect_page(response, expected)
    elif surface == "api_show":
        response = await ready.client().get(
            f"/api/v1/messages/{message_id}", headers=_bearer(world, actor)
        )
        _expect_api(response, expected)
        if expected == "yes":
            body = response.json()
            assert body["id"] == message_id
            assert body["summary"]["attachments"][0]["personal_rows"] == 40
    elif surface == "api_list":
        response = await ready.client().get(
            "/api/v1/messages", params={"limit": 500}, headers=_bearer(world, actor)
        )
        if expected == "login":
            _expect_api(response, "login")
        else:
            ids = [item["id"] for item in response.json()["items"]]
            assert (message_id in ids) == (expected == "yes")
    elif surface in ("api_approve", "api_reject"):
        action = surface.removeprefix("api_")
        response = await ready.client().post(
            f"/api/v1/messages/{message_id}/{action}",
            json={"comment": "via API"},
            headers=_bearer(world, actor),
        )
        _expect_api(response, expected)
        if expected == "yes":
            assert response.json()["state"] == ("approved" if action == "approve" else "rejected")
    elif surface == "api_audit":
        response = await ready.client().get(
            "/api/v1/audit", params={"message_id": message_id}, headers=_bearer(world, actor)
        )
        if expected == "login":
            _expect_api(response, "login")
        else:
            events = [item["event"] for item in response.json()["items"]]
            assert ("held" in events) == (expected == "yes"), events
    elif surface.startswith("link_"):
        action = surface.removeprefix("link_")
        link = ready.link(message_id, ACTORS[actor], action)  # type: ignore[arg-type]
        confirm = await browser.get(link)
        assert confirm.status_code == (200 if expected == "yes" else 403), confirm.text
        response = await browser.post(link, {"comment": "by link"})
        assert response.status_code == (200 if expected == "yes" else 403), response.text
    else:
        raise AssertionError(surface)

    state = await ready.state(message_id)
    if acting and expected == "yes":
        wanted = {"approve": "approved", "reject": "rejected"}[surface.split("_")[1]]
        assert state == wanted
        assert ready.decisions[-1].id == message_id
        assert ready.decisions[-1].state == wanted
        assert len(ready.decisions) == decided_before + 1
        after = await ready.store.get(message_id)
        assert after is not None and after.decided_by == ACTORS[actor]
    else:
        assert state == "held", f"{surface} by {actor} changed the state to {state}"
        assert len(ready.decisions) == decided_before


def _expect_page(response: httpx.Response, expected: str) -> None:
    if expected == "yes":
        assert response.status_code == 200, response.text
    elif expected == "no":
        assert response.status_code == 404, response.text
        assert 'id="refusal"' in response.text
    else:
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def _expect_api(response: httpx.Response, expected: str) -> None:
    status = {"yes": 200, "no": 404, "login": 401}[expected]
    assert response.status_code == status, response.text
    if expected == "login":
        assert response.headers["www-authenticate"] == "Bearer"


async def test_admin_acts_where_no_approver_is_listed(world: World) -> None:
    """An admin's decision on someone else's message is recorded as the admin's."""
    ready = world.rig
    await ready.hold(SENDER_A, "admin-override")
    browser = world.browsers["admin"]
    await browser.get("/m/admin-override")
    response = await browser.post("/m/admin-override/reject", {"comment": "not like this"})
    assert response.status_code == 303
    records = await ready.store.audit_log(message_id="admin-override", event="rejected")
    assert [(r.actor, r.via, r.detail.get("as_admin")) for r in records] == [(ADMIN, "web", True)]


async def test_someone_elses_message_looks_like_no_message(world: World) -> None:
    """Manager B learns nothing from guessing ids: another team's message and a message that
    does not exist get the same refusal."""
    ready = world.rig
    await ready.hold(SENDER_A, "guessed-id")
    browser = world.browsers["manager_b"]
    exists = await browser.get("/m/guessed-id")
    missing = await browser.get("/m/no-such-id")
    assert exists.status_code == missing.status_code == 404
    assert _refusal_text(exists.text) == _refusal_text(missing.text)
    api = ready.client(headers=_bearer(world, "manager_b"))
    api_exists = await api.get("/api/v1/messages/guessed-id")
    api_missing = await api.get("/api/v1/messages/no-such-id")
    assert api_exists.status_code == api_missing.status_code == 404
    assert api_exists.json() == api_missing.json()


def _refusal_text(page: str) -> str:
    start = page.index('id="refusal"')
    return page[start : page.index("</div>", start)]
