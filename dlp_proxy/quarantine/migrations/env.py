"""Alembic environment: migrations run on the connection the store hands over, never a URL."""

from __future__ import annotations

from alembic import context

from dlp_proxy.quarantine.migrate import VERSION_TABLE
from dlp_proxy.quarantine.models import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
