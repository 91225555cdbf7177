"""Password hashing for web UI users: argon2id (argon2-cffi), off the event loop."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

MIN_PASSWORD_LENGTH = 8


def new_hasher() -> PasswordHasher:
    """argon2id with RFC 9106's second recommended option (t=3, 64 MiB, p=4)."""
    return PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


_hasher = new_hasher()


def normalize_email(email: str) -> str:
    address = email.strip().lower()
    if "@" not in address or any(c.isspace() for c in address):
        raise ValueError(f"not an email address: {email!r}")
    return address


async def hash_password(password: str) -> str:
    if not password:
        raise ValueError("empty password")
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(hashed: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown user), spend the same time and say no."""
    return await asyncio.to_thread(_verify, hashed or _dummy_hash(), password, hashed is not None)


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)


def _verify(hashed: str, password: str, real: bool) -> bool:
    try:
        ok = _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and real


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("dlp-proxy: no such user")
