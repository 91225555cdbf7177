"""Initial quarantine schema: messages, approvers, audit (append-only), users, link tokens.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quarantine_messages",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("mail_options", JSON, nullable=False),
        sa.Column("client", JSON, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("released_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", TIME, nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("content_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("content_key_id", sa.String(64), nullable=True),
        sa.Column("purged_at", TIME, nullable=True),
    )
    op.create_index(
        "ix_quarantine_messages_state_expires", "quarantine_messages", ["state", "expires_at"]
    )
    op.create_index(
        "ix_quarantine_messages_state_next_attempt",
        "quarantine_messages",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        "ix_quarantine_messages_state_closed", "quarantine_messages", ["state", "closed_at"]
    )
    op.create_index("ix_quarantine_messages_received", "quarantine_messages", ["received_at"])

    op.create_table(
        "quarantine_approvers",
        sa.Column(
            "message_id",
            sa.String(255),
            sa.ForeignKey("quarantine_messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_quarantine_approvers_address", "quarantine_approvers", ["address"])

    op.create_table(
        "quarantine_audit",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", TIME, nullable=False),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=True),
    )
    op.create_index("ix_quarantine_audit_message", "quarantine_audit", ["message_id"])
    op.create_index("ix_quarantine_audit_at", "quarantine_audit", ["at"])

    op.create_table(
        "quarantine_users",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )

    op.create_table(
        "quarantine_link_tokens",
        sa.Column("token_id", sa.String(128), primary_key=True),
        sa.Column("used_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
    )
    op.create_index(
        "ix_quarantine_link_tokens_expires_at", "quarantine_link_tokens", ["expires_at"]
    )

    _append_only_audit()


def _append_only_audit() -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on the audit table."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION quarantine_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'quarantine_audit is append-only: % refused', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER quarantine_audit_no_change BEFORE UPDATE OR DELETE "
            "ON quarantine_audit FOR EACH ROW EXECUTE FUNCTION quarantine_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER quarantine_audit_no_truncate BEFORE TRUNCATE ON quarantine_audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION quarantine_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER quarantine_audit_no_{verb.lower()} BEFORE {verb} "
                "ON quarantine_audit BEGIN "
                f"SELECT RAISE(ABORT, 'quarantine_audit is append-only: {verb} refused'); END"
            )


def downgrade() -> None:
    for table in (
        "quarantine_link_tokens",
        "quarantine_users",
        "quarantine_audit",
        "quarantine_approvers",
        "quarantine_messages",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION quarantine_audit_append_only()")
