"""Every decision into the audit trail, written in batches off the reply's path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dlp_proxy.quarantine.records import AuditEvent
from dlp_proxy.quarantine.store import Quarantine, utcnow

log = logging.getLogger("dlp_proxy.audit")

FLUSH_SECONDS = 0.5
BATCH = 500
# Beyond this many waiting events (the database down for long), the oldest are dropped and
# the count is logged: the mail flow never waits on the audit trail.
BACKLOG = 100_000


class DecisionAudit:
    """Queues one ``decided`` event per message and flushes them with ``audit_many``."""

    def __init__(self, quarantine: Quarantine) -> None:
        self._quarantine = quarantine
        self._pending: list[AuditEvent] = []
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None

    def record(self, message_id: str, fields: dict[str, Any], policy_version: str) -> None:
        """The decision for one message: counts and names only (the log line's fields)."""
        detail = {k: fields[k] for k in _KEYS if k in fields}
        self._pending.append(
            AuditEvent(
                at=utcnow(),
                message_id=message_id,
                event="decided",
                actor="system",
                via="smtp",
                detail=detail,
                policy_version=policy_version or None,
            )
        )
        if len(self._pending) > BACKLOG:
            overflow = len(self._pending) - BACKLOG
            del self._pending[:overflow]
            self._dropped += overflow

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        while self._pending:
            batch = self._pending[:BATCH]
            try:
                await self._quarantine.audit_many(batch)
            except Exception as exc:
                log.warning(
                    "audit trail not written; trying again",
                    extra={"waiting": len(self._pending), "error": repr(exc)[:200]},
                )
                return
            del self._pending[: len(batch)]
        if self._dropped:
            log.error("audit events dropped", extra={"events": self._dropped})
            self._dropped = 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


_KEYS = (
    "decision",
    "would",
    "rules",
    "reply",
    "client",
    "client_name",
    "via",
    "sender",
    "recipients",
    "size",
    "personal_rows",
    "encrypted",
    "bcc_hidden",
    "tagged",
    "approvers",
    "error",
)
