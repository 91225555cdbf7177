"""Engines for SQLite (one writer at a time, WAL, fsync on commit) and PostgreSQL; DB errors."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, event, exc, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from dlp_proxy.quarantine.errors import QuarantineError, QuarantineUnavailable

WRITE = "dlp_proxy_write"  # execution option: this connection's transactions write


def engine_url(url: str | URL) -> URL:
    """Accept sqlite:///PATH, postgresql://... (and their async forms); name the async driver."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ValueError(f"not a database URL: {error}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://..."
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str | URL, *, timeout: float, schema: str | None = None) -> AsyncEngine:
    """An async engine with our durability settings; ``timeout`` bounds connecting and waiting."""
    parsed = engine_url(url)
    options: dict[str, Any] = {
        "json_serializer": lambda value: json.dumps(value, ensure_ascii=False),
        "pool_timeout": timeout,
    }
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise ValueError("schema is for PostgreSQL only")
        _prepare_sqlite_file(parsed, timeout=timeout)
        # A pool of open connections (SQLAlchemy 2.0 would open one per transaction).
        engine = create_async_engine(
            parsed,
            poolclass=AsyncAdaptedQueuePool,
            connect_args={"timeout": timeout},
            **options,
        )
        _configure_sqlite(engine)
        return engine
    settings = {"application_name": "dlp-proxy"}
    if schema is not None:
        settings["search_path"] = schema
    return create_async_engine(
        parsed,
        pool_pre_ping=True,
        connect_args={"timeout": timeout, "command_timeout": timeout, "server_settings": settings},
        **options,
    )


def _prepare_sqlite_file(url: URL, *, timeout: float) -> None:
    """Create the data directory and the database file (readable by its owner only) and put
    the file in WAL mode, which it keeps."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("the quarantine needs a SQLite database file, not an in-memory one")
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _use_wal(path, timeout=timeout)


def _use_wal(path: Path, *, timeout: float) -> None:
    """Switch the file to WAL once. The switch needs the file to itself, and SQLite answers
    "locked" at once (without its busy wait) when two connections switch together, as
    processes opening a new quarantine at the same time do: retry until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=timeout)) as conn:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise QuarantineUnavailable(
                    f"quarantine database unavailable: {path}: {error}"
                ) from None
            time.sleep(0.02)
        except sqlite3.DatabaseError as error:
            raise QuarantineError(f"{path}: {error}") from None


def _configure_sqlite(engine: AsyncEngine) -> None:
    """A full fsync at each commit (of the WAL); writers take the lock at BEGIN, so a transaction
    that reads then writes never fails half-way on another process's write."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in ("synchronous=FULL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_UNAVAILABLE = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,
    OSError,
    TimeoutError,
)


@contextlib.contextmanager
def unavailable_as_temporary() -> Iterator[None]:
    """Turn 'the database cannot be reached or is locked' into QuarantineUnavailable.

    The message names the driver's error only, never the SQL or its parameters.
    """
    try:
        yield
    except _UNAVAILABLE as error:
        raise QuarantineUnavailable(
            f"quarantine database unavailable: {_describe(error)}"
        ) from None
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise QuarantineUnavailable(
                f"quarantine database connection lost: {_describe(error)}"
            ) from None
        raise


def _describe(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {text}"[:300] if text else type(original).__name__
