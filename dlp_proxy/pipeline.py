"""Inspect, decide and act on one received message: the data flow from server to next hop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dlp_proxy import errors
from dlp_proxy.envelope import Envelope
from dlp_proxy.relay import Transaction
from dlp_proxy.scanner import Scanner, Verdict


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a message that was not a failure; server.py turns it into a reply."""

    action: str
    verdict: Verdict
    next_hop_reply: str = ""


class Pipeline:
    def __init__(self, scanner: Scanner, *, deadline: float) -> None:
        self._scanner = scanner
        self._deadline = deadline

    async def process(
        self, envelope: Envelope, content: bytes, transaction: Transaction, *, trace: bytes
    ) -> Outcome:
        """Raise a DlpProxyError (or anything else: a 451) when the message cannot be handled."""
        try:
            async with asyncio.timeout(self._deadline):
                verdict = await self._scanner.run(content, envelope)
                reply = await transaction.data(trace + content)
        except TimeoutError as exc:
            raise errors.InspectionTimeout(
                f"message not handled within {self._deadline:g}s"
            ) from exc
        return Outcome(action=verdict.decision.action, verdict=verdict, next_hop_reply=reply)
