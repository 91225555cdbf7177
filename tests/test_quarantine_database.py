"""Quarantine plumbing: a database that is down or locked is a temporary failure, never a
hang; the migration matches the models; keys and settings."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert

from dlp_proxy.config import load_settings
from dlp_proxy.errors import ConfigError, TemporaryFailure
from dlp_proxy.quarantine import Quarantine, QuarantineError, QuarantineUnavailable, migrate
from dlp_proxy.quarantine.crypto import KeyRing, key_id, load_or_create_key, parse_key
from dlp_proxy.quarantine.database import engine_url
from dlp_proxy.quarantine.from_settings import database_url, open_quarantine
from dlp_proxy.quarantine.migrate import VERSION_TABLE
from dlp_proxy.quarantine.models import Base, MessageRow
from tests.qstore import POSTGRES_URL, Db, new_hold

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unavailable_is_a_temporary_failure() -> None:
    assert issubclass(QuarantineUnavailable, TemporaryFailure)
    assert issubclass(QuarantineUnavailable, QuarantineError)


async def test_nothing_listening() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/test"
    with pytest.raises(QuarantineUnavailable, match="unavailable"):
        await Quarantine.open(url, key=os.urandom(32), db_timeout=2)


async def test_a_server_that_never_answers_times_out() -> None:
    """Accepts the connection, then says nothing: the connect timeout ends it."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(QuarantineUnavailable):
            await Quarantine.open(
                f"postgresql://postgres@127.0.0.1:{port}/test", key=os.urandom(32), db_timeout=0.5
            )
        assert held  # the client did connect; it gave up waiting
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


class Forwarder:
    """A TCP hop in front of PostgreSQL that can be cut and restored, as a network would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


@pytest.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    hop = Forwarder(engine_url(POSTGRES_URL).port or 5432)
    await hop.start()
    yield hop
    await hop.cut()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
async def test_database_lost_and_back(db: Db, forwarder: Forwarder) -> None:
    url = engine_url(db.url).set(port=forwarder.port).render_as_string(hide_password=False)
    store = await Quarantine.open(url, key=db.key, schema=db.schema, db_timeout=2)
    try:
        await store.hold(new_hold("BEFORE"))
        await forwarder.cut()
        with pytest.raises(QuarantineUnavailable):
            await store.hold(new_hold("DURING"))
        with pytest.raises(QuarantineUnavailable):
            await store.get("BEFORE")
        await forwarder.start()
        await store.hold(new_hold("AFTER"))
        assert [m.id for m in await store.list()] == ["AFTER", "BEFORE"]
    finally:
        await store.close()


async def test_sqlite_locked_by_another_process_is_temporary(tmp_path: Path) -> None:
    path = tmp_path / "quarantine.db"
    store = await Quarantine.open(f"sqlite:///{path}", key=os.urandom(32), db_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(QuarantineUnavailable, match="locked"):
            await store.hold(new_hold("M"))
        assert await store.get("M") is None  # reads go on while another process writes
        other.execute("ROLLBACK")
        await store.hold(new_hold("M"))
    finally:
        other.close()
        await store.close()


async def test_sqlite_settings_for_durability(tmp_path: Path) -> None:
    path = tmp_path / "q" / "quarantine.db"
    store = await Quarantine.open(f"sqlite:///{path}", key=os.urandom(32))
    try:
        await store.hold(new_hold("M"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        async with store._engine.connect() as conn:
            journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            synchronous = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
        assert (journal, synchronous) == ("wal", 2)  # 2 = FULL: fsync at every commit
    finally:
        await store.close()


async def test_migration_creates_what_the_models_say(db: Db) -> None:
    await db.open()

    def differences(conn: Connection) -> list[object]:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))

    engine = db.raw_engine()
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_create_false_refuses_an_empty_database(db: Db) -> None:
    with pytest.raises(QuarantineError, match="revision none"):
        await db.open(create=False)
    await db.open()
    again = await db.open(create=False)
    assert await again.counts() == dict.fromkeys(await again.counts(), 0)


def test_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "quarantine.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert parse_key(path.read_text()) == key
    assert list(path.parent.iterdir()) == [path]


WORKER = """
import asyncio, sys
from pathlib import Path
from dlp_proxy.config import load_settings
from dlp_proxy.quarantine.from_settings import open_quarantine, quarantine_key
from tests.qstore import new_hold

async def main():
    settings = load_settings(environ={}, flags={"data_dir": Path(sys.argv[1])})
    store = await open_quarantine(settings)
    await store.hold(new_hold(sys.argv[2]))
    await store.close()
    print(quarantine_key(settings).hex())

