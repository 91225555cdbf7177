"""Open the quarantine a process's settings describe: database URL, key (or key file)."""

from __future__ import annotations

from pathlib import Path

from dlp_proxy.config import Settings
from dlp_proxy.errors import ConfigError
from dlp_proxy.quarantine import crypto, database
from dlp_proxy.quarantine.store import Quarantine

DATABASE_FILE = "quarantine.db"
KEY_FILE = "quarantine.key"


def database_url(settings: Settings) -> str:
    """``quarantine_url`` with its async driver named, or SQLite in the data directory."""
    if settings.quarantine_url is None:
        return database.sqlite_url(settings.data_dir.absolute() / DATABASE_FILE)
    try:
        return database.engine_url(settings.quarantine_url).render_as_string(hide_password=False)
    except ValueError as exc:
        raise ConfigError(f"quarantine_url: {exc}") from None


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def quarantine_key(settings: Settings) -> bytes:
    """The configured key, or the data directory's key file (created 0600 on first use)."""
    if settings.quarantine_key is not None:
        return crypto.parse_key(settings.quarantine_key.get_secret_value())
    return crypto.load_or_create_key(key_file(settings))


async def open_quarantine(settings: Settings, *, create: bool = True) -> Quarantine:
    """The store for these settings, its schema brought up to date."""
    return await Quarantine.open(
        database_url(settings), key=quarantine_key(settings), create=create
    )
