"""AES-256-GCM for held content: keys, key ids, key files, sealing bound to the message id."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dlp_proxy.errors import ConfigError
from dlp_proxy.quarantine.errors import ContentUnreadable

KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"dlp-proxy/quarantine/content/v1\0"


def new_key() -> bytes:
    """A fresh random AES-256 key."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def parse_key(text: str) -> bytes:
    """Base64 (standard or URL-safe alphabet) of exactly 32 bytes; ValueError otherwise."""
    cleaned = "".join(text.split())
    try:
        key = base64.b64decode(cleaned.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"expected base64 of {KEY_BYTES} bytes, got {len(key)} bytes")
    return key


def key_id(key: bytes) -> str:
    """A short public name of a key, stored with each row it sealed; reveals nothing of it."""
    return hashlib.sha256(b"dlp-proxy quarantine key id\0" + key).hexdigest()[:16]


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600, atomically) with a fresh key if missing.

    Several processes may race to create it; exactly one file wins and all read that one.
    A key file that other users can read is refused, as ssh refuses such private keys.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(encode_key(new_key()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: key file is open to other users (mode {mode & 0o777:o}); chmod 600 it"
        )
    try:
        return parse_key(path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a quarantine key: {exc}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Sealed:
    """Content as stored: ciphertext with its tag, the nonce, and the id of the key."""

    ciphertext: bytes
    nonce: bytes
    key_id: str


class KeyRing:
    """The key that seals new content, and older keys that still open rows sealed with them."""

    def __init__(
        self, current: bytes, *, current_id: str | None = None, old: Iterable[bytes] = ()
    ) -> None:
        if len(current) != KEY_BYTES:
            raise ValueError(f"quarantine key must be {KEY_BYTES} bytes, got {len(current)}")
        self.current_id = current_id or key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in old if len(k) == KEY_BYTES}
        self._keys[self.current_id] = AESGCM(current)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def seal(self, message_id: str, content: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._keys[self.current_id].encrypt(nonce, content, _aad(message_id))
        return Sealed(ciphertext, nonce, self.current_id)

    def open(self, message_id: str, sealed: Sealed) -> bytes:
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            raise ContentUnreadable(
                f"message {message_id} was sealed with key {sealed.key_id}, which this node "
                f"does not have (it has {', '.join(sorted(self._keys))}); give every node the "
                "same quarantine_key"
            )
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, _aad(message_id))
        except InvalidTag:
            raise ContentUnreadable(
                f"content of message {message_id} fails authentication (tampered with, or "
                "belongs to another message)"
            ) from None


def _aad(message_id: str) -> bytes:
    return _AAD_PREFIX + message_id.encode("utf-8")
