"""Inspect, decide and act on one received message: the data flow from server to next hop."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from dlp_proxy import errors
from dlp_proxy.actions.apply import Changes
from dlp_proxy.decide import RuleResult
from dlp_proxy.envelope import Envelope
from dlp_proxy.holding import summary
from dlp_proxy.notices import Notifier
from dlp_proxy.policy.load import LoadedPolicy
from dlp_proxy.policy.store import PolicyStore
from dlp_proxy.quarantine.records import HeldMessage, NewHold
from dlp_proxy.quarantine.store import Quarantine, utcnow
from dlp_proxy.relay import Transaction
from dlp_proxy.scanner import Scanner, Verdict, unread_job

log = logging.getLogger("dlp_proxy.pipeline")
# How many messages whose inspection did not finish are remembered (per SMTP process).
UNFINISHED_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a message that was not a failure; server.py turns it into a reply."""

    verdict: Verdict
    next_hop_reply: str = ""
    blocked_by: RuleResult | None = None
    held: HeldMessage | None = None

    @property
    def action(self) -> str:
        return self.verdict.decision.action


class Pipeline:
    def __init__(
        self,
        scanner: Scanner,
        policies: PolicyStore,
        notifier: Notifier,
        quarantine: Quarantine,
        *,
        deadline: float,
        on_held: Callable[[], None] = lambda: None,
    ) -> None:
        self._scanner = scanner
        self._policies = policies
        self._notifier = notifier
        self._quarantine = quarantine
        self._deadline = deadline
        self._on_held = on_held
        # Digests of messages whose inspection did not finish, oldest first.
        self._unfinished: OrderedDict[bytes, str] = OrderedDict()

    async def process(
        self, envelope: Envelope, content: bytes, transaction: Transaction, *, trace: bytes
    ) -> Outcome:
        """Raise a DlpProxyError (or anything else: a 451) when the message cannot be handled."""
        loaded = self._policies.current
        try:
            async with asyncio.timeout(self._deadline):
                verdict = await self._verdict(envelope, content, loaded)
                message = _Message(envelope, content, trace, loaded, verdict)
                outcome = await self._act(message, transaction)
        except TimeoutError as exc:
            raise errors.InspectionTimeout(f"not handled within {self._deadline:g}s") from exc
        return outcome

    async def _verdict(self, envelope: Envelope, content: bytes, loaded: LoadedPolicy) -> Verdict:
        """The scanner's verdict. A message whose inspection did not finish (timed out, killed
        its scanner, raised) gets 451 once; when the same bytes come back, it is decided as one
        unscannable file, so the policy decides (the shipped one holds it for outside
        recipients) instead of a 451 that would come back until the sender's server gives up."""
        key = hashlib.blake2b(content, digest_size=16).digest()
        earlier = self._unfinished.get(key)
        if earlier is not None:
            log.warning(
                "inspection did not finish on an earlier try: decided without it",
                extra={"id": envelope.message_id, "error": earlier},
            )
            why = f"inspection did not finish on an earlier try ({earlier})"
            job = functools.partial(unread_job, why=why)
            value = await self._scanner.run_job(content, envelope, loaded.policy, job)
            assert isinstance(value, Verdict)
            return value
        try:
            return await self._scanner.run(content, envelope, loaded.policy)
        except (errors.InspectionTimeout, errors.InspectionFailed) as exc:
            # The class only: a parser's exception text may quote the message's content.
            self._unfinished[key] = type(exc).__name__
            while len(self._unfinished) > UNFINISHED_KEPT:
                self._unfinished.popitem(last=False)
            raise

    async def _act(self, message: _Message, transaction: Transaction) -> Outcome:
        verdict = message.verdict
        decision = verdict.decision
        match decision.action:
            case "pass":
                reply = await transaction.data(message.trace + message.content)
                return Outcome(verdict, reply)
            case "encrypt" | "bcc" | "tag":
                return await self._modified(message, transaction)
            case "block":
                await transaction.abort()
                await self._tell_about_block(message)
                rule = next(r for r in decision.enforced_rules if "block" in r.actions)
                return Outcome(verdict, blocked_by=rule)
            case _:
                await transaction.abort()
                held = await self._hold(message)
                return Outcome(verdict, held=held)

    async def _hold(self, message: _Message) -> HeldMessage:
        """Commit the message to the quarantine (durable before the 250), then tell the sender
        and the approvers; a notice that fails is logged: the web UI lists held mail anyway."""
        loaded, envelope, verdict = message.loaded, message.envelope, message.verdict
        config = loaded.policy.config
        changes = Changes.of(verdict.decision, loaded.policy, envelope.message_id)
        content = message.trace + message.content
        approvers = loaded.directory.approvers_of(
            envelope.mail_from, fallback=config.hold.fallback_approvers or config.notices.admins
        )
        if not approvers:
            log.warning(
                "no approver for the sender: only admins can decide",
                extra={"id": envelope.message_id},
            )
        context = self._notifier.context(verdict, envelope, message.content, loaded)
        held = await self._quarantine.hold(
            NewHold(
                id=envelope.message_id,
                sender=envelope.mail_from,
                recipients=envelope.rcpt_tos,
                mail_options=envelope.mail_options,
                client=dataclasses.asdict(envelope.client),
                subject=context.message.subject,
                summary=summary(content, context, verdict, changes=changes),
                policy_version=loaded.policy.version,
                approvers=approvers,
                expires_at=utcnow() + timedelta(hours=config.hold.expire_after_hours),
                content=content,
            )
        )
        self._on_held()  # the queue worker sends the held and approval-request notices
        return held

    async def _modified(self, message: _Message, transaction: Transaction) -> Outcome:
        """Relay the rewritten message; with encryption, the sender gets the password first,
        so no encrypted copy ever leaves without someone able to open it."""
        verdict, loaded = message.verdict, message.loaded
        modified = verdict.modified
        assert modified is not None
        context = None
        if modified.password is not None:
            encryption = self._notifier.encryption(verdict, message.envelope, loaded)
            context = self._notifier.context(
                verdict, message.envelope, message.content, loaded, encryption=encryption
            )
            try:
                await self._notifier.send("encrypted", context, loaded)
            except Exception as exc:
                raise errors.NoticeFailed(
                    f"the password notice to the sender could not be sent: {exc}"
                ) from exc
        reply = await transaction.data(message.trace + modified.content)
        if context is not None and loaded.policy.config.notices.password_to_recipients:
            await self._notifier.send_quietly("encrypted_recipient_password", context, loaded)
        return Outcome(verdict, reply)

    async def _tell_about_block(self, message: _Message) -> None:
        loaded = message.loaded
        wanted = loaded.policy.config.notices.on_block
        if not wanted:
            return
        context = self._notifier.context(message.verdict, message.envelope, message.content, loaded)
        if "sender" in wanted and message.envelope.mail_from:
            await self._notifier.send_quietly("blocked", context, loaded)
        if "admins" in wanted:
            await self._notifier.send_quietly("admin_alert", context, loaded)


@dataclass(frozen=True, slots=True)
class _Message:
    """One message on its way through: what came in, the policy it met, the verdict."""

    envelope: Envelope
    content: bytes
    trace: bytes
    loaded: LoadedPolicy
    verdict: Verdict
