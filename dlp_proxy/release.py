"""Work the quarantine: release approved mail through the next hop, expire and purge held mail."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dlp_proxy import errors, metrics
from dlp_proxy.actions.apply import Changes
from dlp_proxy.config import Settings
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.notices import Notifier
from dlp_proxy.policy.store import PolicyStore
from dlp_proxy.quarantine.records import HeldMessage
from dlp_proxy.quarantine.store import Quarantine
from dlp_proxy.relay import Delivery
from dlp_proxy.scanner import UNREAD, Scanner, Verdict, release_job, unread_job

log = logging.getLogger("dlp_proxy.release")

IDLE_POLL = 5.0  # approvals made on another node are noticed within this
EXPIRY_INTERVAL = 30.0
PURGE_INTERVAL = 3600.0
LEASE = 300.0


class QueueWorker:
    """One per SMTP process: several processes and nodes share the queue through leases."""

    def __init__(
        self,
        settings: Settings,
        *,
        quarantine: Quarantine,
        scanner: Scanner,
        delivery: Delivery,
        notifier: Notifier,
        policies: PolicyStore,
    ) -> None:
        self._settings = settings
        self._quarantine = quarantine
        self._scanner = scanner
        self._delivery = delivery
        self._notifier = notifier
        self._policies = policies
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._notices = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        """An approval was made here: look for mail to release now."""
        self._wake.set()

    def wake_notices(self) -> None:
        """A state changed here: send the notices it calls for now."""
        self._notices.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._forever(self._release_due, IDLE_POLL, wake=self._wake)),
            loop.create_task(self._forever(self._notice_due, IDLE_POLL, wake=self._notices)),
            loop.create_task(self._forever(self._expire_due, EXPIRY_INTERVAL)),
            loop.create_task(self._forever(self._purge, PURGE_INTERVAL)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _forever(
        self, work: Any, interval: float, *, wake: asyncio.Event | None = None
    ) -> None:
        while True:
            try:
                busy = await work()
            except Exception:
                log.exception("queue work failed; trying again", extra={"work": work.__name__})
                busy = False
            if busy:
                continue
            if wake is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), interval)
                wake.clear()
            else:
                await asyncio.sleep(interval)

    async def _release_due(self) -> bool:
        held = await self._quarantine.claim_release(node=self.node, lease=LEASE)
        if held is None:
            return False
        try:
            detail = await self.release(held)
        except errors.TemporaryFailure as exc:
            retry = min(self._settings.release_retry_max, 30.0 * 2 ** min(held.attempts, 10))
            log.warning(
                "release deferred",
                extra={"id": held.id, "error": str(exc)[:300], "retry_in": retry},
            )
            await self._quarantine.release_failed(
                held.id, node=self.node, error=str(exc)[:500], retry_in=retry
            )
            metrics.RELEASES.labels("deferred").inc()
        else:
            await self._quarantine.released(held.id, node=self.node, detail=detail)
            metrics.RELEASES.labels("released").inc()
            log.info("released", extra={"id": held.id, "detail": detail})
            self.wake_notices()
        return True

    async def _notice_due(self) -> bool:
        """Send what one message's state calls for; every state change makes a notice due,
        whether it was made here, on another node, or with the CLI."""
        held = await self._quarantine.claim_notice(lease=LEASE)
        if held is None:
            return False
        loaded = self._policies.current
        try:
            match held.state:
                case "held":
                    await self._notifier.held(held, loaded)
                case "rejected" | "expired":
                    await self._notifier.decided(held, loaded)
                case "released":
                    await self._notifier.released(held, loaded)
        except Exception as exc:
            log.warning(
                "notice not sent; trying again later",
                extra={"id": held.id, "state": held.state, "error": repr(exc)[:300]},
            )
            await self._quarantine.notice_failed(held.id, state=held.state, retry_in=60.0)
        else:
            await self._quarantine.noticed(held.id, state=held.state)
        return True

    async def release(self, held: HeldMessage) -> str:
        """Deliver one approved message: changes applied (the sender gets the password first),
        then relayed; a TemporaryFailure leaves it approved for a later try."""
        raw = await self._quarantine.content(held.id)
        loaded = self._policies.current
        envelope = Envelope(
            message_id=held.id,
            mail_from=held.sender,
            rcpt_tos=held.recipients,
            client=Client(**held.client),
            mail_options=held.mail_options,
            sender=loaded.directory.sender_info(held.sender),
        )
        release = held.summary.get("release") or {}
        changes = Changes.from_json(release) if not release.get("problem") else Changes()
        job: Callable[..., object] = functools.partial(
            release_job, changes=changes, limits=self._settings.limits
        )
        if release.get("problem") == UNREAD:  # its inspection never finished: not again
            job = functools.partial(unread_job, why="held without inspection, then approved")
        verdict = await self._scanner.run_job(raw, envelope, loaded.policy, job)
        assert isinstance(verdict, Verdict)
        content, notes = raw, []
        modified = verdict.modified
        if modified is not None and modified.problem is None:
            content = modified.content
            if modified.password is not None:
                encryption = self._notifier.encryption(verdict, envelope, loaded)
                context = self._notifier.context(
                    verdict, envelope, raw, loaded, encryption=encryption
                )
                try:
                    await self._notifier.send("encrypted", context, loaded)
                except Exception as exc:
                    raise errors.NoticeFailed(f"password notice not sent: {exc}") from exc
                notes.append(f"{len(modified.encrypted)} attachment(s) encrypted")
            if modified.hidden:
                notes.append(f"{modified.hidden} address(es) moved to Bcc")
        elif modified is not None:
            notes.append(f"released unchanged ({modified.problem})")
        elif release.get("problem"):
            notes.append(f"released unchanged ({release['problem']})")
        refused = await self._relay(held, envelope, content)
        if refused:
            notes.append(f"refused by the next hop: {'; '.join(refused)}"[:400])
        return "; ".join(notes) or "delivered"

    async def _relay(self, held: HeldMessage, envelope: Envelope, content: bytes) -> list[str]:
        """Relay to every recipient the next hop accepts; its permanent refusals are reported,
        anything temporary defers the whole release."""
        transaction = await self._delivery.begin(
            envelope.mail_from, envelope.mail_options, envelope.client
        )
        refused: list[str] = []
        try:
            for address in envelope.rcpt_tos:
                try:
                    await transaction.rcpt(address)
                except errors.PermanentFailure as exc:
                    refused.append(f"{address}: {exc}")
            if len(refused) == len(envelope.rcpt_tos):
                await transaction.abort()
                return refused
            await transaction.data(content)
        except BaseException:
            await transaction.abort()
            raise
        return refused

    async def _expire_due(self) -> bool:
        loaded = self._policies.current
        expired = await self._quarantine.expire_due(on_expiry=loaded.policy.config.hold.on_expiry)
        for held in expired:
            log.info("expired", extra={"id": held.id, "state": held.state})
            if held.state == "approved":
                self.wake()
            else:
                self.wake_notices()
        return False

    async def _purge(self) -> bool:
        days = self._settings.retention_days
        purged = await self._quarantine.purge(older_than=timedelta(days=days))
        if purged:
            log.info("purged held content", extra={"messages": purged, "days": days})
        return False
