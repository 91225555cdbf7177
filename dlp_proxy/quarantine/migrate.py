"""Bring the quarantine schema to this build's newest revision (Alembic, run at open)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from dlp_proxy.quarantine.errors import QuarantineError

SCRIPTS = Path(__file__).with_name("migrations")
VERSION_TABLE = "quarantine_schema_version"
# Key of the PostgreSQL advisory lock that serialises migrations of several nodes.
LOCK_KEY = 0x646C_7071_7565_7565


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this build knows."""
    revision = ScriptDirectory(str(SCRIPTS)).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at; None when it has no quarantine schema."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection: Connection) -> None:
    """Run every migration the database lacks, inside the caller's transaction."""
    try:
        command.upgrade(_config(connection), "head")
    except CommandError as exc:
        raise QuarantineError(
            f"cannot migrate the quarantine database: {exc} (is it from a newer dlp-proxy?)"
        ) from None


def check(connection: Connection) -> None:
    """Refuse a database that is not at this build's revision (when asked not to migrate)."""
    have, want = current(connection), head()
    if have != want:
        raise QuarantineError(
            f"quarantine database is at revision {have or 'none'}, this build needs {want}"
        )