asyncio.run(main())
"""


async def test_workers_starting_together_share_one_key_and_database(tmp_path: Path) -> None:
    """--workers N on a fresh data directory: N processes create the key file and the
    database at once (SQLite answers "locked" at once to two simultaneous WAL switches)."""
    data = tmp_path / "var"
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, str(data), f"W{i}", stdout=subprocess.PIPE, cwd=ROOT
        )
        for i in range(3)
    ]
    outputs = [await child.communicate() for child in children]
    assert [child.returncode for child in children] == [0, 0, 0]
    keys = {out.strip() for out, _ in outputs}
    assert len(keys) == 1
    store = await open_quarantine(load_settings(environ={}, flags={"data_dir": data}))
    try:
        assert sorted(m.id for m in await store.list()) == ["W0", "W1", "W2"]
        assert b"list W1" in await store.content("W1")
    finally:
        await store.close()


def test_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "quarantine.key"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(path)
    path.chmod(0o600)
    path.write_text("not a key\n")
    with pytest.raises(ConfigError, match="not a quarantine key"):
        load_or_create_key(path)


@pytest.mark.parametrize("text", ["", "abc", "A" * 42 + "==", "!" * 44], ids=repr)
def test_bad_keys(text: str) -> None:
    with pytest.raises(ValueError):
        parse_key(text)


def test_key_ids_name_keys_without_revealing_them() -> None:
    key = os.urandom(32)
    assert key_id(key) == KeyRing(key).current_id
    assert key_id(key) != key_id(os.urandom(32))
    assert key.hex()[:8] not in key_id(key)


def test_database_urls(tmp_path: Path) -> None:
    settings = load_settings(environ={}, flags={"data_dir": tmp_path})
    assert database_url(settings) == f"sqlite+aiosqlite:///{tmp_path}/quarantine.db"
    for given, expected in [
        ("postgresql://u:p%40ss@db.example.jp/q", "postgresql+asyncpg://u:p%40ss@db.example.jp/q"),
        ("postgres://u@db:6432/q", "postgresql+asyncpg://u@db:6432/q"),
        ("postgresql+asyncpg://u@db/q", "postgresql+asyncpg://u@db/q"),
        ("sqlite:////srv/q.db", "sqlite+aiosqlite:////srv/q.db"),
    ]:
        settings = load_settings(environ={"DLP_PROXY_QUARANTINE_URL": given})
        assert database_url(settings) == expected
    for bad in ("mysql://u@h/d", "postgresql+psycopg2://u@h/d", "db.sqlite"):
        with pytest.raises(ConfigError, match="quarantine_url"):
            load_settings(environ={"DLP_PROXY_QUARANTINE_URL": bad})


def test_key_setting_is_checked_and_never_shown() -> None:
    key = os.urandom(32)
    text = base64.b64encode(key).decode()
    settings = load_settings(environ={"DLP_PROXY_QUARANTINE_KEY": text})
    assert text not in repr(settings)
    with pytest.raises(ConfigError, match="DLP_PROXY_QUARANTINE_KEY: quarantine_key"):
        load_settings(environ={"DLP_PROXY_QUARANTINE_KEY": text[:-8]})
    with pytest.raises(ConfigError, match="retention_days"):
        load_settings(environ={"DLP_PROXY_RETENTION_DAYS": "-1"})


async def test_open_from_settings(tmp_path: Path) -> None:
    settings = load_settings(environ={}, flags={"data_dir": tmp_path / "var"})
    store = await open_quarantine(settings)
    try:
        await store.hold(new_hold("M"))
    finally:
        await store.close()
    assert stat.S_IMODE((tmp_path / "var" / "quarantine.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var" / "quarantine.db").stat().st_mode) == 0o600
    key = parse_key((tmp_path / "var" / "quarantine.key").read_text())
    configured = load_settings(
        environ={"DLP_PROXY_QUARANTINE_KEY": base64.b64encode(key).decode()},
        flags={"data_dir": tmp_path / "var"},
    )
    (tmp_path / "var" / "quarantine.key").unlink()
    store = await open_quarantine(configured)
    try:
        assert b"list M" in await store.content("M")
    finally:
        await store.close()
    assert not (tmp_path / "var" / "quarantine.key").exists()


async def test_a_database_from_a_newer_build_is_refused(db: Db) -> None:
    await db.open()
    await db.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff_from_the_future'")
    with pytest.raises(QuarantineError, match="newer dlp-proxy"):
        await db.open()
    rows = await db.execute(f"SELECT version_num FROM {VERSION_TABLE}")
    assert rows == [("ffff_from_the_future",)]


async def test_a_database_at_the_first_revision_is_upgraded_in_place(db: Db) -> None:
    """Rows held under revision 0001 survive the upgrade to head and stay usable."""

    def first_revision(conn: Connection) -> None:
        command.upgrade(migrate._config(conn), "0001")

    engine = db.raw_engine()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(first_revision)
    finally:
        await engine.dispose()
    # A message held by a 0001 build, written as that build wrote it.
    now = datetime.now(UTC)
    await db.execute(
        insert(MessageRow.__table__).values(
            id="OLD",
            state="held",
            received_at=now,
            sender="s@dealer.example.jp",
            recipients=["r@customer.example.com"],
            mail_options=[],
            client={"addr": "127.0.0.1"},
            subject="old",
            summary={},
            policy_version="pv-0",
            expires_at=now + timedelta(hours=1),
            attempts=0,
            size=3,
        )
    )
    store = await db.open()
    rows = await db.execute(f"SELECT version_num FROM {VERSION_TABLE}")
    assert rows == [(migrate.head(),)]
    got = await store.get("OLD")
    assert got is not None and got.state == "held"
    assert await store.claim_notice() is None  # nothing due for mail held before notices
    await store.approve("OLD", actor="a@x.jp", comment=None, via="web", admin=True)
    due = await store.claim_notice()
    assert due is not None and due.id == "OLD"


async def test_new_sqlite_databases_opened_at_once(tmp_path: Path) -> None:
    """Three stores opening each new file together, twenty times: never "locked" (before
    the WAL switch moved to file creation, about one round in thirty failed)."""
    key = os.urandom(32)
    for round in range(20):
        url = f"sqlite:///{tmp_path / f'r{round}.db'}"
        stores = await asyncio.gather(*(Quarantine.open(url, key=key) for _ in range(3)))
        await stores[0].hold(new_hold("M"))
        assert all([(await s.get("M")) is not None for s in stores])
        for store in stores:
            await store.close()
