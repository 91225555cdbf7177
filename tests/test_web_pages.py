"""What the pages and the API show: queue, detail, audit, CSV, languages, OpenAPI."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from dlp_proxy.web import views
from dlp_proxy.web.apitokens import make_api_token
from tests.builders import customers
from tests.webrig import (
    ADMIN,
    MANAGER_A,
    MANAGER_B,
    SENDER_A,
    SENDER_B,
    Browser,
    Rig,
    rig,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
ENGLISH = {"Accept-Language": "en"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with rig(Path(tmp_path_factory.mktemp("pages"))) as ready:
        now = datetime.now(UTC)
        # Oldest first, so that "newest first" has something to sort.
        for index, (sender, id) in enumerate(
            [(SENDER_A, "a-old"), (SENDER_B, "b-one"), (SENDER_A, "a-new"), (SENDER_A, "a-done")]
        ):
            await ready.hold(sender, id, received_at=now - timedelta(hours=10 - index))
        await ready.store.approve("a-done", actor=MANAGER_A, comment="了解です", via="cli")
        yield ready


async def _ids(browser: Browser, path: str) -> list[str]:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    return re.findall(r'<li class="card" data-id="([^"]+)"', page.text)


async def test_the_queue_is_newest_first_and_filtered_by_state(web: Rig) -> None:
    manager = await web.signed_in(MANAGER_A)
    admin = await web.signed_in(ADMIN)
    assert await _ids(manager, "/") == ["a-new", "a-old"]  # held, by default
    assert await _ids(manager, "/?state=approved") == ["a-done"]
    assert await _ids(manager, "/?state=all") == ["a-done", "a-new", "a-old"]
    assert await _ids(manager, "/?state=rejected") == []
    assert await _ids(admin, "/?state=all") == ["a-done", "a-new", "b-one", "a-old"]
    assert await _ids(admin, "/?state=nonsense") == ["a-new", "b-one", "a-old"]
    assert await _ids(admin, "/?state=all&q=b-one") == ["b-one"]
    assert await _ids(admin, "/?state=all&q=sales-b") == ["b-one"]
    page = (await manager.get("/")).text
    assert "田中 一郎（sales-a@dealer.example.jp）" in page
    assert "個人データ 40行" in page and "社外宛先 12件" in page
    assert "personal-data-to-external" in page and "承認期限" in page
    await manager.aclose()
    await admin.aclose()


async def test_the_detail_page_shows_what_an_approver_needs(web: Rig) -> None:
    browser = Browser(web.client(headers=ENGLISH))
    await browser.sign_in(MANAGER_B, "correct horse battery staple")
    page = (await browser.get("/m/b-one")).text
    held = await web.store.get("b-one")
    assert held is not None
    for expected in (
        "Bob Baker &lt;sales-b@dealer.example.jp&gt;",  # the sender, named by the directory
        "見積書と顧客リストの送付",  # subject
        "External (12)",
        "customer11@client2.example.com",
        "Internal (1)",
        "colleague@dealer.example.jp",
        "12 of the external addresses are in To/Cc",
        "顧客リスト.xlsx",
        "Personal rows</dt><dd>40",
        "name, postal address, phone number, email address",
        "Samples (masked)",
        "has attachments with personal data",  # the policy's reason, in English
        "Ten or more external addresses are visible",
    ):
        assert expected in page, expected
    assert "✓ personal rows is 40 (&gt;= 1)" in page  # why lines
    assert "with its attachments encrypted" in page  # what approval does
    assert 'id="decide"' in page
    assert held.summary["headers"]["message_id"] in page.replace("&lt;", "<").replace("&gt;", ">")
    # History from the audit trail.
    assert re.search(r"<td class=\"nowrap\">Held</td><td>system", page)
    # Every sample shown is masked; no complete customer value reaches the page.
    block = re.search(r'<ul class="samples">(.*?)</ul>', page, re.DOTALL)
    assert block is not None
    samples = re.findall(r"<li>([^<]+)</li>", block.group(1))
    assert len(samples) == 5 and all("*" in sample for sample in samples), samples
    for name, _address, phone, email in customers(40):
        assert name not in page and phone not in page and email not in page
    await browser.aclose()


async def test_a_decided_message_has_no_buttons_and_shows_the_decision(web: Rig) -> None:
    browser = await web.signed_in(MANAGER_A)
    page = (await browser.get("/m/a-done")).text
    assert 'id="decide"' not in page
    assert "了解です" in page and "承認済み" in page
    assert re.search(r"<td class=\"nowrap\">承認</td><td>manager-a@dealer.example.jp <span", page)
    await browser.aclose()


async def test_approving_in_the_ui_redirects_with_a_confirmation(web: Rig) -> None:
    await web.hold(SENDER_B, "ui-flow")
    browser = Browser(web.client(headers=ENGLISH))
    await browser.sign_in(MANAGER_B, "correct horse battery staple")
    await browser.get("/m/ui-flow")
    response = await browser.post("/m/ui-flow/approve", {"comment": "Go ahead.\r\nThanks"})
    assert response.status_code == 303
    page = await browser.get(response.headers["location"])
    assert "Approved. The mail will be sent shortly." in page.text
    assert "Go ahead.\nThanks" in page.text
    again = await browser.post("/m/ui-flow/reject", {"comment": "too late"})
    assert again.status_code == 409
    assert "already decided (now: Approved)" in again.text
    assert await web.state("ui-flow") == "approved"
    await browser.aclose()


async def test_languages_follow_the_user_then_the_toggle(web: Rig) -> None:
    browser = await web.signed_in(MANAGER_A)  # language ja in the users table
    assert 'lang="ja"' in (await browser.get("/")).text
    toggled = await browser.http.get("/lang/en", params={"next": "/audit"})
    assert toggled.status_code == 303 and toggled.headers["location"] == "/audit"
    page = (await browser.get("/audit")).text
    assert 'lang="en"' in page and "Audit log" in page
    # The choice outlives signing out.
    await browser.post("/logout")
    assert "Sign in" in (await browser.get("/login")).text
    anonymous = web.client(headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in (await anonymous.get("/login")).text
    japanese = web.client(headers={"Accept-Language": "ja,en;q=0.5"})
    assert "サインイン" in (await japanese.get("/login")).text
    await browser.aclose()


async def test_the_audit_page_searches_and_scopes(web: Rig) -> None:
    admin = await web.signed_in(ADMIN)
    manager = await web.signed_in(MANAGER_B)
    everything = (await admin.get("/audit")).text
    assert "signed_in" in everything or "Signed in" in everything
    assert "a-old" in everything and "b-one" in everything
    own = (await manager.get("/audit")).text
    assert "b-one" in own
    assert "a-old" not in own and "a-new" not in own
    assert MANAGER_A not in own  # no sign-ins of others, no other team's decisions
    held_only = (await admin.get("/audit?event=approved")).text
    assert "a-done" in held_only and "a-old" not in held_only
    searched = (await admin.get("/audit?q=a-old")).text
    assert "a-old" in searched and "b-one" not in searched
    today = datetime.now(UTC).date()
    future = (await admin.get(f"/audit?since={today + timedelta(days=2)}")).text
    assert 'id="audit-empty"' in future
    ranged = (await admin.get(f"/audit?since={today - timedelta(days=1)}&until={today}")).text
    assert "a-old" in ranged
    await admin.aclose()
    await manager.aclose()


async def test_audit_and_queue_paging(web: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    admin = await web.signed_in(ADMIN)
    seen: list[str] = []
    path: str | None = "/audit"
    pages = 0
    while path:
        page = (await admin.get(path)).text
        rows = re.findall(r"<tr><td class=\"nowrap\">(.*?)</tr>", page, re.DOTALL)
        assert 1 <= len(rows) <= 2
        seen += rows
        older = re.search(r'<a href="([^"]+)">Older|<a href="([^"]+)">古いもの', page)
        path = (older.group(1) or older.group(2)).replace("&amp;", "&") if older else None
        pages += 1
        if pages > 1:
            assert "offset=" in page  # a link back to newer records
    records = await web.store.audit_log(limit=1000)
    assert pages == -(-len(records) // 2) and len(seen) == len(records)
    queue = (await admin.get("/?state=all")).text
    assert len(re.findall(r'data-id="', queue)) == 2 and "offset=2" in queue
    second = (await admin.get("/?state=all&offset=2")).text
    assert re.findall(r'data-id="([^"]+)"', second)[:2] != re.findall(r'data-id="([^"]+)"', queue)
    await admin.aclose()


async def test_csv_export(web: Rig) -> None:
    admin = await web.signed_in(ADMIN)
    manager = await web.signed_in(MANAGER_B)
    full = await admin.get("/audit.csv")
    assert full.status_code == 200
    assert full.headers["content-type"] == "text/csv; charset=utf-8"
    assert full.headers["content-disposition"].startswith('attachment; filename="dlp-proxy-audit-')
    assert full.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM only
    rows = list(csv.DictReader(io.StringIO(full.text.lstrip("\ufeff"))))
    ids = {row["message_id"] for row in rows}
    assert {"a-old", "b-one", "a-done"} <= ids
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    own = list(csv.DictReader(io.StringIO((await manager.get("/audit.csv")).text.lstrip("\ufeff"))))
    assert own and {row["message_id"] for row in own} <= {"b-one", "ui-flow"}
    assert [int(r["seq"]) for r in own] == sorted(int(r["seq"]) for r in own)
    filtered = await admin.get("/audit.csv?event=approved")
    events = {row["event"] for row in csv.DictReader(io.StringIO(filtered.text.lstrip("\ufeff")))}
    assert events == {"approved"}
    await admin.aclose()
    await manager.aclose()


async def test_the_api_matches_the_openapi_document(web: Rig) -> None:
    client = web.client()
    spec = (await client.get("/api/openapi.json")).json()
    paths = set(spec["paths"])
    assert paths == {
        "/api/v1/me",
        "/api/v1/messages",
        "/api/v1/messages/{message_id}",
        "/api/v1/messages/{message_id}/approve",
        "/api/v1/messages/{message_id}/reject",
        "/api/v1/audit",
    }
    schemas = spec["components"]["schemas"]
    assert {"MessageOut", "MessageDetail", "MessageList", "AuditList", "DecisionIn"} <= set(schemas)
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    detail = schemas["MessageDetail"]["properties"]
    assert {"summary", "history", "state", "approvers"} <= set(detail)
    token = make_api_token(web.secret, ADMIN, expires_at=datetime.now(UTC) + timedelta(hours=1))
    auth = {"Authorization": f"Bearer {token}"}
    listed = (await client.get("/api/v1/messages", params={"state": "held"}, headers=auth)).json()
    assert set(listed) == {"items", "limit", "offset", "more"}
    assert set(listed["items"][0]) == set(schemas["MessageOut"]["properties"])
    shown = (await client.get("/api/v1/messages/b-one", headers=auth)).json()
    assert set(shown) == set(detail)
    assert shown["summary"]["headers"]["from"] == "sales-b@dealer.example.jp"
    assert shown["summary"]["recipients"]["external_visible"] == 12
    assert shown["history"][0]["event"] == "held"
    bad = await client.get("/api/v1/messages", params={"state": "nonsense"}, headers=auth)
    assert bad.status_code == 422
    paged = (await client.get("/api/v1/messages", params={"limit": 1}, headers=auth)).json()
    assert len(paged["items"]) == 1 and paged["more"] is True
    audit = (await client.get("/api/v1/audit", params={"event": "approved"}, headers=auth)).json()
    assert {item["event"] for item in audit["items"]} == {"approved"}


async def test_the_api_never_serves_docs_pages_that_load_scripts_from_a_cdn(web: Rig) -> None:
    client = web.client()
    assert (await client.get("/docs")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_unknown_pages(web: Rig) -> None:
    browser = await web.signed_in(MANAGER_A)
    page = await browser.get("/no/such/page")
    assert page.status_code == 404 and 'id="refusal"' in page.text
    api = await web.client().get("/api/v1/nothing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    await browser.aclose()


async def test_a_locked_database_is_a_clear_temporary_refusal(tmp_path: Path) -> None:
    async with rig(tmp_path, db_timeout=0.5) as ready:
        await ready.hold(SENDER_A, "locked")
        browser = await ready.signed_in(MANAGER_A)
        await browser.get("/m/locked")
        token = make_api_token(ready.secret, MANAGER_A, expires_at=datetime.now(UTC) + timedelta(1))
        blocker = sqlite3.connect(tmp_path / "quarantine.db", isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            page = await browser.post("/m/locked/approve", {"comment": "now"})
            assert page.status_code == 503
            assert "データベースに接続できません" in page.text
            api = await ready.client().post(
                "/api/v1/messages/locked/approve",
                headers={"Authorization": f"Bearer {token}"},
                json={},
            )
            assert api.status_code == 503
            assert "cannot be reached" in api.json()["detail"]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await ready.state("locked") == "held"
        retry = await browser.post("/m/locked/approve", {"comment": "now"})
        assert retry.status_code == 303
        assert await ready.state("locked") == "approved"
        await browser.aclose()


async def test_an_overlong_comment_gets_a_page_not_a_crash(web: Rig) -> None:
    await web.hold(SENDER_B, "long-comment")
    browser = Browser(web.client(headers=ENGLISH))
    await browser.sign_in(MANAGER_B, "correct horse battery staple")
    await browser.get("/m/long-comment")
    response = await browser.post("/m/long-comment/approve", {"comment": "x" * 10_000})
    assert response.status_code == 422
    assert "could not be processed" in response.text and 'id="refusal"' in response.text
    assert await web.state("long-comment") == "held"
    await browser.aclose()
