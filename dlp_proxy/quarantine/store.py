"""The quarantine store: held messages and their states, release leases, audit, users, tokens."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Text, delete, exists, func, or_, select, text, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from dlp_proxy.quarantine import audit as audit_csv_format
from dlp_proxy.quarantine import database, migrate
from dlp_proxy.quarantine import users as passwords
from dlp_proxy.quarantine.crypto import KeyRing, Sealed
from dlp_proxy.quarantine.errors import (
    AlreadyExists,
    ContentUnreadable,
    NotAllowed,
    NotFound,
    Purged,
    WrongState,
)
from dlp_proxy.quarantine.models import (
    ApproverRow,
    AuditRow,
    MessageRow,
    TokenRow,
    UserRow,
)
from dlp_proxy.quarantine.records import (
    FINAL_STATES,
    LANGUAGES,
    ROLES,
    STATES,
    AuditEvent,
    AuditRecord,
    HeldMessage,
    NewHold,
    OnExpiry,
    Role,
    States,
    User,
)

log = logging.getLogger(__name__)

SUBJECT_MAX = 200
ERROR_MAX = 1000
OFFLOAD_BYTES = 1 << 20  # seal/open bigger content in a thread, off the event loop
PURGE_BATCH = 500
CSV_PAGE = 1000
EXPIRY_ACTOR = "system:expiry"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dedupe(addresses: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for address in addresses:
        seen.setdefault(address.strip().lower(), None)
    seen.pop("", None)
    return list(seen)


def _like(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _message(row: MessageRow) -> HeldMessage:
    return HeldMessage(
        id=row.id,
        state=cast(States, row.state),
        received_at=row.received_at,
        sender=row.sender,
        recipients=tuple(row.recipients),
        mail_options=tuple(row.mail_options),
        client=dict(row.client),
        subject=row.subject,
        summary=dict(row.summary),
        policy_version=row.policy_version,
        approvers=tuple(a.address for a in row.approvers),
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
        released_at=row.released_at,
        attempts=row.attempts,
        last_error=row.last_error,
        purged=row.purged_at is not None,
        size=row.size,
        next_attempt_at=row.next_attempt_at,
    )


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=row.at,
        message_id=row.message_id,
        event=row.event,
        actor=row.actor,
        via=row.via,
        detail=dict(row.detail),
        policy_version=row.policy_version,
    )


def _user(row: UserRow) -> User:
    return User(
        email=row.email,
        role=cast(Role, row.role),
        language=row.language,
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _audit_row(event: AuditEvent) -> AuditRow:
    return AuditRow(
        at=event.at,
        message_id=event.message_id,
        event=event.event,
        actor=event.actor,
        via=event.via,
        detail=dict(event.detail),
        policy_version=event.policy_version,
    )


class Quarantine:
    """Held mail in SQLite (one node) or PostgreSQL (several nodes sharing one queue).

    Every method is one transaction, committed when it returns. Database trouble raises
    QuarantineUnavailable (a TemporaryFailure); nothing here ever logs message content.
    """

    def __init__(self, engine: AsyncEngine, keys: KeyRing) -> None:
        self._engine = engine
        self._keys = keys
        self._sqlite = database.is_sqlite(engine)
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(**{database.WRITE: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time: queue this process's writers here rather than in
        # SQLite's busy handler. Other processes still wait on the file lock.
        self._write_lock = asyncio.Lock() if self._sqlite else None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        key: bytes,
        key_id: str | None = None,
        old_keys: Sequence[bytes] = (),
        create: bool = True,
        schema: str | None = None,
        db_timeout: float = 10.0,
    ) -> Quarantine:
        """Connect and bring the schema to this build's revision (``create=False``: refuse a
        database that is not there yet).

        ``key`` seals new content; ``old_keys`` still open content sealed before a rotation.
        ``key_id`` defaults to a fingerprint of the key. ``schema`` (PostgreSQL) keeps the
        tables in that schema. ``db_timeout`` bounds connecting and each statement, so a dead
        database is an error, never a hang.
        """
        engine = database.create_engine(url, timeout=db_timeout, schema=schema)
        store = cls(engine, KeyRing(key, current_id=key_id, old=old_keys))
        try:
            await store._migrate(create=create)
            await store._warn_unknown_keys()
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Quarantine:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    # -- plumbing ---------------------------------------------------------------------------

    async def _migrate(self, *, create: bool) -> None:
        with database.unavailable_as_temporary():
            async with (
                self._lock(),
                self._engine.execution_options(**{database.WRITE: True}).begin() as conn,
            ):
                if not self._sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": migrate.LOCK_KEY}
                    )
                await conn.run_sync(migrate.upgrade if create else migrate.check)

    async def _warn_unknown_keys(self) -> None:
        async with self._read() as session:
            in_use = await session.scalars(
                select(MessageRow.content_key_id)
                .where(MessageRow.content_key_id.is_not(None), MessageRow.purged_at.is_(None))
                .distinct()
            )
            unknown = sorted({k for k in in_use if k is not None} - self._keys.ids)
        if unknown:
            log.warning(
                "quarantine holds content sealed with keys this node lacks",
                extra={"key_ids": unknown, "have": sorted(self._keys.ids)},
            )

    @contextlib.asynccontextmanager
    async def _lock(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction, committed on exit (SQLite: BEGIN IMMEDIATE)."""
        with database.unavailable_as_temporary():
            async with self._lock(), self._writes() as session, session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        with database.unavailable_as_temporary():
            async with self._reads() as session, session.begin():
                yield session

    async def _seal(self, message_id: str, content: bytes) -> Sealed:
        if len(content) > OFFLOAD_BYTES:
            return await asyncio.to_thread(self._keys.seal, message_id, content)
        return self._keys.seal(message_id, content)

    async def _open(self, message_id: str, sealed: Sealed) -> bytes:
        if len(sealed.ciphertext) > OFFLOAD_BYTES:
            return await asyncio.to_thread(self._keys.open, message_id, sealed)
        return self._keys.open(message_id, sealed)

    @staticmethod
    async def _locked(session: AsyncSession, message_id: str) -> MessageRow:
        row = await session.get(MessageRow, message_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no held message {message_id}")
        return row

    # -- messages ---------------------------------------------------------------------------

    async def hold(self, message: NewHold) -> HeldMessage:
        """Store a message (content sealed) and its ``held`` audit event in one transaction;
        committed, so durable, when this returns."""
        now = utcnow()
        sealed = await self._seal(message.id, message.content)
        approvers = _dedupe(message.approvers)
        row = MessageRow(
            id=message.id,
            state="held",
            received_at=message.received_at or now,
            sender=message.sender,
            recipients=list(message.recipients),
            mail_options=list(message.mail_options),
            client=dict(message.client),
            subject=message.subject[:SUBJECT_MAX],
            summary=dict(message.summary),
            policy_version=message.policy_version,
            expires_at=message.expires_at,
            attempts=0,
            size=len(message.content),
            content=sealed.ciphertext,
            content_nonce=sealed.nonce,
            content_key_id=sealed.key_id,
            notify_at=now,
            approvers=[ApproverRow(address=a, position=i) for i, a in enumerate(approvers)],
        )
        held = _message(row)
        event = AuditEvent(
            at=now,
            message_id=message.id,
            event="held",
            actor="system",
            via="smtp",
            detail={
                "sender": message.sender,
                "recipients": len(message.recipients),
                "approvers": approvers,
                "rules": list(held.rules),
                "expires_at": message.expires_at.isoformat(),
                "size": len(message.content),
            },
            policy_version=message.policy_version,
        )
        try:
            async with self._write() as session:
                session.add(row)
                session.add(_audit_row(event))
        except IntegrityError:
            raise AlreadyExists(f"message {message.id} is held already") from None
        return held

    async def get(self, id: str) -> HeldMessage | None:
        async with self._read() as session:
            row = await session.get(MessageRow, id)
            return None if row is None else _message(row)

    async def content(self, id: str) -> bytes:
        """The raw message, decrypted; Purged after the retention period, NotFound if unknown."""
        async with self._read() as session:
            found = (
                await session.execute(
                    select(
                        MessageRow.content,
                        MessageRow.content_nonce,
                        MessageRow.content_key_id,
                        MessageRow.purged_at,
                    ).where(MessageRow.id == id)
                )
            ).one_or_none()
        if found is None:
            raise NotFound(f"no held message {id}")
        content, nonce, key_id, purged_at = found
        if purged_at is not None:
            raise Purged(f"content of message {id} was purged at {purged_at.isoformat()}")
        if content is None or nonce is None or key_id is None:
            raise ContentUnreadable(f"message {id} has no stored content")
        return await self._open(id, Sealed(content, nonce, key_id))

    @staticmethod
    def _message_filters(
        *, state: States | None, approver: str | None, search: str | None
    ) -> builtins.list[ColumnElement[bool]]:
        filters: builtins.list[ColumnElement[bool]] = []
        if state is not None:
            filters.append(MessageRow.state == state)
        if approver is not None:
            filters.append(
                exists().where(
                    ApproverRow.message_id == MessageRow.id,
                    ApproverRow.address == approver.strip().lower(),
                )
            )
        if search:
            pattern = _like(search)
            filters.append(
                or_(
                    MessageRow.id.ilike(pattern, escape="\\"),
                    MessageRow.sender.ilike(pattern, escape="\\"),
                    MessageRow.subject.ilike(pattern, escape="\\"),
                    sql_cast(MessageRow.recipients, Text).ilike(pattern, escape="\\"),
                )
            )
        return filters

    async def list(
        self,
        *,
        state: States | None = None,
        approver: str | None = None,
        limit: int = 100,
        offset: int = 0,
        search: str | None = None,
    ) -> builtins.list[HeldMessage]:
        """Newest first. ``approver``: only messages that address may decide on. ``search``:
        case-insensitive substring of id, sender, subject or a recipient."""
        filters = self._message_filters(state=state, approver=approver, search=search)
        query = (
            select(MessageRow)
            .where(*filters)
            .order_by(MessageRow.received_at.desc(), MessageRow.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._read() as session:
            return [_message(row) for row in await session.scalars(query)]

    async def count(
        self,
        *,
        state: States | None = None,
        approver: str | None = None,
        search: str | None = None,
    ) -> int:
        """How many messages ``list`` with the same filters would give without a limit."""
        filters = self._message_filters(state=state, approver=approver, search=search)
        async with self._read() as session:
            total = await session.scalar(select(func.count(MessageRow.id)).where(*filters))
        return int(total or 0)

    async def counts(self) -> dict[States, int]:
        """How many messages are in each state (every state present, zeros included)."""
        async with self._read() as session:
            result = await session.execute(
                select(MessageRow.state, func.count()).group_by(MessageRow.state)
            )
            found = {str(state): int(n) for state, n in result}
        return {state: found.get(state, 0) for state in STATES}

    async def _decide(
        self,
        id: str,
        *,
        to: States,
        actor: str,
        via: str,
        comment: str | None,
        allowed: Callable[[HeldMessage], bool],
        refusal: str,
        admin: bool,
    ) -> HeldMessage:
        now = utcnow()
        async with self._write() as session:
            row = await self._locked(session, id)
            if row.state != "held":
                raise WrongState(id, row.state, "held")
            as_admin = not allowed(_message(row))
            if as_admin and not admin:
                raise NotAllowed(f"{actor} {refusal} of message {id}")
            row.state = to
            row.decided_by = actor
            row.decided_at = now
            row.comment = comment
            row.notify_at = now
            if to == "approved":
                row.next_attempt_at = now
            else:
                row.closed_at = now
            detail: dict[str, Any] = {"comment": comment}
            if as_admin:
                detail["as_admin"] = True
            session.add(
                AuditRow(
                    at=now,
                    message_id=id,
                    event=to,
                    actor=actor,
                    via=via,
                    detail=detail,
                    policy_version=row.policy_version,
                )
            )
            return _message(row)

    async def approve(
        self, id: str, *, actor: str, comment: str | None, via: str, admin: bool = False
    ) -> HeldMessage:
        """held → approved (the release worker then delivers it). NotAllowed unless ``actor``
        is one of the message's approvers or ``admin`` is true (the caller checked the role)."""
        return await self._decide(
            id,
            to="approved",
            actor=actor,
            via=via,
            comment=comment,
            allowed=lambda m: m.may_decide(actor),
            refusal="is not an approver",
            admin=admin,
        )

    async def reject(
        self, id: str, *, actor: str, comment: str | None, via: str, admin: bool = False
    ) -> HeldMessage:
        """held → rejected (final); the same rule as approve for who may."""
        return await self._decide(
            id,
            to="rejected",
            actor=actor,
            via=via,
            comment=comment,
            allowed=lambda m: m.may_decide(actor),
            refusal="is not an approver",
            admin=admin,
        )

    async def withdraw(
        self,
        id: str,
        *,
        actor: str,
        via: str,
        comment: str | None = None,
        admin: bool = False,
    ) -> HeldMessage:
        """held → withdrawn (final): the sender recalls their own message."""
        return await self._decide(
            id,
            to="withdrawn",
            actor=actor,
            via=via,
            comment=comment,
            allowed=lambda m: m.sender.strip().lower() == actor.strip().lower(),
            refusal="is not the sender",
            admin=admin,
        )

    async def expire_due(
        self, *, now: datetime | None = None, on_expiry: OnExpiry
    ) -> builtins.list[HeldMessage]:
        """Move every held message whose time is up: to ``expired`` (reject) or ``approved``
        (release). Each row moves once even when several nodes run this at the same time."""
        now = now or utcnow()
        async with self._write() as session:
            due = await session.scalars(
                select(MessageRow.id)
                .where(MessageRow.state == "held", MessageRow.expires_at <= now)
                .order_by(MessageRow.id)
                .with_for_update(skip_locked=True)
            )
            ids = list(due)
            if not ids:
                return []
            values: dict[str, Any] = {
                "decided_by": EXPIRY_ACTOR,
                "decided_at": now,
                "notify_at": now,
            }
            if on_expiry == "release":
                values.update(state="approved", next_attempt_at=now)
            else:
                values.update(state="expired", closed_at=now)
            moved = await session.execute(
                update(MessageRow)
                .where(MessageRow.id.in_(ids), MessageRow.state == "held")
                .values(**values)
                .returning(MessageRow.id, MessageRow.policy_version)
                .execution_options(synchronize_session=False)
            )
            pairs = [(row[0], row[1]) for row in moved]
            session.add_all(
                AuditRow(
                    at=now,
                    message_id=message_id,
                    event="expired",
                    actor=EXPIRY_ACTOR,
                    via="system",
                    detail={"on_expiry": on_expiry, "state": values["state"]},
                    policy_version=version,
                )
                for message_id, version in pairs
            )
            rows = await session.scalars(
                select(MessageRow)
                .where(MessageRow.id.in_([m for m, _ in pairs]))
                .order_by(MessageRow.id)
                .execution_options(populate_existing=True)
            )
            return [_message(row) for row in rows]

    # -- release ----------------------------------------------------------------------------

    async def claim_release(
        self, *, node: str, lease: float = 120, now: datetime | None = None
    ) -> HeldMessage | None:
        """Lease one approved message that is due to this node (exactly one node gets it).

        A node that dies mid-release loses the lease after ``lease`` seconds and another
        node (or this one, restarted) takes the message again: delivered at least once.
        """
        now = now or utcnow()
        async with self._write() as session:
            row = await session.scalar(
                select(MessageRow)
                .where(
                    MessageRow.state == "approved",
                    or_(MessageRow.next_attempt_at.is_(None), MessageRow.next_attempt_at <= now),
                    or_(MessageRow.lease_until.is_(None), MessageRow.lease_until <= now),
                )
                .order_by(MessageRow.next_attempt_at, MessageRow.received_at, MessageRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            row.lease_owner = node
            row.lease_until = now + timedelta(seconds=lease)
            return _message(row)

    async def _leased(self, session: AsyncSession, id: str, node: str) -> MessageRow:
        row = await self._locked(session, id)
        if row.state != "approved":
            raise WrongState(id, row.state, "approved")
        if row.lease_owner != node:
            raise NotAllowed(
                f"node {node} does not hold the release lease of message {id} "
                f"(held by {row.lease_owner or 'no one'})"
            )
        return row

    async def released(self, id: str, *, node: str, detail: str) -> None:
        """approved → released, by the node holding the lease; NotAllowed for any other."""
        now = utcnow()
        async with self._write() as session:
            row = await self._leased(session, id, node)
            row.state = "released"
            row.released_at = now
            row.closed_at = now
            row.notify_at = now
            row.lease_owner = None
            row.lease_until = None
            row.next_attempt_at = None
            row.last_error = None
            session.add(
                AuditRow(
                    at=now,
                    message_id=id,
                    event="released",
                    actor=f"node:{node}",
                    via="release",
                    detail={"detail": detail, "attempts": row.attempts + 1},
                    policy_version=row.policy_version,
                )
            )

    async def release_failed(self, id: str, *, node: str, error: str, retry_in: float) -> None:
        """A delivery attempt failed: stays approved, attempts + 1, retried in ``retry_in`` s."""
        now = utcnow()
        async with self._write() as session:
            row = await self._leased(session, id, node)
            row.attempts += 1
            row.last_error = error[:ERROR_MAX]
            row.next_attempt_at = now + timedelta(seconds=retry_in)
            row.lease_owner = None
            row.lease_until = None
            session.add(
                AuditRow(
                    at=now,
                    message_id=id,
                    event="release_failed",
                    actor=f"node:{node}",
                    via="release",
                    detail={
                        "error": error[:ERROR_MAX],
                        "attempts": row.attempts,
                        "retry_in": retry_in,
                    },
                    policy_version=row.policy_version,
                )
            )

    # -- notices ----------------------------------------------------------------------------

    async def claim_notice(
        self, *, lease: float = 120, now: datetime | None = None
    ) -> HeldMessage | None:
        """One message whose notice about its current state is due (every state change makes
        one due: held, approved, rejected, expired, withdrawn, released).

        The notice is pushed ``lease`` seconds ahead, so no other node takes it meanwhile;
        the caller sends what that state calls for and then calls ``noticed`` (or
        ``notice_failed``). A node that dies before either lets it come due again.
        """
        now = now or utcnow()
        async with self._write() as session:
            row = await session.scalar(
                select(MessageRow)
                .where(MessageRow.notify_at.is_not(None), MessageRow.notify_at <= now)
                .order_by(MessageRow.notify_at, MessageRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return None
            row.notify_at = now + timedelta(seconds=lease)
            return _message(row)

    async def noticed(self, id: str, *, state: States) -> None:
        """The notice for ``state`` went out; if the message has moved on since, the notice
        for its new state stays due."""
        async with self._write() as session:
            await session.execute(
                update(MessageRow)
                .where(MessageRow.id == id, MessageRow.state == state)
                .values(notify_at=None)
                .execution_options(synchronize_session=False)
            )

    async def notice_failed(self, id: str, *, state: States, retry_in: float) -> None:
        """Sending the notice for ``state`` failed: try again in ``retry_in`` seconds."""
        async with self._write() as session:
            await session.execute(
                update(MessageRow)
                .where(MessageRow.id == id, MessageRow.state == state)
                .values(notify_at=utcnow() + timedelta(seconds=retry_in))
                .execution_options(synchronize_session=False)
            )

    # -- retention --------------------------------------------------------------------------

    async def purge(self, *, older_than: timedelta, now: datetime | None = None) -> int:
        """Drop the content of messages final for longer than ``older_than``; metadata and
        audit stay. Also forgets used link tokens that expired a day ago. Returns how many."""
        now = now or utcnow()
        cutoff = now - older_than
        total = 0
        while True:
            async with self._write() as session:
                ids = list(
                    await session.scalars(
                        select(MessageRow.id)
                        .where(
                            MessageRow.state.in_(FINAL_STATES),
                            MessageRow.closed_at <= cutoff,
                            MessageRow.purged_at.is_(None),
                        )
                        .order_by(MessageRow.id)
                        .limit(PURGE_BATCH)
                        .with_for_update(skip_locked=True)
                    )
                )
                if ids:
                    await session.execute(
                        update(MessageRow)
                        .where(MessageRow.id.in_(ids))
                        .values(content=None, content_nonce=None, purged_at=now)
                        .execution_options(synchronize_session=False)
                    )
                    session.add_all(
                        AuditRow(
                            at=now,
                            message_id=message_id,
                            event="purged",
                            actor="system:retention",
                            via="system",
                            detail={"older_than_days": older_than / timedelta(days=1)},
                            policy_version=None,
                        )
                        for message_id in ids
                    )
            total += len(ids)
            if len(ids) < PURGE_BATCH:
                break
        async with self._write() as session:
            await session.execute(
                delete(TokenRow).where(TokenRow.expires_at < now - timedelta(days=1))
            )
        return total

    # -- audit ------------------------------------------------------------------------------

    async def audit(self, event: AuditEvent) -> None:
        """Append one event (there is no way to change or remove one)."""
        await self.audit_many((event,))

    async def audit_many(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        async with self._write() as session:
            session.add_all(_audit_row(event) for event in events)

    @staticmethod
    def _audit_filters(
        *,
        search: str | None,
        since: datetime | None,
        until: datetime | None,
        message_id: str | None,
        event: str | None,
    ) -> builtins.list[ColumnElement[bool]]:
        filters: builtins.list[ColumnElement[bool]] = []
        if search:
            pattern = _like(search)
            filters.append(
                or_(
                    AuditRow.message_id.ilike(pattern, escape="\\"),
                    AuditRow.actor.ilike(pattern, escape="\\"),
                    AuditRow.event.ilike(pattern, escape="\\"),
                    sql_cast(AuditRow.detail, Text).ilike(pattern, escape="\\"),
                )
            )
        if since is not None:
            filters.append(AuditRow.at >= since)
        if until is not None:
            filters.append(AuditRow.at < until)
        if message_id is not None:
            filters.append(AuditRow.message_id == message_id)
        if event is not None:
            filters.append(AuditRow.event == event)
        return filters

    async def audit_log(
        self,
        *,
        search: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        message_id: str | None = None,
        event: str | None = None,
    ) -> builtins.list[AuditRecord]:
        """Newest first; ``since`` inclusive, ``until`` exclusive; ``search`` matches message id,
        actor, event or detail text."""
        filters = self._audit_filters(
            search=search, since=since, until=until, message_id=message_id, event=event
        )
        async with self._read() as session:
            rows = await session.scalars(
                select(AuditRow)
                .where(*filters)
                .order_by(AuditRow.seq.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_record(row) for row in rows]

    async def audit_csv(
        self,
        *,
        search: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        message_id: str | None = None,
        event: str | None = None,
    ) -> AsyncIterator[str]:
        """The matching trail as CSV, oldest first: a header line, then one line per event.

        Read in pages, each its own short transaction, so an export never holds the database.
        """
        filters = self._audit_filters(
            search=search, since=since, until=until, message_id=message_id, event=event
        )
        yield audit_csv_format.csv_header()
        after = 0
        while True:
            async with self._read() as session:
                page = [
                    _record(row)
                    for row in await session.scalars(
                        select(AuditRow)
                        .where(AuditRow.seq > after, *filters)
                        .order_by(AuditRow.seq)
                        .limit(CSV_PAGE)
                    )
                ]
            for record in page:
                yield audit_csv_format.csv_line(record)
            if len(page) < CSV_PAGE:
                return
            after = page[-1].seq

    # -- users of the web UI ----------------------------------------------------------------

    async def add_user(
        self,
        email: str,
        *,
        password: str,
        role: Role,
        language: str | None = None,
        actor: str = "system",
        via: str = "cli",
    ) -> User:
        """A new user with an argon2id hash of ``password``; AlreadyExists if the address is
        taken."""
        address = passwords.normalize_email(email)
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
        hashed = await passwords.hash_password(password)
        now = utcnow()
        row = UserRow(
            email=address,
            password_hash=hashed,
            role=role,
            language=language,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._write() as session:
                session.add(row)
                session.add(
                    AuditRow(
                        at=now,
                        message_id=None,
                        event="user_added",
                        actor=actor,
                        via=via,
                        detail={"email": address, "role": role, "language": language},
                        policy_version=None,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"user {address} exists already") from None
        return _user(row)

    async def _change_user(
        self, email: str, *, event: str, actor: str, via: str, **values: Any
    ) -> User:
        address = passwords.normalize_email(email)
        now = utcnow()
        async with self._write() as session:
            row = await session.get(UserRow, address, with_for_update=True)
            if row is None:
                raise NotFound(f"no user {address}")
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            session.add(
                AuditRow(
                    at=now,
                    message_id=None,
                    event=event,
                    actor=actor,
                    via=via,
                    detail={"email": address},
                    policy_version=None,
                )
            )
            return _user(row)

    async def set_password(
        self, email: str, password: str, *, actor: str = "system", via: str = "cli"
    ) -> None:
        hashed = await passwords.hash_password(password)
        await self._change_user(
            email, event="password_changed", actor=actor, via=via, password_hash=hashed
        )

    async def disable_user(self, email: str, *, actor: str = "system", via: str = "cli") -> None:
        """The user can no longer sign in (the web UI should also end their sessions)."""
        await self._change_user(email, event="user_disabled", actor=actor, via=via, disabled=True)

    async def enable_user(self, email: str, *, actor: str = "system", via: str = "cli") -> None:
        await self._change_user(email, event="user_enabled", actor=actor, via=via, disabled=False)

    async def get_user(self, email: str) -> User | None:
        try:
            address = passwords.normalize_email(email)
        except ValueError:
            return None
        async with self._read() as session:
            row = await session.get(UserRow, address)
            return None if row is None else _user(row)

    async def verify_user(self, email: str, password: str) -> User | None:
        """The user if the password is right and the account enabled, else None (unknown
        users cost the same hashing time). An outdated hash is replaced on success."""
        try:
            address = passwords.normalize_email(email)
        except ValueError:
            address = ""
        row: UserRow | None = None
        if address:
            async with self._read() as session:
                row = await session.get(UserRow, address)
        ok = await passwords.verify_password(row.password_hash if row else None, password)
        if row is None or not ok or row.disabled:
            return None
        if passwords.needs_rehash(row.password_hash):
            hashed = await passwords.hash_password(password)
            async with self._write() as session:
                await session.execute(
                    update(UserRow).where(UserRow.email == address).values(password_hash=hashed)
                )
        return _user(row)

    async def users(self) -> builtins.list[User]:
        async with self._read() as session:
            return [_user(row) for row in await session.scalars(select(UserRow).order_by("email"))]

    # -- single-use link tokens -------------------------------------------------------------

    async def use_token(self, token_id: str, *, expires_at: datetime) -> bool:
        """True the first time a token id is used, False ever after."""
        try:
            async with self._write() as session:
                session.add(TokenRow(token_id=token_id, used_at=utcnow(), expires_at=expires_at))
        except IntegrityError:
            return False
        return True
