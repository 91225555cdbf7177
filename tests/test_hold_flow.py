"""Held mail end to end: held through SMTP, decided in the store, released by the proxy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import update

from dlp_proxy.quarantine.models import MessageRow
from dlp_proxy.quarantine.records import HeldMessage
from dlp_proxy.service import Proxy
from tests.conftest import ProxyFactory, Received, Sink, via_proxy
from tests.test_actions_relay import (
    INTERNAL,
    PARTNER,
    SENDER,
    customer_mail,
    notices,
    parsed,
    password_in,
    relayed,
)
from tests.test_relay import send

MANAGER = f"sato@{INTERNAL}"
DELEGATE = f"suzuki@{INTERNAL}"


def policy(tmp_path: Path, *, on_expiry: str = "reject") -> Path:
    directory = tmp_path / "policy"
    directory.mkdir(exist_ok=True)
    (directory / "policy.yaml").write_text(
        f"internal_domains: [{INTERNAL}]\n"
        "directory: people.csv\n"
        "notices: {from: dlp@example.co.jp}\n"
        f"hold: {{expire_after_hours: 1, on_expiry: {on_expiry}}}\n"
        "rules:\n"
        "  - name: customer-data-out\n"
        "    reason: {ja: 個人データを含む添付ファイル, en: Attachments with personal data}\n"
        "    when: {personal_rows: 1, external_recipients: 1}\n"
        "    action: [hold, encrypt]\n",
        encoding="utf-8",
    )
    (directory / "people.csv").write_text(
        "email,name,managers,delegates,language\n"
        f"{SENDER},田中 一郎,{MANAGER},,ja\n"
        f"{MANAGER},佐藤 花子,,{DELEGATE},en\n",
        encoding="utf-8",
    )
    return directory


async def hold_one(proxy_address: tuple[str, int]) -> str:
    _, reply = await send(proxy_address, customer_mail(), sender=SENDER, rcpts=(PARTNER,))
    assert "held for approval as" in reply
    return reply.rsplit(" ", 1)[-1]


async def notices_of(sink: Sink, kind: str, count: int, *, within: float = 15) -> list[Message]:
    """The notices of ``kind`` once ``count`` have arrived (the queue worker sends them)."""
    async with asyncio.timeout(within):
        while len(notices(sink, kind)) < count:
            await asyncio.sleep(0.05)
    return notices(sink, kind)


async def state_of(proxy: Proxy, queue_id: str, state: str, *, within: float = 15) -> HeldMessage:
    """The held message once it reached ``state`` (the relay is seen before it is recorded)."""
    assert proxy.quarantine is not None
    async with asyncio.timeout(within):
        while (held := await proxy.quarantine.get(queue_id)) is None or held.state != state:
            await asyncio.sleep(0.05)
    return held


async def wait_for(sink: Sink, count: int, *, within: float = 15) -> list[Received]:
    async with asyncio.timeout(within):
        while len(relayed(sink)) < count:
            await asyncio.sleep(0.05)
    return relayed(sink)


async def test_held_mail_is_announced_then_released_encrypted_after_approval(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy(tmp_path))
    queue_id = await hold_one(proxy.address)
    assert relayed(sink) == []
    (held_notice,) = await notices_of(sink, "held", 1)
    assert held_notice["To"].addresses[0].addr_spec == SENDER
    requests = await notices_of(sink, "approval_request", 2)
    assert sorted(m["To"].addresses[0].addr_spec for m in requests) == [MANAGER, DELEGATE]
    assert proxy.quarantine is not None and proxy.queue is not None
    held = await proxy.quarantine.get(queue_id)
    assert held is not None and held.approvers == (MANAGER, DELEGATE)

    await proxy.quarantine.approve(queue_id, actor=MANAGER, comment="OK", via="test")
    proxy.queue.wake()
    (copy,) = await wait_for(sink, 1)
    assert copy.rcpt_tos == [PARTNER] and copy.mail_from == SENDER
    (password_notice,) = await notices_of(sink, "encrypted", 1)
    names = {p.get_filename() for p in parsed(copy).iter_attachments()}
    assert names == {"顧客リスト①.xlsx.zip", "brochure.pdf"}
    assert password_in(password_notice)
    await state_of(proxy, queue_id, "released")
    assert await notices_of(sink, "released", 1)
    await asyncio.sleep(0.5)
    assert len(relayed(sink)) == 1  # once


async def test_held_mail_survives_a_restart_and_is_delivered_once(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path)
    first = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    queue_id = await hold_one(first.address)
    await first.stop(grace=1)

    second = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    assert second.quarantine is not None and second.queue is not None
    held = await second.quarantine.get(queue_id)
    assert held is not None and held.state == "held"
    await second.quarantine.approve(queue_id, actor=DELEGATE, comment=None, via="test")
    second.queue.wake()
    (copy,) = await wait_for(sink, 1)
    assert copy.rcpt_tos == [PARTNER]
    await asyncio.sleep(0.5)
    assert len(relayed(sink)) == 1


async def test_next_hop_down_at_release_delivers_later_still_once(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy(tmp_path))
    assert proxy.quarantine is not None and proxy.queue is not None
    queue_id = await hold_one(proxy.address)
    sink.behaviour.mail_reply = "421 4.3.2 Service shutting down"  # the next hop is down
    await proxy.quarantine.approve(queue_id, actor=MANAGER, comment=None, via="test")
    proxy.queue.wake()
    async with asyncio.timeout(10):
        while (held := await proxy.quarantine.get(queue_id)) is not None and held.attempts == 0:
            await asyncio.sleep(0.05)
    assert held is not None and held.state == "approved" and held.last_error
    assert relayed(sink) == []

    sink.behaviour.mail_reply = None  # back up; make the retry due now
    await _due_now(proxy, queue_id)
    proxy.queue.wake()
    (copy,) = await wait_for(sink, 1)
    assert copy.rcpt_tos == [PARTNER]
    await asyncio.sleep(0.5)
    assert len(relayed(sink)) == 1
    done = await state_of(proxy, queue_id, "released")
    assert done.attempts >= 1


async def _due_now(proxy: Proxy, queue_id: str) -> None:
    """Move the retry time of a deferred release to now (the backoff is minutes)."""
    assert proxy.quarantine is not None
    engine = proxy.quarantine._engine
    async with engine.begin() as connection:
        await connection.execute(
            update(MessageRow)
            .where(MessageRow.id == queue_id)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_rejection_tells_the_sender_with_the_comment(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy(tmp_path))
    assert proxy.quarantine is not None and proxy.queue is not None
    queue_id = await hold_one(proxy.address)
    await proxy.quarantine.reject(
        queue_id, actor=MANAGER, comment="顧客リストは社外に出せません", via="cli"
    )
    proxy.queue.wake_notices()  # a decision made with the CLI is noticed by the queue worker
    (notice,) = await notices_of(sink, "rejected", 1)
    assert "顧客リストは社外に出せません" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert relayed(sink) == []


@pytest.mark.parametrize("on_expiry", ["reject", "release"])
async def test_expiry(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, on_expiry: str
) -> None:
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=policy(tmp_path, on_expiry=on_expiry)
    )
    assert proxy.quarantine is not None and proxy.queue is not None
    queue_id = await hold_one(proxy.address)
    moved = await proxy.quarantine.expire_due(
        now=datetime.now(UTC) + timedelta(hours=2),
        on_expiry=on_expiry,  # type: ignore[arg-type]
    )
    assert [m.id for m in moved] == [queue_id]
    if on_expiry == "reject":
        assert moved[0].state == "expired"
        assert relayed(sink) == []
    else:
        assert moved[0].state == "approved"
        await _due_now(proxy, queue_id)  # released "now", not at the simulated future time
        proxy.queue.wake()
        (copy,) = await wait_for(sink, 1)
        assert copy.rcpt_tos == [PARTNER]


async def test_every_decision_reaches_the_audit_trail(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=policy(tmp_path))
    assert proxy.quarantine is not None and proxy.audit is not None
    held_id = await hold_one(proxy.address)
    _, reply = await send(proxy.address, _plain_to_partner(), sender=SENDER, rcpts=(PARTNER,))
    passed_id = reply.rsplit(" ", 1)[-1]
    await proxy.audit.flush()
    decided = {
        r.message_id: r.detail for r in await proxy.quarantine.audit_log(event="decided", limit=10)
    }
    assert decided[held_id]["decision"] == "hold"
    assert decided[held_id]["rules"] == ["customer-data-out"]
    assert decided[passed_id]["decision"] == "pass" and decided[passed_id]["reply"] == "250"
    assert "subject" not in str(decided) and "お見積り" not in str(decided)


def _plain_to_partner() -> bytes:
    return (f"From: {SENDER}\r\nTo: {PARTNER}\r\nSubject: hello\r\n\r\nNo attachment.\r\n").encode()
