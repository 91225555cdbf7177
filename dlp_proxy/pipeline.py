"""Inspect, decide and act on one received message: the data flow from server to next hop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from dlp_proxy import errors
from dlp_proxy.decide import RuleResult
from dlp_proxy.envelope import Envelope
from dlp_proxy.policy.store import PolicyStore
from dlp_proxy.relay import Transaction
from dlp_proxy.scanner import Scanner, Verdict

log = logging.getLogger("dlp_proxy.pipeline")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a message that was not a failure; server.py turns it into a reply."""

    verdict: Verdict
    next_hop_reply: str = ""
    blocked_by: RuleResult | None = None

    @property
    def action(self) -> str:
        return self.verdict.decision.action


class Pipeline:
    def __init__(self, scanner: Scanner, policies: PolicyStore, *, deadline: float) -> None:
        self._scanner = scanner
        self._policies = policies
        self._deadline = deadline

    async def process(
        self, envelope: Envelope, content: bytes, transaction: Transaction, *, trace: bytes
    ) -> Outcome:
        """Raise a DlpProxyError (or anything else: a 451) when the message cannot be handled."""
        policy = self._policies.current.policy
        try:
            async with asyncio.timeout(self._deadline):
                verdict = await self._scanner.run(content, envelope, policy)
                outcome = await self._act(verdict, content, transaction, trace)
        except TimeoutError as exc:
            raise errors.InspectionTimeout(f"not handled within {self._deadline:g}s") from exc
        return outcome

    async def _act(
        self, verdict: Verdict, content: bytes, transaction: Transaction, trace: bytes
    ) -> Outcome:
        decision = verdict.decision
        match decision.action:
            case "pass":
                reply = await transaction.data(trace + content)
                return Outcome(verdict, reply)
            case "block":
                await transaction.abort()
                rule = next(r for r in decision.enforced_rules if "block" in r.actions)
                return Outcome(verdict, blocked_by=rule)
            case action:
                raise errors.ActionUnavailable(
                    f"the policy asks to {action} this message "
                    f"(rules: {', '.join(r.name for r in decision.enforced_rules)}); "
                    "that action is not available in this version, so the message is deferred"
                )
