"""Two proxy nodes sharing one PostgreSQL quarantine: held on one, approved on the other,
released exactly once; expiry applied once, not once per node."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text, update

from dlp_proxy.quarantine.database import create_engine
from dlp_proxy.quarantine.models import MessageRow
from dlp_proxy.service import Proxy
from dlp_proxy.web.apitokens import make_api_token
from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.qstore import POSTGRES_URL, postgres_missing
from tests.test_actions_relay import PARTNER, SENDER, relayed
from tests.test_hold_flow import MANAGER, hold_one, notices_of, policy, state_of, wait_for

PASSWORD = "two nodes one queue 42"


@pytest.fixture
async def shared_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test (the nodes share it), dropped afterwards."""
    reason = await asyncio.to_thread(postgres_missing)
    if reason:
        pytest.skip(reason)
    name = f"dlp_nodes_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, timeout=5).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def two_nodes(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, url: str
) -> tuple[Proxy, Proxy]:
    shared = {
        "quarantine_url": url,
        "quarantine_key": base64.b64encode(os.urandom(32)).decode(),
        "secret_key": secrets.token_urlsafe(48),
        "next_hop": via_proxy(sink),
        "policy_dir": policy(tmp_path),
    }
    node_a = await start_proxy(data_dir=tmp_path / "a", **shared)
    node_b = await start_proxy(data_dir=tmp_path / "b", **shared)
    return node_a, node_b


async def test_held_on_one_node_approved_on_the_other_released_once(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, shared_database: str
) -> None:
    node_a, node_b = await two_nodes(start_proxy, sink, tmp_path, shared_database)
    assert node_a.quarantine and node_b.quarantine and node_a.queue and node_b.queue
    assert node_b.web is not None
    await node_b.quarantine.add_user(MANAGER, password=PASSWORD, role="approver")

    queue_id = await hold_one(node_a.address)
    seen_on_b = await node_b.quarantine.get(queue_id)
    assert seen_on_b is not None and seen_on_b.state == "held"

    secret = node_b.settings.secret_key
    assert secret is not None
    token = make_api_token(
        secret.get_secret_value().encode(),
        MANAGER,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    async with httpx.AsyncClient(base_url=node_b.web.url) as client:
        answer = await client.post(
            f"/api/v1/messages/{queue_id}/approve",
            json={"comment": "approved on node B"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    for _ in range(3):  # both nodes look for work at once, several times
        node_a.queue.wake()
        node_b.queue.wake()
        await asyncio.sleep(0.2)
    (copy,) = await wait_for(sink, 1)
    assert copy.rcpt_tos == [PARTNER] and copy.mail_from == SENDER
    await state_of(node_a, queue_id, "released")
    await asyncio.sleep(1.0)
    assert len(relayed(sink)) == 1
    assert len(await notices_of(sink, "encrypted", 1)) == 1


async def test_expiry_is_applied_once_across_nodes(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, shared_database: str
) -> None:
    node_a, node_b = await two_nodes(start_proxy, sink, tmp_path, shared_database)
    assert node_a.quarantine and node_b.quarantine and node_a.queue and node_b.queue
    queue_id = await hold_one(node_a.address)
    engine = create_engine(shared_database, timeout=5)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(MessageRow)
                .where(MessageRow.id == queue_id)
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
    finally:
        await engine.dispose()
    # Both nodes' expiry passes run at the same moment.
    await asyncio.gather(node_a.queue._expire_due(), node_b.queue._expire_due())
    expired = await node_b.quarantine.audit_log(event="expired", message_id=queue_id, limit=10)
    assert len(expired) == 1
    await state_of(node_a, queue_id, "expired")
    await notices_of(sink, "rejected", 1)
    await asyncio.sleep(1.0)
    assert len([m for m in sink.messages if b"X-DLP-Notice: rejected" in m.content]) == 1
