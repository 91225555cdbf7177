"""Web UI users in the quarantine database: argon2id hashes, sign-in checks, disabling."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import update

from dlp_proxy.quarantine import AlreadyExists, NotFound, Quarantine
from dlp_proxy.quarantine import users as passwords
from dlp_proxy.quarantine.models import UserRow
from tests.qstore import Db

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.usefixtures("fast_argon2")


def test_production_hashes_are_argon2id_rfc9106_low_memory() -> None:
    hasher = passwords.new_hasher()
    assert (hasher.type, hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        Type.ID,
        3,
        64 * 1024,
        4,
    )
    hashed = hasher.hash(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_passwords_are_stored_as_argon2id_hashes(db: Db) -> None:
    store = await db.open()
    user = await store.add_user(
        "Boss@Dealer.example.jp", password=PASSWORD, role="approver", language="ja"
    )
    assert (user.email, user.role, user.language, user.disabled) == (
        "boss@dealer.example.jp",
        "approver",
        "ja",
        False,
    )
    rows = await db.execute("SELECT email, password_hash FROM quarantine_users")
    assert len(rows) == 1
    email, hashed = rows[0]
    assert email == "boss@dealer.example.jp"
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert PasswordHasher().verify(hashed, PASSWORD)
    assert not passwords._hasher.check_needs_rehash(hashed)
    assert "password" not in str(user.as_json()).lower()


async def test_verify_user(store: Quarantine) -> None:
    await store.add_user("boss@dealer.example.jp", password=PASSWORD, role="admin")
    ok = await store.verify_user(" BOSS@dealer.example.jp ", PASSWORD)
    assert ok is not None and ok.role == "admin"
    assert await store.verify_user("boss@dealer.example.jp", PASSWORD + "x") is None
    assert await store.verify_user("boss@dealer.example.jp", "") is None
    assert await store.verify_user("nobody@dealer.example.jp", PASSWORD) is None
    assert await store.verify_user("not an address", PASSWORD) is None


async def test_disabled_users_cannot_sign_in(store: Quarantine) -> None:
    await store.add_user("boss@dealer.example.jp", password=PASSWORD, role="approver")
    await store.disable_user("boss@dealer.example.jp", actor="cli:root")
    assert await store.verify_user("boss@dealer.example.jp", PASSWORD) is None
    user = await store.get_user("boss@dealer.example.jp")
    assert user is not None and user.disabled
    await store.enable_user("boss@dealer.example.jp")
    assert await store.verify_user("boss@dealer.example.jp", PASSWORD) is not None
    events = [(e.event, e.actor) for e in await store.audit_log()]
    assert events == [
        ("user_enabled", "system"),
        ("user_disabled", "cli:root"),
        ("user_added", "system"),
    ]


async def test_set_password(store: Quarantine) -> None:
    await store.add_user("boss@dealer.example.jp", password=PASSWORD, role="approver")
    await store.set_password("boss@dealer.example.jp", "another long one")
    assert await store.verify_user("boss@dealer.example.jp", PASSWORD) is None
    assert await store.verify_user("boss@dealer.example.jp", "another long one") is not None
    with pytest.raises(NotFound):
        await store.set_password("nobody@dealer.example.jp", "x" * 10)
    with pytest.raises(NotFound):
        await store.disable_user("nobody@dealer.example.jp")


async def test_one_account_per_address(store: Quarantine) -> None:
    await store.add_user("boss@dealer.example.jp", password=PASSWORD, role="approver")
    with pytest.raises(AlreadyExists):
        await store.add_user("BOSS@dealer.example.jp", password="x" * 10, role="admin")
    assert [u.email for u in await store.users()] == ["boss@dealer.example.jp"]


@pytest.mark.parametrize(
    ("email", "role", "language", "password"),
    [
        ("no-at-sign", "admin", None, PASSWORD),
        ("a@b.jp", "root", None, PASSWORD),
        ("a@b.jp", "admin", "fr", PASSWORD),
        ("a@b.jp", "admin", None, ""),
    ],
    ids=["address", "role", "language", "empty-password"],
)
async def test_bad_user_values(
    store: Quarantine, email: str, role: str, language: str | None, password: str
) -> None:
    with pytest.raises(ValueError):
        await store.add_user(email, password=password, role=role, language=language)  # type: ignore[arg-type]
    assert await store.users() == []


async def test_outdated_hash_is_replaced_at_sign_in(db: Db) -> None:
    store = await db.open()
    await store.add_user("boss@dealer.example.jp", password=PASSWORD, role="approver")
    weak = PasswordHasher(time_cost=1, memory_cost=4096, parallelism=1).hash(PASSWORD)
    await db.execute(update(UserRow).values(password_hash=weak))
    assert await store.verify_user("boss@dealer.example.jp", PASSWORD) is not None
    rows = await db.execute("SELECT password_hash FROM quarantine_users")
    assert rows[0][0] != weak
    assert not passwords._hasher.check_needs_rehash(rows[0][0])
    assert await store.verify_user("boss@dealer.example.jp", PASSWORD) is not None
