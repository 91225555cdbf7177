"""The audit trail as each viewer may read it: admins all of it, approvers their messages'."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from dlp_proxy.quarantine import AuditRecord
from dlp_proxy.quarantine.audit import csv_header, csv_line
from dlp_proxy.web.auth import Viewer
from dlp_proxy.web.state import WebContext

# Rows read per query while filtering an approver's view of the trail.
SCAN = 500


@dataclass(frozen=True, slots=True)
class AuditFilter:
    search: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    message_id: str | None = None


async def _approver_ids(ctx: WebContext, email: str) -> set[str]:
    ids: set[str] = set()
    offset = 0
    while True:
        batch = await ctx.store.list(approver=email, limit=SCAN, offset=offset)
        ids.update(held.id for held in batch)
        if len(batch) < SCAN:
            return ids
        offset += SCAN


async def _scan(ctx: WebContext, ids: set[str], where: AuditFilter) -> AsyncIterator[AuditRecord]:
    """The trail newest first, only records of the messages in ``ids``."""
    offset = 0
    while True:
        batch = await ctx.store.audit_log(
            search=where.search,
            event=where.event,
            since=where.since,
            until=where.until,
            message_id=where.message_id,
            limit=SCAN,
            offset=offset,
        )
        for record in batch:
            if record.message_id is not None and record.message_id in ids:
                yield record
        if len(batch) < SCAN:
            return
        offset += SCAN


async def audit_page(
    ctx: WebContext, viewer: Viewer, where: AuditFilter, *, limit: int, offset: int
) -> list[AuditRecord]:
    """Newest first. An approver sees the events of the messages they approve for, and no
    sign-ins or user changes."""
    if viewer.is_admin:
        return await ctx.store.audit_log(
            search=where.search,
            event=where.event,
            since=where.since,
            until=where.until,
            message_id=where.message_id,
            limit=limit,
            offset=offset,
        )
    ids = await _approver_ids(ctx, viewer.email)
    out: list[AuditRecord] = []
    skipped = 0
    async for record in _scan(ctx, ids, where):
        if skipped < offset:
            skipped += 1
            continue
        out.append(record)
        if len(out) == limit:
            break
    return out


async def audit_csv(ctx: WebContext, viewer: Viewer, where: AuditFilter) -> AsyncIterator[str]:
    """The viewer's part of the trail as CSV, oldest first (the store's CSV columns)."""
    if viewer.is_admin:
        async for line in ctx.store.audit_csv(
            search=where.search,
            event=where.event,
            since=where.since,
            until=where.until,
            message_id=where.message_id,
        ):
            yield line
        return
    ids = await _approver_ids(ctx, viewer.email)
    records = [record async for record in _scan(ctx, ids, where)]
    yield csv_header()
    for record in reversed(records):
        yield csv_line(record)
