"""The SMTP front end on aiosmtpd; the only place that writes SMTP replies."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import secrets
import ssl
import time
from email.utils import format_datetime, localtime
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from dlp_proxy import errors, metrics, replies
from dlp_proxy.auditing import DecisionAudit
from dlp_proxy.config import IPNetwork, Settings
from dlp_proxy.envelope import Client
from dlp_proxy.envelope import Envelope as MessageEnvelope
from dlp_proxy.inspect.recipients import route
from dlp_proxy.pipeline import Outcome, Pipeline
from dlp_proxy.policy.store import PolicyStore
from dlp_proxy.relay import DSN_MAIL, DSN_RCPT, Delivery, Transaction

log = logging.getLogger("dlp_proxy.smtp")

XFORWARD_ATTRS = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")


def new_message_id() -> str:
    """Short, unique, roughly time-ordered: 11 hex digits of milliseconds, 5 random."""
    return f"{time.time_ns() // 1_000_000:011X}{secrets.token_hex(3)[:5].upper()}"


_SOURCE_ROUTE = re.compile(r"\s*<\s*@")
_NOTIFY = re.compile(r"(?i)NEVER|(SUCCESS|FAILURE|DELAY)(,(SUCCESS|FAILURE|DELAY))*")
_XTEXT = re.compile(r"([!-*,-<>-~]|\+[0-9A-F]{2})+")


def _take_dsn(arg: str | None, names: frozenset[str]) -> tuple[str | None, tuple[str, ...] | None]:
    """Split this command's DSN parameters off its argument; None when one is malformed."""
    if not arg or ">" not in arg:
        return arg, ()
    address, _, rest = arg.partition(">")
    kept: list[str] = []
    taken: list[str] = []
    for param in rest.split():
        name, _, value = param.partition("=")
        if name.upper() not in names:
            kept.append(param)
            continue
        canonical = _dsn_param(name.upper(), value)
        if canonical is None:
            return arg, None
        taken.append(canonical)
    return " ".join([address + ">", *kept]), tuple(taken)


def _dsn_param(name: str, value: str) -> str | None:
    match name:
        case "RET" if value.upper() in ("FULL", "HDRS"):
            return f"RET={value.upper()}"
        case "NOTIFY" if _NOTIFY.fullmatch(value):
            return f"NOTIFY={value.upper()}"
        case "ENVID" if _XTEXT.fullmatch(value) and len(value) <= 100:
            return f"ENVID={value}"
        case "ORCPT" if ";" in value and _XTEXT.fullmatch(value.partition(";")[2]):
            return f"ORCPT={value}"
    return None


