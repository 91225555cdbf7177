"""Quarantine test fixtures: a fresh store on real SQLite and on real PostgreSQL.

PostgreSQL: DLP_PROXY_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test);
each test gets its own schema, dropped afterwards. Where no server answers, the
PostgreSQL half of each test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Executable, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dlp_proxy.quarantine import NewHold, Quarantine
from dlp_proxy.quarantine import users as passwords
from dlp_proxy.quarantine.database import create_engine, sqlite_url

POSTGRES_URL = os.environ.get(
    "DLP_PROXY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
ENGINES = ("sqlite", "postgresql")


@functools.cache
def postgres_missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when a server answers (call it outside
    an event loop; the ``postgres_reason`` fixture does)."""

    async def probe() -> str | None:
        engine = create_engine(POSTGRES_URL, timeout=3)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"no PostgreSQL at {POSTGRES_URL} ({type(exc).__name__}: {exc})"
        finally:
            await engine.dispose()
        return None

    return asyncio.run(probe())


@dataclass
class Db:
    """One empty quarantine database; ``open()`` gives a store on it (one per "node")."""

    engine: str
    url: str
    key: bytes
    schema: str | None = None
    stores: list[Quarantine] = field(default_factory=list)

    async def open(self, **options: Any) -> Quarantine:
        options.setdefault("key", self.key)
        store = await Quarantine.open(self.url, schema=self.schema, **options)
        self.stores.append(store)
        return store

    def raw_engine(self) -> AsyncEngine:
        """A plain engine on the same database, for looking under the store and tampering."""
        return create_engine(self.url, timeout=5, schema=self.schema)

    async def execute(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        engine = self.raw_engine()
        try:
            async with engine.begin() as conn:
                statement = text(sql) if isinstance(sql, str) else sql
                result = await conn.execute(statement, dict(params or {}))
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    async def close(self) -> None:
        for store in self.stores:
            await store.close()
        self.stores.clear()


@pytest.fixture(scope="session")
def postgres_reason() -> str | None:
    return postgres_missing()


@pytest.fixture(params=ENGINES)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_reason: str | None
) -> AsyncIterator[Db]:
    key = os.urandom(32)
    if request.param == "sqlite":
        database = Db("sqlite", sqlite_url(tmp_path / "quarantine.db"), key)
        yield database
        await database.close()
        return
    if postgres_reason:
        pytest.skip(postgres_reason)
    schema = f"qtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, timeout=5)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
        database = Db("postgresql", POSTGRES_URL, key, schema=schema)
        yield database
        await database.close()
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        await admin.dispose()


@pytest.fixture
async def store(db: Db) -> Quarantine:
    return await db.open()


@pytest.fixture
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id with small costs, so tests that hash many passwords stay fast on a
    loaded machine; test_quarantine_users.py checks the production parameters apart."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    )


def new_hold(
    id: str = "Q1",
    *,
    sender: str = "sales@dealer.example.jp",
    approvers: tuple[str, ...] = ("Manager@dealer.example.jp",),
    content: bytes | None = None,
    expires_in: timedelta = timedelta(hours=72),
    received_at: datetime | None = None,
    subject: str = "顧客リスト",
    recipients: tuple[str, ...] = ("a@customer.example.com", "b@customer.example.com"),
) -> NewHold:
    """A held message as the SMTP side would hand it over (synthetic, no real person)."""
    now = datetime.now(UTC)
    return NewHold(
        id=id,
        sender=sender,
        recipients=recipients,
        mail_options=("BODY=8BITMIME",),
        client={"addr": "127.0.0.1", "name": "mta.example.jp", "helo": "mta"},
        subject=subject,
        summary={
            "attachments": [{"path": "list.xlsx", "personal_rows": 40, "samples": ["山田 *郎"]}],
            "decision": {
                "action": "hold",
                "actions": ["hold", "encrypt"],
                "rules": [
                    {"name": "customer-list-external", "mode": "enforce", "actions": ["hold"]},
                    {"name": "watch-only", "mode": "monitor", "actions": ["hold"]},
                    {"name": "encrypt-external", "mode": "enforce", "actions": ["encrypt"]},
                ],
            },
        },
        policy_version="pv-1",
        approvers=approvers,
        expires_at=now + expires_in,
        content=content if content is not None else message_bytes(id),
        received_at=received_at,
    )


def message_bytes(id: str, marker: bytes = b"") -> bytes:
    return (
        b"From: sales@dealer.example.jp\r\nTo: a@customer.example.com\r\n"
        b"Subject: list " + id.encode() + b"\r\n\r\nbody " + marker + b"\r\n"
    )
