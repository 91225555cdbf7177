"""Notices as real mail: build each from a verdict and send it through the next hop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from dlp_proxy import errors
from dlp_proxy.actions.notice_context import (
    DecisionSummary,
    EncryptedArchive,
    Encryption,
    MessageSummary,
    NoticeContext,
    Person,
)
from dlp_proxy.actions.notify import Notice, NoticeKind, NoticeRenderer, NoticeSettings
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.policy.load import LoadedPolicy, Policy
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


class Notifier:
    """Renders notices with the policy in force and hands them to the next hop."""

    def __init__(self, delivery: Delivery, *, hostname: str, templates: Path | None) -> None:
        self._delivery = delivery
        self._hostname = hostname
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
        transaction = await self._delivery.begin(notice.mail_from, options, NOTICE_CLIENT)
        try:
            await transaction.rcpt(notice.rcpt_to)
            await transaction.data(notice.content)
        except errors.DlpProxyError:
            await transaction.abort()
            raise
        log.info("notice sent", extra={"kind": notice.kind, "language": notice.language})
