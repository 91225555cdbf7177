"""Notices due: when a notice about a message's current state is due (NULL: sent or none).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Messages held before this revision had their notices sent inline: none is due.
    op.add_column(
        "quarantine_messages", sa.Column("notify_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_quarantine_messages_notify", "quarantine_messages", ["notify_at"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_messages_notify", "quarantine_messages")
    op.drop_column("quarantine_messages", "notify_at")
