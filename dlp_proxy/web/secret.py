"""The web secret: from settings, else a 0600 key file in the data dir; purpose-bound subkeys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from dlp_proxy.config import Settings
from dlp_proxy.errors import ConfigError

SECRET_FILE = "secret.key"
MIN_SECRET_BYTES = 32


def load_secret(settings: Settings) -> bytes:
    """``secret_key`` from the settings, else ``<data_dir>/secret.key`` (made on first use)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    return read_or_create(settings.data_dir / SECRET_FILE)


def read_or_create(path: Path) -> bytes:
    """Read the key file, or create it (0600, 32 random bytes, base64) if it does not exist.

    Several worker processes may race to create it: exactly one creates, the others read.
    A file that others may read is refused, as ssh refuses a readable private key.
    """
    if path.exists():
        return _read(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(base64.urlsafe_b64encode(secrets.token_bytes(MIN_SECRET_BYTES)) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        # link() publishes the complete file at once and fails if another process won.
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the secret key: {exc.strerror or exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secret key: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: the secret key is readable by others; chmod 600 {path}")
    if len(text) < MIN_SECRET_BYTES:
        raise ConfigError(f"{path}: the secret key is shorter than {MIN_SECRET_BYTES} characters")
    return text


def derive(secret: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so a value signed for one use never verifies for another."""
    return hmac.new(secret, b"dlp-proxy web " + purpose.encode(), hashlib.sha256).digest()
