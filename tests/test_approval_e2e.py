"""The whole approval flow: mail held over SMTP, approved in headless Chromium, delivered."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.test_actions_relay import PARTNER, SENDER, notices, parsed, relayed
from tests.test_hold_flow import MANAGER, hold_one, notices_of, policy, state_of, wait_for
from tests.test_web_browser import ARGS, ARTIFACTS, CHROMIUM, PHONE

PASSWORD = "correct horse battery staple 7"


@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240
        pytest.skip(f"{CHROMIUM} is missing: run scripts/test-deps as root (Debian's chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


async def test_held_over_smtp_approved_on_a_phone_delivered_encrypted(
    start_proxy: ProxyFactory,
    sink: Sink,
    tmp_path: Path,
    chromium: Browser,
    fast_argon2: None,
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy(tmp_path))
    assert proxy.quarantine is not None and proxy.web is not None
    await proxy.quarantine.add_user(MANAGER, password=PASSWORD, role="approver", language="ja")
    queue_id = await hold_one(proxy.address)
    (request,) = [m for m in await notices_of(sink, "approval_request", 2) if MANAGER in m["To"]]
    assert relayed(sink) == []

    context = await chromium.new_context(viewport=PHONE, is_mobile=True, locale="ja-JP")
    page = await context.new_page()
    await page.goto(f"{proxy.web.url}/")
    await page.fill("#email", MANAGER)
    await page.fill("#password", PASSWORD)
    await page.click("form[action$='/login'] button[type=submit]")
    await page.wait_for_selector("#queue")
    await page.screenshot(path=str(ARTIFACTS / "e2e-1-queue.png"), full_page=True)
    await page.click(f"li[data-id='{queue_id}'] a")
    await page.wait_for_selector("#decide")
    assert "お見積りの件" in await page.inner_text("h1")
    await page.screenshot(path=str(ARTIFACTS / "e2e-2-message.png"), full_page=True)
    await page.fill("#comment-input", "暗号化して送ってください")
    await page.click("button.approve")
    await page.wait_for_selector(".flash")
    await page.screenshot(path=str(ARTIFACTS / "e2e-3-approved.png"), full_page=True)
    await context.close()

    (copy,) = await wait_for(sink, 1)
    assert copy.rcpt_tos == [PARTNER] and copy.mail_from == SENDER
    names = {p.get_filename() for p in parsed(copy).iter_attachments()}
    assert "顧客リスト①.xlsx.zip" in names
    (password,) = await notices_of(sink, "encrypted", 1)
    assert password["To"].addresses[0].addr_spec == SENDER
    (released,) = await notices_of(sink, "released", 1)
    assert "暗号化して送ってください" in released.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    held = await state_of(proxy, queue_id, "released")
    assert held.decided_by == MANAGER
    assert request is not None and not notices(sink, "rejected")