def _xtext_decode(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")
    decoded = re.sub(rb"\+([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
    return decoded.decode("utf-8", "replace")


class ProxySession(Session):
    """An aiosmtpd session plus what XFORWARD told us about the original client."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.xforward: dict[str, str] = {}
        self.busy = False

    def client(self) -> Client:
        peer = self.peer[0] if isinstance(self.peer, tuple) else str(self.peer)
        forwarded = self.xforward.get("ADDR")
        if forwarded:
            return Client(
                addr=forwarded,
                name=self.xforward.get("NAME"),
                helo=self.xforward.get("HELO"),
                proto=self.xforward.get("PROTO"),
                forwarded_by=peer,
            )
        proto = "ESMTP" if self.extended_smtp else "SMTP"
        return Client(addr=peer, helo=self.host_name, proto=proto)


class ProxyEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.message_id = ""
        self.transaction: Transaction | None = None


class ProxySMTP(SMTP):
    """aiosmtpd with connect-time access control, XFORWARD and enhanced status codes."""

    def __init__(self, handler: Handler, *, allow: tuple[IPNetwork, ...], **kwargs: Any) -> None:
        self.line_length_limit = handler.settings.max_line_length
        self.dsn: tuple[str, ...] | None = ()
        self.source_route = False  # the last MAIL/RCPT path had one (aiosmtpd drops it)
        super().__init__(handler, **kwargs)
        self._allow = allow
        self._proxy_handler = handler

    def _create_session(self) -> ProxySession:
        return ProxySession(self.loop)

    def _create_envelope(self) -> ProxyEnvelope:
        return ProxyEnvelope()

    # No properties on this class: aiosmtpd's constructor evaluates every attribute.
    def proxy_session(self) -> ProxySession:
        assert isinstance(self.session, ProxySession)
        return self.session

    def _peer_allowed(self) -> bool:
        peer = self.proxy_session().peer
        if not isinstance(peer, tuple):
            return False
        try:
            address = ipaddress.ip_address(peer[0].split("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self._allow)

    async def _handle_client(self) -> None:
        if not self._peer_allowed():
            log.warning("client refused", extra={"client": str(self.proxy_session().peer)})
            await self.push(replies.GREETING_REFUSED)
            if self.transport is not None:
                self.transport.close()
            return
        self._proxy_handler.sessions.add(self)
        try:
            await super()._handle_client()
        finally:
            self._proxy_handler.sessions.discard(self)

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            await super().push(replies.with_enhanced_code(status))
        else:
            await super().push(status)

    def _set_post_data_state(self) -> None:
        old = self.envelope
        super()._set_post_data_state()  # type: ignore[no-untyped-call]
        if isinstance(old, ProxyEnvelope):
            self._proxy_handler.abandon(old)

    def connection_lost(self, error: Exception | None) -> None:
        if isinstance(self.envelope, ProxyEnvelope):
            self._proxy_handler.abandon(self.envelope)
        super().connection_lost(error)

    def extend_timeout(self, seconds: float) -> None:
        self._reset_timeout(seconds)

    def is_idle(self) -> bool:
        """Between transactions: nothing is lost by closing the connection now."""
        return not self.proxy_session().busy and not (self.envelope and self.envelope.mail_from)

    def close_for_shutdown(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(replies.SHUTTING_DOWN.encode() + b"\r\n")
            transport.close()

    # aiosmtpd knows no DSN parameters (RFC 3461) and refuses them: take them out of the
    # command before it parses it, keep them for the hooks, which pass them to the next hop.
    async def smtp_MAIL(self, arg: str | None) -> None:
        arg, self.dsn = _take_dsn(arg, DSN_MAIL)
        if self.dsn is None:
            await self.push(replies.DSN_SYNTAX)
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        arg, self.dsn = _take_dsn(arg, DSN_RCPT)
        if self.dsn is None:
            await self.push(replies.DSN_SYNTAX)
            return
        await super().smtp_RCPT(arg)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's path parser, which drops a source route (``<@a,@b:user@c>`` gives
        ``user@c``, and that is what goes to the next hop); noted for handle_RCPT. Its
        recursion on nested comments cannot run deep: commands are cut at 512 bytes."""
        self.source_route = _SOURCE_ROUTE.match(arg) is not None
        address: tuple[str | None, str | None] = super()._getaddr(arg)
        return address

    @syntax("XFORWARD attribute=value ...")
    async def smtp_XFORWARD(self, arg: str | None) -> None:
        if await self.check_helo_needed("EHLO"):
            return
        if self.envelope is not None and self.envelope.mail_from:
            await self.push(replies.XFORWARD_IN_TRANSACTION)
            return
        attrs: dict[str, str] = {}
        for item in (arg or "").split():
            name, eq, value = item.partition("=")
            name = name.upper()
            if not eq or name not in XFORWARD_ATTRS:
                await self.push(replies.XFORWARD_SYNTAX)
                return
            decoded = _xtext_decode(value)
            if decoded not in ("[UNAVAILABLE]", "[TEMPUNAVAIL]"):
                attrs[name] = decoded
        if not attrs and not arg:
            await self.push(replies.XFORWARD_SYNTAX)
            return
        self.proxy_session().xforward.update(attrs)
        await self.push(replies.XFORWARD_OK)


class Handler:
    """aiosmtpd hooks: MAIL and RCPT mirrored at the next hop; DATA inspected, then acted on."""

    def __init__(
        self,
        settings: Settings,
        *,
        delivery: Delivery,
        pipeline: Pipeline,
        policies: PolicyStore,
        audit: DecisionAudit | None = None,
    ) -> None:
        self.settings = settings
        self.delivery = delivery
        self.pipeline = pipeline
        self.policies = policies
        self.audit = audit
        self.sessions: set[ProxySMTP] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def handle_EHLO(
        self,
        server: ProxySMTP,
        session: ProxySession,
        envelope: ProxyEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        session.xforward.clear()
        offered = [line for line in responses[:-1] if not line.startswith("250-AUTH")]
        return [*offered, "250-DSN", "250-XFORWARD " + " ".join(XFORWARD_ATTRS), responses[-1]]

    async def handle_MAIL(
        self,
        server: ProxySMTP,
        session: ProxySession,
        envelope: ProxyEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        sender = "" if address == "<>" else address
        envelope.message_id = new_message_id()
        options = [*mail_options, *(server.dsn or ())]
        envelope.transaction = await self.delivery.begin(sender, options, session.client())
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd needs it truthy
        envelope.mail_options.extend(options)
        return replies.MAIL_OK

    async def handle_RCPT(
        self,
        server: ProxySMTP,
        session: ProxySession,
        envelope: ProxyEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        if self.settings.refuse_routed_recipients and (server.source_route or route(address)):
            return replies.ROUTED_RECIPIENT
        assert envelope.transaction is not None
        dsn = server.dsn or ()
        try:
            await envelope.transaction.rcpt(address, dsn)
        except errors.DlpProxyError as exc:
            return replies.for_error(exc)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend([*rcpt_options, *dsn])
        return replies.RCPT_OK

    async def handle_RSET(
        self, server: ProxySMTP, session: ProxySession, envelope: ProxyEnvelope
    ) -> str:
        session.xforward.clear()
        return replies.RESET_OK

    async def handle_DATA(
        self, server: ProxySMTP, session: ProxySession, envelope: ProxyEnvelope
    ) -> str:
        started = time.monotonic()
        server.extend_timeout(self.settings.inspection_deadline + self.settings.smtp_timeout)
        client = session.client()
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from or ""
        message = MessageEnvelope(
            message_id=envelope.message_id,
            mail_from=sender,
            rcpt_tos=tuple(envelope.rcpt_tos),
            client=client,
            mail_options=tuple(envelope.mail_options),
            sender=self.policies.current.directory.sender_info(sender),
        )
        content = envelope.original_content or b""
        fields: dict[str, Any] = {
            "id": message.message_id,
            "client": client.addr,
            "client_name": client.name,
            "client_helo": client.helo,
            "sender": message.mail_from,
            "recipients": len(message.rcpt_tos),
            "size": len(content),
        }
        if client.forwarded_by:
            fields["via"] = client.forwarded_by
        session.busy = True
        try:
            if envelope.transaction is None:
                raise errors.NextHopUnavailable("no open next-hop transaction")
            outcome = await self.pipeline.process(
                message, content, envelope.transaction, trace=self._received(session, message)
            )
            envelope.transaction = None
            reply = _reply(outcome, message.message_id, fields)
        except Exception as exc:
            transaction, envelope.transaction = envelope.transaction, None
            if transaction is not None:
                await self._abort(transaction)
            reply = replies.for_error(exc)
            fields["error"] = type(exc).__name__
            fields["reason"] = str(exc)[:300]
        finally:
            session.busy = False
        fields["reply"] = reply[:3]
        fields["ms"] = round((time.monotonic() - started) * 1000, 1)
        log.log(logging.INFO if reply.startswith("2") else logging.WARNING, "message", extra=fields)
        _count(fields, reply)
        if self.audit is not None:
            self.audit.record(message.message_id, fields, fields.get("policy", ""))
        session.xforward.clear()
        return reply

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp command failed", exc_info=error)
        return replies.for_error(error)

    def _received(self, session: ProxySession, message: MessageEnvelope) -> bytes:
        """The trace header we prepend (RFC 5321 section 4.4)."""
        peer = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
        helo = _printable(session.host_name or "unknown")
        proto = "UTF8SMTP" if message.smtputf8 else ("ESMTP" if session.extended_smtp else "SMTP")
        if session.ssl is not None:
            proto += "S"
        stamp = format_datetime(localtime())
        header = (
            f"Received: from {helo} ([{peer}])\r\n"
            f"\tby {self.settings.hostname} (dlp-proxy) with {proto} id {message.message_id};\r\n"
            f"\t{stamp}\r\n"
        )
        return header.encode("ascii", "replace")

    async def _abort(self, transaction: Transaction) -> None:
        try:
            await transaction.abort()
        except Exception:
            log.exception("aborting the next-hop transaction failed")

    async def drain(self) -> None:
        """Wait for the next-hop transactions being released in the background."""
        if self._background:
            await asyncio.wait(self._background, timeout=self.settings.next_hop_timeout)

    def abandon(self, envelope: ProxyEnvelope) -> None:
        """The client left or reset mid-transaction: release the next-hop transaction."""
        transaction, envelope.transaction = envelope.transaction, None
        if transaction is not None:
            task = asyncio.get_running_loop().create_task(self._abort(transaction))
            self._background.add(task)
            task.add_done_callback(self._background.discard)


def _count(fields: dict[str, Any], reply: str) -> None:
    metrics.MESSAGES.labels(fields.get("decision", "error"), reply[:1] + "xx").inc()
    metrics.MESSAGE_SECONDS.observe(fields["ms"] / 1000)
    if "scan_ms" in fields:
        metrics.SCAN_SECONDS.observe(fields["scan_ms"] / 1000)
    for rule in fields.get("rules", ()):
        metrics.RULES.labels(rule).inc()


def _reply(outcome: Outcome, message_id: str, fields: dict[str, Any]) -> str:
    """The reply for a message the pipeline handled, and what the log line says of it."""
    verdict = outcome.verdict
    decision = verdict.decision
    fields["decision"] = decision.action
    fields["rules"] = [r.name for r in decision.rules]
    fields["policy"] = decision.policy_version
    if decision.mode == "monitor":
        fields["would"] = decision.would
    fields["personal_rows"] = sum(a.personal_rows for a in verdict.inspection.attachments)
    fields["scan_ms"] = round(verdict.seconds * 1000, 1)
    if verdict.modified is not None:
        fields["encrypted"] = len(verdict.modified.encrypted)
        fields["bcc_hidden"] = verdict.modified.hidden
        fields["tagged"] = verdict.modified.tagged
    if outcome.blocked_by is not None:
        return replies.blocked(outcome.blocked_by.name, outcome.blocked_by.reason.en)
    if outcome.held is not None:
        fields["approvers"] = len(outcome.held.approvers)
        return replies.held(message_id)
    fields["next_hop"] = outcome.next_hop_reply[:200]
    return replies.queued(message_id)


def _printable(text: str) -> str:
    return "".join(ch if 32 < ord(ch) < 127 else "?" for ch in text)[:255]


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise errors.StartupError(
            f"cannot load TLS certificate {settings.tls_cert} / key {settings.tls_key}: {exc}"
        ) from exc
    return context
