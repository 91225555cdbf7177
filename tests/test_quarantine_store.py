"""The quarantine store on real SQLite and real PostgreSQL: durability, encryption, states,
authorization, release leases across nodes, expiry, purge, append-only audit, tokens."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from dlp_proxy.quarantine import (
    AlreadyExists,
    AuditEvent,
    ContentUnreadable,
    NotAllowed,
    NotFound,
    Purged,
    Quarantine,
    WrongState,
)
from dlp_proxy.quarantine import store as store_module
from dlp_proxy.quarantine.models import MessageRow
from tests.qstore import Db, message_bytes, new_hold

ROOT = Path(__file__).resolve().parents[1]


async def test_hold_is_durable_and_round_trips(db: Db) -> None:
    store = await db.open()
    raw = message_bytes("Q1", marker=os.urandom(8).hex().encode()) + bytes(range(256))
    held = await store.hold(new_hold("Q1", content=raw))
    assert held.state == "held"
    assert held.approvers == ("manager@dealer.example.jp",)
    assert held.rules == ("customer-list-external",)
    assert held.size == len(raw)
    await store.close()
    db.stores.remove(store)

    again = await db.open()
    got = await again.get("Q1")
    assert got == held
    assert await again.content("Q1") == raw
    assert [e.event for e in await again.audit_log(message_id="Q1")] == ["held"]


CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    sys.path.insert(0, sys.argv[4])
    from dlp_proxy.quarantine import Quarantine
    from tests.qstore import new_hold

    async def main():
        url, schema, key = sys.argv[1], sys.argv[2] or None, bytes.fromhex(sys.argv[3])
        store = await Quarantine.open(url, key=key, schema=schema)
        await store.hold(new_hold("KILLED"))
        print("held", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_hold_survives_sigkill_right_after_it_returns(db: Db) -> None:
    """Committed means committed: no close, no flush, the process is killed at once."""
    await (await db.open()).close()  # schema in place before the child starts
    db.stores.clear()
    root = str(ROOT)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        db.url,
        db.schema or "",
        db.key.hex(),
        root,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line == b"held\n"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    store = await db.open()
    held = await store.get("KILLED")
    assert held is not None and held.state == "held"
    assert b"Subject: list KILLED" in await store.content("KILLED")


def _database_files(directory: Path) -> bytes:
    """The SQLite database with its write-ahead log, as bytes on disk."""
    files = sorted(directory.glob("quarantine.db*"))
    assert {p.name for p in files} >= {"quarantine.db", "quarantine.db-wal"}
    return b"".join(p.read_bytes() for p in files)


async def test_content_is_encrypted_at_rest(db: Db, tmp_path: Path) -> None:
    store = await db.open()
    marker = b"PLAINTEXT-" + os.urandom(12).hex().encode()
    await store.hold(new_hold("Q1", content=message_bytes("Q1", marker=marker)))
    assert marker in await store.content("Q1")
    if db.engine == "sqlite":
        stored = _database_files(tmp_path)
        assert b"Subject: list Q1" not in stored
    else:
        rows = await db.execute("SELECT t::text FROM quarantine_messages t")
        stored = "".join(r[0] for r in rows).encode()
        assert b"sales@dealer.example.jp" in stored  # we are looking at the row
    assert marker not in stored
    assert marker.hex().encode() not in stored


async def test_associated_data_binds_content_to_its_message(db: Db) -> None:
    store = await db.open()
    await store.hold(new_hold("A"))
    await store.hold(new_hold("B"))
    await db.execute(
        "UPDATE quarantine_messages SET "
        "content = (SELECT content FROM quarantine_messages WHERE id = 'A'), "
        "content_nonce = (SELECT content_nonce FROM quarantine_messages WHERE id = 'A') "
        "WHERE id = 'B'"
    )
    with pytest.raises(ContentUnreadable, match="another message"):
        await store.content("B")
    assert b"list A" in await store.content("A")


async def test_tampered_content_is_refused(db: Db) -> None:
    store = await db.open()
    await store.hold(new_hold("A"))
    rows = await db.execute("SELECT content FROM quarantine_messages WHERE id = 'A'")
    flipped = bytearray(rows[0][0])
    flipped[5] ^= 1
    await db.execute(
        "UPDATE quarantine_messages SET content = :c WHERE id = 'A'", {"c": bytes(flipped)}
    )
    with pytest.raises(ContentUnreadable):
        await store.content("A")


async def test_old_keys_open_rows_sealed_before_a_rotation(db: Db) -> None:
    old, new = db.key, os.urandom(32)
    first = await db.open()
    await first.hold(new_hold("OLD"))
    rotated = await db.open(key=new, old_keys=[old])
    await rotated.hold(new_hold("NEW"))
    assert b"list OLD" in await rotated.content("OLD")
    assert b"list NEW" in await rotated.content("NEW")
    without = await db.open(key=new)
    with pytest.raises(ContentUnreadable, match="does not have"):
        await without.content("OLD")
    with pytest.raises(ContentUnreadable):
        await first.content("NEW")


async def test_unknown_message(store: Quarantine) -> None:
    assert await store.get("nope") is None
    with pytest.raises(NotFound):
        await store.content("nope")
    with pytest.raises(NotFound):
        await store.approve("nope", actor="x@example.jp", comment=None, via="web")


async def test_same_id_twice_is_refused(store: Quarantine) -> None:
    await store.hold(new_hold("Q1"))
    with pytest.raises(AlreadyExists):
        await store.hold(new_hold("Q1"))
    assert len(await store.audit_log(message_id="Q1")) == 1


MANAGER = "manager@dealer.example.jp"


async def _to_state(store: Quarantine, id: str, state: str) -> None:
    """Bring a fresh message to ``state`` through the API."""
    expires_in = timedelta(seconds=-1) if state == "expired" else timedelta(hours=1)
    await store.hold(new_hold(id, expires_in=expires_in))
    if state == "approved":
        await store.approve(id, actor=MANAGER, comment=None, via="web")
    elif state == "rejected":
        await store.reject(id, actor=MANAGER, comment=None, via="web")
    elif state == "withdrawn":
        await store.withdraw(id, actor="sales@dealer.example.jp", via="web")
    elif state == "expired":
        assert [m.id for m in await store.expire_due(on_expiry="reject")] == [id]
    elif state == "released":
        await store.approve(id, actor=MANAGER, comment=None, via="web")
        claimed = await store.claim_release(node="n1")
        assert claimed is not None and claimed.id == id
        await store.released(id, node="n1", detail="250 ok")
    got = await store.get(id)
    assert got is not None and got.state == state


@pytest.mark.parametrize("state", ["approved", "rejected", "withdrawn", "expired", "released"])
async def test_decisions_only_from_held(store: Quarantine, state: str) -> None:
    await _to_state(store, "M", state)
    before = await store.audit_log(message_id="M")
    for attempt in (
        store.approve("M", actor=MANAGER, comment=None, via="web"),
        store.reject("M", actor=MANAGER, comment=None, via="web"),
        store.withdraw("M", actor="sales@dealer.example.jp", via="web"),
    ):
        with pytest.raises(WrongState, match=f"is {state}, not held") as caught:
            await attempt
        assert caught.value.state == state
    assert await store.audit_log(message_id="M") == before
    got = await store.get("M")
    assert got is not None and got.state == state


@pytest.mark.parametrize("state", ["held", "rejected", "released"])
async def test_release_steps_only_from_approved(store: Quarantine, state: str) -> None:
    await _to_state(store, "M", state)
    with pytest.raises(WrongState, match="not approved"):
        await store.released("M", node="n1", detail="x")
    with pytest.raises(WrongState, match="not approved"):
        await store.release_failed("M", node="n1", error="x", retry_in=1)


@pytest.mark.parametrize(
    ("action", "state"), [("approve", "approved"), ("reject", "rejected")], ids=str
)
async def test_decision_is_audited(store: Quarantine, action: str, state: str) -> None:
    await store.hold(new_hold("M"))
    decide = getattr(store, action)
    result = await decide("M", actor="MANAGER@dealer.example.jp", comment="確認済み", via="link")
    assert result.state == state
    assert result.decided_by == "MANAGER@dealer.example.jp"
    assert result.comment == "確認済み"
    assert result.decided_at is not None
    last = (await store.audit_log(message_id="M"))[0]
    assert (last.event, last.actor, last.via, last.policy_version) == (
        state,
        "MANAGER@dealer.example.jp",
        "link",
        "pv-1",
    )
    assert last.detail == {"comment": "確認済み"}


async def test_only_approvers_decide_unless_admin(store: Quarantine) -> None:
    await store.hold(new_hold("M", approvers=("boss@dealer.example.jp", "deputy@x.example.jp")))
    for decide in (store.approve, store.reject):
        with pytest.raises(NotAllowed, match=r"other@dealer\.example\.jp is not an approver"):
            await decide("M", actor="other@dealer.example.jp", comment=None, via="web")
    assert [e.event for e in await store.audit_log(message_id="M")] == ["held"]
    decided = await store.approve(
        "M", actor="admin@dealer.example.jp", comment="as admin", via="web", admin=True
    )
    assert decided.state == "approved"
    last = (await store.audit_log(message_id="M"))[0]
    assert last.detail == {"comment": "as admin", "as_admin": True}


async def test_a_delegate_decides(store: Quarantine) -> None:
    await store.hold(new_hold("M", approvers=("boss@dealer.example.jp", "Deputy@x.example.jp")))
    result = await store.reject("M", actor="deputy@X.example.jp", comment="no", via="web")
    assert result.state == "rejected"


async def test_only_the_sender_withdraws(store: Quarantine) -> None:
    await store.hold(new_hold("M"))
    with pytest.raises(NotAllowed, match="is not the sender"):
        await store.withdraw("M", actor=MANAGER, via="web")
    result = await store.withdraw("M", actor="Sales@Dealer.example.jp", via="link")
    assert result.state == "withdrawn"
    assert (await store.audit_log(message_id="M"))[0].event == "withdrawn"


async def test_list_by_approver_state_and_search(store: Quarantine) -> None:
    base = datetime(2030, 1, 1, tzinfo=UTC)
    await store.hold(new_hold("A1", approvers=("a@x.jp",), received_at=base, subject="見積"))
    await store.hold(
        new_hold("A2", approvers=("a@x.jp", "c@x.jp"), received_at=base + timedelta(1))
    )
    await store.hold(
        new_hold(
            "B1",
            approvers=("b@x.jp",),
            received_at=base + timedelta(2),
            recipients=("kaiin_100%@shop.example.com",),
        )
    )
    await store.approve("A2", actor="c@x.jp", comment=None, via="web")
    assert [m.id for m in await store.list()] == ["B1", "A2", "A1"]
    assert [m.id for m in await store.list(approver="A@x.jp")] == ["A2", "A1"]
    assert [m.id for m in await store.list(approver="b@x.jp")] == ["B1"]
    assert [m.id for m in await store.list(approver="nobody@x.jp")] == []
    assert [m.id for m in await store.list(state="held", approver="a@x.jp")] == ["A1"]
    assert [m.id for m in await store.list(search="見積")] == ["A1"]
    assert [m.id for m in await store.list(search="KAIIN_100%")] == ["B1"]
    assert [m.id for m in await store.list(search="A_")] == []  # wildcards are literal
    assert [m.id for m in await store.list(limit=1, offset=1)] == ["A2"]
    assert await store.count() == 3
    assert await store.count(approver="a@x.jp") == 2
    assert await store.count(state="held", approver="a@x.jp", search="見積") == 1
    assert await store.count(search="nothing like it") == 0
    counts = await store.counts()
    assert counts == {
        "held": 2,
        "approved": 1,
        "released": 0,
        "rejected": 0,
        "expired": 0,
        "withdrawn": 0,
    }


async def _approved(store: Quarantine, count: int, prefix: str = "R") -> set[str]:
    ids = set()
    for i in range(count):
        id = f"{prefix}{i:03d}"
        await store.hold(new_hold(id, approvers=(MANAGER,)))
        await store.approve(id, actor=MANAGER, comment=None, via="web")
        ids.add(id)
    return ids


async def test_two_nodes_never_claim_the_same_message(db: Db) -> None:
    node_a, node_b = await db.open(), await db.open()
    ids = await _approved(node_a, 24)

    async def drain(store: Quarantine, node: str) -> list[str]:
        got = []
        while (claimed := await store.claim_release(node=node)) is not None:
            got.append(claimed.id)
            await asyncio.sleep(0)
        return got

    a, b = await asyncio.gather(drain(node_a, "a"), drain(node_b, "b"))
    assert not set(a) & set(b)
    assert set(a) | set(b) == ids
    assert len(a) + len(b) == len(ids)
    for id in a:
        await node_a.released(id, node="a", detail="250 2.0.0 ok")
    for id in b:
        with pytest.raises(NotAllowed, match="node a does not hold"):
            await node_a.released(id, node="a", detail="250")
        await node_b.released(id, node="b", detail="250 2.0.0 ok")
    assert (await node_a.counts())["released"] == len(ids)
    released = await node_a.audit_log(event="released", limit=100)
    assert sorted(r.message_id or "" for r in released) == sorted(ids)


async def test_an_expired_lease_lets_another_node_take_over(db: Db) -> None:
    node_a, node_b = await db.open(), await db.open()
    await _approved(node_a, 1)
    now = datetime.now(UTC)
    claimed = await node_a.claim_release(node="a", lease=60, now=now)
    assert claimed is not None and claimed.id == "R000"
    assert await node_b.claim_release(node="b", now=now + timedelta(seconds=59)) is None
    taken = await node_b.claim_release(node="b", lease=60, now=now + timedelta(seconds=61))
    assert taken is not None and taken.id == "R000"
    with pytest.raises(NotAllowed, match="held by b"):
        await node_a.released("R000", node="a", detail="late")
    with pytest.raises(NotAllowed):
        await node_a.release_failed("R000", node="a", error="late", retry_in=5)
    await node_b.released("R000", node="b", detail="250 ok")
    got = await node_a.get("R000")
    assert got is not None and got.state == "released" and got.released_at is not None


async def test_release_failed_backs_off(db: Db) -> None:
    store = await db.open()
    await _approved(store, 1)
    assert await store.claim_release(node="a") is not None
    await store.release_failed("R000", node="a", error="451 4.4.1 next hop down", retry_in=300)
    got = await store.get("R000")
    assert got is not None
    assert (got.state, got.attempts, got.last_error) == ("approved", 1, "451 4.4.1 next hop down")
    assert got.next_attempt_at is not None
    assert (
        timedelta(seconds=290) < got.next_attempt_at - datetime.now(UTC) <= timedelta(seconds=300)
    )
    assert await store.claim_release(node="a") is None
    later = await store.claim_release(node="b", now=got.next_attempt_at + timedelta(seconds=1))
    assert later is not None and later.attempts == 1
    failed = (await store.audit_log(event="release_failed"))[0]
    assert failed.detail["attempts"] == 1 and failed.actor == "node:a"


async def test_expiry_on_two_nodes_moves_each_message_once(db: Db) -> None:
    node_a, node_b = await db.open(), await db.open()
    due = set()
    for i in range(30):
        await node_a.hold(new_hold(f"E{i:02d}", expires_in=timedelta(minutes=i % 5 + 1)))
        due.add(f"E{i:02d}")
    await node_a.hold(new_hold("LATER", expires_in=timedelta(hours=5)))
    when = datetime.now(UTC) + timedelta(minutes=10)
    a, b = await asyncio.gather(
        node_a.expire_due(now=when, on_expiry="reject"),
        node_b.expire_due(now=when, on_expiry="reject"),
    )
    ids_a, ids_b = {m.id for m in a}, {m.id for m in b}
    assert not ids_a & ids_b
    assert ids_a | ids_b == due
    assert all(m.state == "expired" for m in a + b)
    events = await node_a.audit_log(event="expired", limit=100)
    assert sorted(e.message_id or "" for e in events) == sorted(due)
    assert all(e.detail == {"on_expiry": "reject", "state": "expired"} for e in events)
    later = await node_a.get("LATER")
    assert later is not None and later.state == "held"
    assert await node_b.expire_due(now=when, on_expiry="reject") == []


async def test_expiry_can_release(store: Quarantine) -> None:
    await store.hold(new_hold("E", expires_in=timedelta(minutes=1)))
    when = datetime.now(UTC) + timedelta(minutes=2)
    moved = await store.expire_due(now=when, on_expiry="release")
    assert [(m.id, m.state, m.decided_by) for m in moved] == [("E", "approved", "system:expiry")]
    claimed = await store.claim_release(node="n", now=when)
    assert claimed is not None and claimed.id == "E"


async def test_purge_drops_old_final_content_only(db: Db) -> None:
    store = await db.open()
    for state in ("held", "rejected", "withdrawn", "expired", "released", "approved"):
        await _to_state(store, f"old-{state}", state)
    await _to_state(store, "recent-rejected", "rejected")
    assert await store.purge(older_than=timedelta(days=30)) == 0
    await db.execute(
        update(MessageRow)
        .where(MessageRow.id.like("old-%"), MessageRow.closed_at.is_not(None))
        .values(closed_at=datetime.now(UTC) - timedelta(days=31))
    )
    await db.execute(
        update(MessageRow)
        .where(MessageRow.id.in_(["old-held", "old-approved"]))
        .values(received_at=datetime.now(UTC) - timedelta(days=31))
    )
    assert await store.purge(older_than=timedelta(days=30)) == 4
    for state in ("rejected", "withdrawn", "expired", "released"):
        with pytest.raises(Purged):
            await store.content(f"old-{state}")
        meta = await store.get(f"old-{state}")
        assert meta is not None and meta.purged and meta.state == state
        assert meta.summary["attachments"][0]["personal_rows"] == 40
        trail = await store.audit_log(message_id=f"old-{state}")
        assert trail[0].event == "purged"
    assert b"list old-held" in await store.content("old-held")
    assert b"list old-approved" in await store.content("old-approved")
    assert b"list recent-rejected" in await store.content("recent-rejected")
    rows = await db.execute(
        "SELECT id FROM quarantine_messages WHERE content IS NULL OR content_nonce IS NULL"
    )
    assert len(rows) == 4
    assert await store.purge(older_than=timedelta(days=30)) == 0


async def test_audit_is_append_only_in_the_database(db: Db) -> None:
    store = await db.open()
    await store.hold(new_hold("M"))
    statements = [
        "UPDATE quarantine_audit SET actor = 'someone else'",
        "DELETE FROM quarantine_audit",
    ]
    if db.engine == "postgresql":
        statements.append("TRUNCATE quarantine_audit")
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            await db.execute(sql)
    trail = await store.audit_log()
    assert [(e.event, e.actor) for e in trail] == [("held", "system")]


async def test_audit_many_log_and_csv(store: Quarantine) -> None:
    t0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    await store.audit_many(
        [
            AuditEvent(t0, "M1", "decided", "system", "smtp", {"action": "pass"}, "pv-1"),
            AuditEvent(
                t0 + timedelta(hours=1),
                "M2",
                "decided",
                "system",
                "smtp",
                {"action": "hold", "rules": ["r,1", '=HYPERLINK("x")']},
                "pv-1",
            ),
            AuditEvent(
                t0 + timedelta(hours=2),
                None,
                "signed_in",
                "=cmd|' /C calc'!A0",
                "web",
                {"ip": "192.0.2.1", "note": "改行\nあり"},
            ),
        ]
    )
    await store.audit(AuditEvent(t0 + timedelta(hours=3), "M1", "approved", "a@x.jp", "api"))
    newest = await store.audit_log(limit=2)
    assert [e.event for e in newest] == ["approved", "signed_in"]
    assert [e.event for e in await store.audit_log(limit=2, offset=2)] == ["decided", "decided"]
    assert [e.message_id for e in await store.audit_log(search="hyperlink")] == ["M2"]
    window = await store.audit_log(since=t0 + timedelta(hours=1), until=t0 + timedelta(hours=3))
    assert [e.event for e in window] == ["signed_in", "decided"]

    lines = [line async for line in store.audit_csv()]
    rows = list(csv.reader(io.StringIO("".join(lines))))
    assert rows[0] == [
        "seq",
        "at",
        "message_id",
        "event",
        "actor",
        "via",
        "policy_version",
        "detail",
    ]
    assert [r[3] for r in rows[1:]] == ["decided", "decided", "signed_in", "approved"]
    assert rows[1][1] == "2030-05-01T09:00:00+00:00"
    assert rows[3][4] == "'=cmd|' /C calc'!A0"  # a formula is defused, nothing lost
    assert "改行\\nあり" in rows[3][7]
    assert rows[2][7].startswith('{"action": "hold"')
    only_m1 = [line async for line in store.audit_csv(message_id="M1")]
    assert len(only_m1) == 3


async def test_audit_csv_pages_through_everything(store: Quarantine) -> None:
    events = [
        AuditEvent(datetime.now(UTC), f"M{i}", "decided", "system", "smtp", {"i": i})
        for i in range(store_module.CSV_PAGE * 2 + 3)
    ]
    await store.audit_many(events)
    lines = [line async for line in store.audit_csv()]
    assert len(lines) == len(events) + 1
    seqs = [int(r[0]) for r in csv.reader(io.StringIO("".join(lines[1:])))]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(events)


async def test_link_tokens_work_once(db: Db) -> None:
    node_a, node_b = await db.open(), await db.open()
    expires = datetime.now(UTC) + timedelta(days=3)
    assert await node_a.use_token("tok-1", expires_at=expires) is True
    assert await node_a.use_token("tok-1", expires_at=expires) is False
    assert await node_b.use_token("tok-1", expires_at=expires) is False
    results = await asyncio.gather(
        *(store.use_token("tok-2", expires_at=expires) for store in (node_a, node_b) * 3)
    )
    assert sorted(results) == [False] * 5 + [True]


async def test_opening_twice_at_once_migrates_once(db: Db) -> None:
    first, second = await asyncio.gather(db.open(), db.open())
    await first.hold(new_hold("M"))
    got = await second.get("M")
    assert got is not None
    rows = await db.execute("SELECT version_num FROM quarantine_schema_version")
    assert len(rows) == 1


async def test_a_notice_is_due_at_every_state_change(store: Quarantine) -> None:
    await store.hold(new_hold("M"))
    now = datetime.now(UTC)
    due = await store.claim_notice(lease=60, now=now)
    assert due is not None and (due.id, due.state) == ("M", "held")
    assert await store.claim_notice(now=now) is None  # leased
    await store.noticed("M", state="held")
    assert await store.claim_notice(now=now + timedelta(seconds=61)) is None  # sent

    await store.reject("M", actor=MANAGER, comment="外部へは送れません", via="web")
    due = await store.claim_notice(lease=60)
    assert due is not None and (due.state, due.comment) == ("rejected", "外部へは送れません")
    await store.notice_failed("M", state="rejected", retry_in=300)
    later = datetime.now(UTC)
    assert await store.claim_notice(now=later + timedelta(seconds=200)) is None
    again = await store.claim_notice(now=later + timedelta(seconds=301))
    assert again is not None and again.state == "rejected"
    await store.noticed("M", state="rejected")
    assert await store.claim_notice(now=later + timedelta(days=1)) is None


async def test_a_stale_notice_does_not_swallow_the_next_one(store: Quarantine) -> None:
    await store.hold(new_hold("M"))
    due = await store.claim_notice(lease=60)
    assert due is not None and due.state == "held"
    await store.approve("M", actor=MANAGER, comment=None, via="web")  # while "held" is sent
    await store.noticed("M", state="held")
    due = await store.claim_notice()
    assert due is not None and due.state == "approved"


async def test_two_nodes_never_take_the_same_notice(db: Db) -> None:
    node_a, node_b = await db.open(), await db.open()
    ids = {f"N{i:02d}" for i in range(20)}
    for id in sorted(ids):
        await node_a.hold(new_hold(id))

    async def drain(store: Quarantine) -> list[str]:
        got = []
        while (due := await store.claim_notice()) is not None:
            got.append(due.id)
            await asyncio.sleep(0)
        return got

    a, b = await asyncio.gather(drain(node_a), drain(node_b))
    assert not set(a) & set(b)
    assert set(a) | set(b) == ids
