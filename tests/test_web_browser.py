"""The approval flow in a real headless Chromium (Debian's package), desktop and phone.

Screenshots go to tests/artifacts/web/ for people to look at.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.webrig import MANAGER_A, MANAGER_B, PASSWORD, SENDER_A, SENDER_B, Rig, rig

CHROMIUM = Path("/usr/bin/chromium")
# Without these the browser waits on the (closed) network: updates, sync, QUIC probes.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts" / "web"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (before the loop has work)
        pytest.skip(f"{CHROMIUM} is missing: run scripts/test-deps as root (Debian's chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with rig(Path(tmp_path_factory.mktemp("browser"))) as ready:
        yield ready


async def _context(
    browser: Browser, web: Rig, *, phone: bool, locale: str
) -> tuple[BrowserContext, list[str]]:
    context = await browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
        locale=locale,
    )
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    return context, requested


async def _fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the viewport"


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _sign_in(page: Page, web: Rig, email: str) -> None:
    await page.goto(f"{web.url}/")
    assert "/login" in page.url
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action$='/login'] button[type=submit]")
    await page.wait_for_selector("#queue")


@pytest.mark.parametrize(
    ("device", "approver", "sender", "comment", "done_text"),
    [
        (
            "desktop",
            MANAGER_A,
            SENDER_A,
            "顧客リストは必要な範囲に絞ってください。",
            "承認しました",
        ),
        ("phone", MANAGER_B, SENDER_B, "OK, encrypted as required.", "Approved."),
    ],
    ids=["desktop", "phone"],
)
async def test_sign_in_open_and_approve(
    chromium: Browser,
    web: Rig,
    device: str,
    approver: str,
    sender: str,
    comment: str,
    done_text: str,
) -> None:
    message_id = f"browser-{device}"
    await web.hold(sender, message_id)
    phone = device == "phone"
    # Manager A's account says Japanese; manager B's says English, whatever the browser says.
    context, requested = await _context(chromium, web, phone=phone, locale="ja-JP")
    page = await context.new_page()
    await _sign_in(page, web, approver)
    await _fits(page)
    await _shot(page, f"{device}-1-queue")

    await page.click(f"li[data-id='{message_id}'] a")
    await page.wait_for_selector("#decide")
    assert await page.inner_text("h1") == "見積書と顧客リストの送付"
    await _fits(page)
    await _shot(page, f"{device}-2-message")

    await page.fill("#comment-input", comment)
    await page.click("button.approve")
    await page.wait_for_selector(".flash")
    assert done_text in await page.inner_text(".flash")
    assert await page.get_attribute("#status .badge", "data-state") == "approved"
    assert await page.query_selector("#decide") is None
    assert comment in await page.inner_text("#comment")
    await _fits(page)
    await _shot(page, f"{device}-3-approved")

    held = await web.store.get(message_id)
    assert held is not None
    assert (held.state, held.decided_by, held.comment) == ("approved", approver, comment)
    assert web.decisions[-1].id == message_id
    # Every request went to our server: no fonts, scripts or styles from elsewhere.
    assert requested and all(url.startswith(web.url) for url in requested), requested
    await context.close()


async def test_approve_from_the_notice_link_on_a_phone(chromium: Browser, web: Rig) -> None:
    await web.hold(SENDER_A, "browser-link")
    link = web.link("browser-link", MANAGER_A, "approve")
    context, requested = await _context(chromium, web, phone=True, locale="ja-JP")
    page = await context.new_page()
    await page.goto(link)
    await page.wait_for_selector("#confirm")
    assert "送信を承認しますか" in await page.inner_text("h1")
    assert await web.state("browser-link") == "held"  # opening the link did nothing
    await _fits(page)
    await _shot(page, "phone-4-link-confirm")
    await page.fill("#comment-input", "確認しました")
    await page.click("#confirm button[type=submit]")
    await page.wait_for_selector("#done")
    await _fits(page)
    await _shot(page, "phone-5-link-done")
    assert await web.state("browser-link") == "approved"
    again = await page.goto(link)  # the same link, used: refused, clearly
    assert again is not None and again.status == 409
    assert "承認済み" in await page.inner_text("#refusal")
    assert all(url.startswith(web.url) for url in requested)
    await context.close()
