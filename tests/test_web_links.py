"""Signed links: what they carry, and that only a confirmed POST acts, once, by the right
person, before the deadline; a GET (a mail scanner's prefetch) never changes anything."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from dlp_proxy.web.apitokens import make_api_token
from dlp_proxy.web.links import (
    LinkExpired,
    LinkInvalid,
    Links,
    make_link,
    read_link,
    review_url,
)
from tests.webrig import MANAGER_A, MANAGER_B, SENDER_A, SENDER_B, Browser, Rig, rig

SECRET = os.urandom(32)
SOON = datetime.now(UTC) + timedelta(hours=2)


def test_a_link_says_who_may_do_what_to_which_message_until_when() -> None:
    token = make_link(
        SECRET,
        message_id="Q1",
        approver="Manager-A@Dealer.example.jp",
        action="reject",
        expires_at=SOON,
    )
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", token), token
    claims = read_link(SECRET, token)
    assert (claims.message_id, claims.actor, claims.action) == (
        "Q1",
        "manager-a@dealer.example.jp",
        "reject",
    )
    assert claims.expires_at == datetime.fromtimestamp(int(SOON.timestamp()), UTC)
    again = make_link(SECRET, message_id="Q1", approver=MANAGER_A, action="reject", expires_at=SOON)
    assert read_link(SECRET, again).token_id != claims.token_id


def _flip(token: str, index: int) -> str:
    char = token[index]
    return token[:index] + ("A" if char != "A" else "B") + token[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _flip(t, 5),  # the payload
        lambda t: _flip(t, len(t) - 3),  # the signature
        lambda t: t[:-10],  # cut short, as some mail clients wrap long URLs
        lambda t: t + "x",
        lambda t: "",
        lambda t: "not-a-token",
        lambda t: make_link(
            os.urandom(32),
            message_id="Q1",
            approver=MANAGER_A,
            action="approve",
            expires_at=SOON,
        ),
        lambda t: make_api_token(SECRET, MANAGER_A, expires_at=SOON).removeprefix("dlp1."),
    ],
    ids=[
        "payload",
        "signature",
        "cut",
        "appended",
        "empty",
        "garbage",
        "other-secret",
        "api-token",
    ],
)
def test_altered_links_are_invalid(tamper: object) -> None:
    token = make_link(
        SECRET, message_id="Q1", approver=MANAGER_A, action="approve", expires_at=SOON
    )
    assert callable(tamper)
    with pytest.raises(LinkInvalid):
        read_link(SECRET, tamper(token))


def test_expiry_is_checked_after_the_signature() -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    token = make_link(
        SECRET, message_id="Q1", approver=MANAGER_A, action="approve", expires_at=past
    )
    with pytest.raises(LinkExpired):
        read_link(SECRET, token)
    with pytest.raises(LinkInvalid):
        read_link(SECRET, _flip(token, 5))
    fresh = make_link(
        SECRET, message_id="Q1", approver=MANAGER_A, action="approve", expires_at=SOON
    )
    with pytest.raises(LinkExpired):
        read_link(SECRET, fresh, now=SOON + timedelta(seconds=1))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_link(
            SECRET,
            message_id="Q1",
            approver=MANAGER_A,
            action="approve",
            expires_at=datetime(2030, 1, 1),
        )
    with pytest.raises(ValueError, match="unknown link action"):
        make_link(
            SECRET,
            message_id="Q1",
            approver=MANAGER_A,
            action="delete",  # type: ignore[arg-type]
            expires_at=SOON,
        )


def test_links_are_absolute_under_the_public_url() -> None:
    links = Links(SECRET, "https://dlp.example.jp/approvals/")
    url = links.url(message_id="Q/1", approver=MANAGER_A, action="approve", expires_at=SOON)
    assert url.startswith("https://dlp.example.jp/approvals/l/")
    assert read_link(SECRET, url.rsplit("/", 1)[1]).message_id == "Q/1"
    assert review_url("https://dlp.example.jp/", "Q/1 x") == "https://dlp.example.jp/m/Q%2F1%20x"


# --- through the web app ------------------------------------------------------------------

pytestmark_async = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with rig(Path(tmp_path_factory.mktemp("links"))) as ready:
        yield ready


async def _events(ready: Rig, message_id: str, event: str) -> list[dict[str, object]]:
    records = await ready.store.audit_log(message_id=message_id, event=event)
    return [dict(r.detail, actor=r.actor) for r in records]


@pytestmark_async
async def test_get_never_changes_state(web: Rig) -> None:
    await web.hold(SENDER_A, "prefetched")
    link = web.link("prefetched", MANAGER_A, "approve")
    scanner = web.client()  # a link scanner: no cookies kept between requests, follows links
    for _ in range(3):
        response = await scanner.get(link)
        assert response.status_code == 200
        assert 'id="confirm"' in response.text
        head = await scanner.head(link)
        assert head.status_code in (200, 405)
    assert await web.state("prefetched") == "held"
    assert await _events(web, "prefetched", "approved") == []
    assert web.decisions == [] or all(d.id != "prefetched" for d in web.decisions)
    # The prefetches did not spend the link: the approver can still use it.
    browser = Browser(web.client())
    await browser.get(link)
    done = await browser.post(link, {"comment": "確認しました"})
    assert done.status_code == 200, done.text
    assert 'id="done"' in done.text
    assert await web.state("prefetched") == "approved"
    held = await web.store.get("prefetched")
    assert held is not None and held.decided_by == MANAGER_A and held.comment == "確認しました"
    assert web.decisions[-1].id == "prefetched"
    assert await _events(web, "prefetched", "approved") == [
        {"comment": "確認しました", "actor": MANAGER_A}
    ]
    records = await web.store.audit_log(message_id="prefetched", event="approved")
    assert records[0].via == "link"


@pytestmark_async
async def test_a_used_link_is_refused(web: Rig) -> None:
    await web.hold(SENDER_A, "reused")
    link = web.link("reused", MANAGER_A, "reject")
    browser = Browser(web.client())
    await browser.get(link)
    first = await browser.post(link, {"comment": "no"})
    assert first.status_code == 200
    assert await web.state("reused") == "rejected"
    second = await browser.post(link, {"comment": "again"})
    assert second.status_code == 410
    assert "already been used" in second.text or "使用されています" in second.text
    refused = await _events(web, "reused", "link_refused")
    assert [e["reason"] for e in refused] == ["link_used"]
    # Another, unused link for the same message meets the decided state.
    other = web.link("reused", MANAGER_A, "approve")
    late = await browser.get(other)
    assert late.status_code == 409
    assert await web.state("reused") == "rejected"


@pytestmark_async
async def test_expired_links_are_refused(web: Rig) -> None:
    await web.hold(SENDER_B, "expired-link")
    link = web.link("expired-link", MANAGER_B, "approve", expires_in=timedelta(seconds=-1))
    browser = Browser(web.client())
    page = await browser.get(link)
    assert page.status_code == 410
    assert "This link has expired" in page.text  # manager B reads English (the directory)
    await browser.get("/login")
    post = await browser.post(link, {})
    assert post.status_code == 410
    assert await web.state("expired-link") == "held"
    # The signature was good, so the refusals are filed under the message and the approver.
    refused = await _events(web, "expired-link", "link_refused")
    assert [(e["reason"], e["method"], e["actor"]) for e in refused] == [
        ("link_expired", "POST", MANAGER_B),
        ("link_expired", "GET", MANAGER_B),
    ]


@pytestmark_async
async def test_tampered_links_are_refused(web: Rig) -> None:
    await web.hold(SENDER_A, "tampered")
    link = web.link("tampered", MANAGER_B, "approve")  # B, hoping to make it A's
    forged = link[: link.rindex("/") + 6] + ("A" if link[link.rindex("/") + 6] != "A" else "B")
    forged += link[link.rindex("/") + 7 :]
    browser = Browser(web.client())
    page = await browser.get(forged)
    assert page.status_code == 400
    await browser.get("/login")
    post = await browser.post(forged, {})
    assert post.status_code == 400
    assert await web.state("tampered") == "held"
    records = await web.store.audit_log(event="link_refused", search="link_invalid")
    assert records and all(r.actor == "-" and r.message_id is None for r in records)


@pytestmark_async
async def test_a_link_needs_the_csrf_token_of_its_confirmation_page(web: Rig) -> None:
    await web.hold(SENDER_A, "csrf-link")
    link = web.link("csrf-link", MANAGER_A, "approve")
    browser = Browser(web.client())
    await browser.get(link)
    good = browser.csrf
    browser.csrf = ""
    assert (await browser.post(link, {})).status_code == 403
    browser.csrf = good[:-2] + "xx"
    assert (await browser.post(link, {})).status_code == 403
    assert await web.state("csrf-link") == "held"
    # The refused POSTs did not spend the link.
    browser.csrf = good
    assert (await browser.post(link, {})).status_code == 200
    assert await web.state("csrf-link") == "approved"


@pytestmark_async
async def test_the_sender_withdraws_with_their_link(web: Rig) -> None:
    await web.hold(SENDER_B, "withdrawn")
    stranger = web.link("withdrawn", MANAGER_B, "withdraw")
    browser = Browser(web.client())
    assert (await browser.get(stranger)).status_code == 403
    link = web.link("withdrawn", SENDER_B, "withdraw")
    page = await browser.get(link)
    assert page.status_code == 200
    assert "Withdraw this mail?" in page.text  # the sender's language (en) from the directory
    done = await browser.post(link, {})
    assert done.status_code == 200
    assert await web.state("withdrawn") == "withdrawn"
    assert web.decisions[-1].id == "withdrawn"
    records = await web.store.audit_log(message_id="withdrawn", event="withdrawn")
    assert [(r.actor, r.via) for r in records] == [(SENDER_B, "link")]


@pytestmark_async
async def test_link_pages_speak_the_approvers_language(web: Rig) -> None:
    await web.hold(SENDER_A, "language-a")
    await web.hold(SENDER_B, "language-b")
    client = web.client()
    japanese = await client.get(web.link("language-a", MANAGER_A, "approve"))
    english = await client.get(web.link("language-b", MANAGER_B, "reject"))
    assert "送信を承認しますか" in japanese.text and 'lang="ja"' in japanese.text
    assert "Reject this mail?" in english.text and 'lang="en"' in english.text
    for response in (japanese, english):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
