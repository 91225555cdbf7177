"""The quarantine tables as SQLAlchemy 2 ORM classes; migrations/ creates them in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite's INTEGER PRIMARY KEY is its rowid; BIGINT would not autoincrement there.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them naive, in a sortable text form."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("quarantine times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
    }


class MessageRow(Base):
    """One held message: metadata in clear, content sealed (NULL once purged)."""

    __tablename__ = "quarantine_messages"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    sender: Mapped[str] = mapped_column(Text)
    recipients: Mapped[list[str]] = mapped_column(JSONType)
    mail_options: Mapped[list[str]] = mapped_column(JSONType)
    client: Mapped[dict[str, Any]]
    subject: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]]
    policy_version: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime | None]
    # When the message reached a final state; retention counts from here.
    closed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None]
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    content_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_key_id: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[datetime | None]
    # When a notice about the current state is due (set at every state change; None: sent).
    notify_at: Mapped[datetime | None]

    approvers: Mapped[list[ApproverRow]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ApproverRow.position"
    )

    __table_args__ = (
        Index("ix_quarantine_messages_state_expires", "state", "expires_at"),
        Index("ix_quarantine_messages_state_next_attempt", "state", "next_attempt_at"),
        Index("ix_quarantine_messages_state_closed", "state", "closed_at"),
        Index("ix_quarantine_messages_received", "received_at"),
        Index("ix_quarantine_messages_notify", "notify_at"),
    )


class ApproverRow(Base):
    """Who may decide on a message: lower-case addresses, in the order the lead gave them."""

    __tablename__ = "quarantine_approvers"

    message_id: Mapped[str] = mapped_column(
        ForeignKey("quarantine_messages.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_quarantine_approvers_address", "address"),)


class AuditRow(Base):
    """One audit event; the database refuses UPDATE and DELETE on this table (triggers)."""

    __tablename__ = "quarantine_audit"

    seq: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    message_id: Mapped[str | None] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]]
    policy_version: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_quarantine_audit_message", "message_id"),
        Index("ix_quarantine_audit_at", "at"),
    )


class UserRow(Base):
    """A web UI user: argon2id hash, never the password."""

    __tablename__ = "quarantine_users"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TokenRow(Base):
    """A link token that has been used; its primary key makes every link work once."""

    __tablename__ = "quarantine_link_tokens"

    token_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    used_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
