"""Notices as real mail: build each from a verdict and send it through the next hop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Literal, Protocol

from dlp_proxy import errors, metrics
from dlp_proxy.actions.notice_context import (
    Approval,
    AttachmentSummary,
    DecisionSummary,
    EncryptedArchive,
    Encryption,
    MessageSummary,
    NoticeContext,
    Person,
    RecipientSummary,
)
from dlp_proxy.actions.notify import Notice, NoticeKind, NoticeRenderer, NoticeSettings
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.holding import attachments_of, decision_of
from dlp_proxy.policy.load import LoadedPolicy, Policy
from dlp_proxy.quarantine.records import HeldMessage
from dlp_proxy.relay import Delivery
from dlp_proxy.scanner import Verdict, header_section

log = logging.getLogger("dlp_proxy.notices")

NOTICE_CLIENT = Client(addr="127.0.0.1", name="localhost", helo="dlp-proxy", proto="ESMTP")


def notice_settings(policy: Policy, hostname: str) -> NoticeSettings:
    notices = policy.config.notices
    return NoticeSettings(
        from_address=notices.from_address or f"dlp-proxy@{hostname}",
        default_language=policy.config.default_language,
        admin_addresses=notices.admins,
        password_to_recipients=notices.password_to_recipients,
        contact=notices.contact,
        file_transfer=notices.file_transfer,
        timezone=notices.timezone,
    )


class Links(Protocol):
    """Signed links into the web UI (dlp_proxy.web.links.Links)."""

    def url(
        self, *, message_id: str, approver: str, action: LinkAction, expires_at: datetime
    ) -> str: ...

    def review(self, message_id: str) -> str: ...


LinkAction = Literal["approve", "reject", "withdraw"]


class Notifier:
    """Renders notices with the policy in force and hands them to the next hop."""

    def __init__(
        self,
        delivery: Delivery,
        *,
        hostname: str,
        templates: Path | None,
        links: Links | None = None,
    ) -> None:
        self._delivery = delivery
        self._hostname = hostname
        self.links = links
        self._templates = [templates] if templates is not None and templates.is_dir() else []
        self._renderers: dict[str, NoticeRenderer] = {}

    def renderer(self, policy: Policy) -> NoticeRenderer:
        renderer = self._renderers.get(policy.version)
        if renderer is None:
            self._renderers.clear()  # one policy at a time; a reload makes a new one
            renderer = NoticeRenderer(
                notice_settings(policy, self._hostname), template_dirs=self._templates
            )
            self._renderers[policy.version] = renderer
        return renderer

    @staticmethod
    def context(
        verdict: Verdict,
        envelope: Envelope,
        content: bytes,
        loaded: LoadedPolicy,
        *,
        encryption: Encryption | None = None,
    ) -> NoticeContext:
        headers = BytesHeaderParser(policy=compat32).parsebytes(header_section(content))
        message = MessageSummary.of(
            headers,
            queue_id=envelope.message_id,
            sender=Person.lookup(envelope.mail_from, loaded.directory),
            envelope_to=envelope.rcpt_tos,
            internal=loaded.policy.internal,
            attachments=verdict.inspection.attachments,
        )
        return NoticeContext(message, DecisionSummary.of(verdict.decision), encryption)

    @staticmethod
    def context_of(held: HeldMessage, loaded: LoadedPolicy) -> NoticeContext:
        """A notice context from a held message's stored summary: no re-scan needed."""
        recipients = RecipientSummary.split(
            held.recipients,
            internal=loaded.policy.internal,
            visible=held.summary.get("recipients", {}).get("shown_in_to_cc", ()),
        )
        message = MessageSummary(
            queue_id=held.id,
            sender=Person.lookup(held.sender, loaded.directory),
            subject=held.subject,
            recipients=recipients,
            attachments=tuple(AttachmentSummary.of(a) for a in attachments_of(held.summary)),
            received=held.received_at,
            message_id=held.summary.get("headers", {}).get("message_id"),
        )
        return NoticeContext(message, DecisionSummary.of(decision_of(held.summary)))

    async def decided(self, held: HeldMessage, loaded: LoadedPolicy) -> None:
        """Tell the sender their held mail was rejected or expired; raises on failure."""
        if held.state not in ("rejected", "expired"):
            return
        decider = Person.lookup(held.decided_by, loaded.directory) if held.decided_by else None
        comment = held.comment
        if held.state == "expired":
            comment = "承認期限が過ぎたため送信されませんでした。 / The approval deadline passed."
        approval = Approval(decided_by=decider, comment=comment)
        context = replace(self.context_of(held, loaded), approval=approval)
        await self.send("rejected", context, loaded)

    async def released(self, held: HeldMessage, loaded: LoadedPolicy) -> None:
        """Tell the sender their held mail went out, with the approver's comment."""
        decider = Person.lookup(held.decided_by, loaded.directory) if held.decided_by else None
        approval = Approval(decided_by=decider, comment=held.comment)
        context = replace(self.context_of(held, loaded), approval=approval)
        await self.send("released", context, loaded)

    @staticmethod
    def encryption(verdict: Verdict, envelope: Envelope, loaded: LoadedPolicy) -> Encryption:
        modified = verdict.modified
        assert modified is not None and modified.password is not None
        internal = loaded.policy.internal
        return Encryption(
            password=modified.password,
            archives=tuple(EncryptedArchive(f.zip_name, (f.filename,)) for f in modified.encrypted),
            recipients=tuple(a for a in envelope.rcpt_tos if not internal.is_internal(a)),
        )

    async def send(
        self, kind: NoticeKind, context: NoticeContext, loaded: LoadedPolicy
    ) -> Sequence[Notice]:
        """Render and deliver every notice of ``kind``; a failure raises (the caller decides)."""
        renderer = self.renderer(loaded.policy)
        notices = await asyncio.to_thread(
            renderer.notices, kind, context, directory=loaded.directory
        )
        for notice in notices:
            await self._deliver(notice)
        return notices

    async def held(self, held: HeldMessage, loaded: LoadedPolicy) -> None:
        """Tell the sender their mail waits, and ask each approver, with their own links.
        Raises when a notice cannot be sent (the queue worker tries again later)."""
        people = tuple(Person.lookup(a, loaded.directory) for a in held.approvers)
        if not people:
            return  # nobody to name or to ask: the web UI's admins decide (logged at hold)
        base = self.context_of(held, loaded)
        approval = Approval(approvers=people, expires=held.expires_at)
        await self.send("held", replace(base, approval=approval), loaded)
        if self.links is None:
            log.warning("no web UI links: approvers get no request", extra={"id": held.id})
            return
        links = self.links
        for person in people:
            request = Approval(
                approvers=(person,),
                approve_url=links.url(
                    message_id=held.id,
                    approver=person.address,
                    action="approve",
                    expires_at=held.expires_at,
                ),
                reject_url=links.url(
                    message_id=held.id,
                    approver=person.address,
                    action="reject",
                    expires_at=held.expires_at,
                ),
                review_url=links.review(held.id),
                expires=held.expires_at,
            )
            await self.send("approval_request", replace(base, approval=request), loaded)

    async def send_quietly(
        self, kind: NoticeKind, context: NoticeContext, loaded: LoadedPolicy
    ) -> None:
        """A notice that must not change the message's fate: failures are logged only."""
        try:
            await self.send(kind, context, loaded)
        except Exception as exc:
            log.warning(
                "notice not sent",
                extra={"kind": kind, "id": context.message.queue_id, "error": repr(exc)[:300]},
            )

    async def _deliver(self, notice: Notice) -> None:
        options = ["SMTPUTF8"] if notice.smtputf8 else []
        try:
            transaction = await self._delivery.begin(notice.mail_from, options, NOTICE_CLIENT)
        except errors.DlpProxyError:
            metrics.NOTICES.labels(notice.kind, "failed").inc()
            raise
        try:
            await transaction.rcpt(notice.rcpt_to)
            await transaction.data(notice.content)
        except errors.DlpProxyError:
            await transaction.abort()
            metrics.NOTICES.labels(notice.kind, "failed").inc()
            raise
        metrics.NOTICES.labels(notice.kind, "sent").inc()
        log.info("notice sent", extra={"kind": notice.kind, "language": notice.language})
