"""Hand messages to the next hop over pooled aiosmtplib connections, mirroring the envelope live."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from dlp_proxy import errors, metrics
from dlp_proxy.config import HostPort
from dlp_proxy.envelope import Client

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 30.0


def _wire(address: str) -> bytes:
    """An envelope address as it goes on the wire: exactly the bytes the client sent."""
    return b"<" + address.encode("utf-8", "surrogateescape") + b">"


def _xtext(value: str) -> bytes:
    """RFC 3461 xtext, as XFORWARD wants its attribute values."""
    out = bytearray()
    for byte in value.encode("utf-8", "surrogateescape"):
        if 33 <= byte <= 126 and byte not in (ord("+"), ord("=")):
            out.append(byte)
        else:
            out += b"+%02X" % byte
    return bytes(out)


def on_the_wire(raw: bytes) -> bytes:
    """The bytes aiosmtplib's ``SMTP.data`` sends after DATA for ``raw``: lone CR and LF made
    CRLF, leading dots doubled, the final dot. When every line already ends in CRLF (always,
    for what aiosmtpd received) bytes methods do it; aiosmtplib's two regular-expression
    passes held the event loop for about 140 ms with a 7 MB message."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:
        return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"
    wire = raw.replace(b"\n.", b"\n..")
    if wire.startswith(b"."):
        wire = b"." + wire
    if not wire.endswith(b"\r\n"):
        wire += b"\r\n"
    return wire + b".\r\n"


async def _send_data(smtp: aiosmtplib.SMTP, wire: bytes) -> aiosmtplib.SMTPResponse:
    """``smtp.data()`` for a message already in its wire form (``on_the_wire``); the
    connection is this transaction's alone, as with every command here."""
    start = await smtp.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    try:
        protocol.write(wire)
        response = await protocol.read_response(timeout=smtp.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        smtp.close()  # as smtp.data() does: the reply may still come and must not be misread
        raise
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


def _failure(exc: BaseException, hop: HostPort) -> errors.DlpProxyError:
    """Map an aiosmtplib or socket error onto our tree: 4xx/5xx replies keep their code."""
    failure = _classify(exc, hop)
    kind = {
        errors.NextHopDeferred: "deferred",
        errors.NextHopRejected: "rejected",
    }.get(type(failure), "unavailable")
    metrics.NEXT_HOP_ERRORS.labels(kind).inc()
    return failure


def _classify(exc: BaseException, hop: HostPort) -> errors.DlpProxyError:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if 400 <= exc.code < 500:
            return errors.NextHopDeferred(exc.code, exc.message)
        if 500 <= exc.code < 600:
            return errors.NextHopRejected(exc.code, exc.message)
        return errors.NextHopUnavailable(f"{hop}: unexpected reply {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return errors.NextHopUnavailable(f"{hop}: timed out")
    return errors.NextHopUnavailable(f"{hop}: {type(exc).__name__}: {exc}")


# Delivery status notification parameters (RFC 3461), passed on to a next hop that has DSN.
DSN_MAIL = frozenset({"RET", "ENVID"})
DSN_RCPT = frozenset({"NOTIFY", "ORCPT"})


async def _rcpt(conn: _Connection, address: str, options: Sequence[str]) -> None:
    dsn = [o.encode() for o in options] if conn.smtp.supports_extension("dsn") else []
    _check(await conn.smtp.execute_command(b"RCPT", b"TO:" + _wire(address), *dsn), 250, 251)


def _check(response: aiosmtplib.SMTPResponse, *accepted: int) -> aiosmtplib.SMTPResponse:
    if response.code not in accepted:
        raise aiosmtplib.SMTPResponseException(response.code, response.message)
    return response


class Transaction(Protocol):
    """An open mail transaction at the next hop: MAIL is done, recipients and data follow."""

    async def rcpt(self, address: str, options: Sequence[str] = ()) -> None: ...

    async def data(self, raw: bytes) -> str: ...

    async def abort(self) -> None: ...


class Delivery(Protocol):
    """Where accepted mail goes: a real next hop, or the development outbox."""

    async def begin(self, sender: str, options: Sequence[str], client: Client) -> Transaction: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class _Connection:
    smtp: aiosmtplib.SMTP
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def usable(self) -> bool:
        return self.smtp.is_connected and time.monotonic() - self.idle_since < IDLE_TIMEOUT


class NextHop:
    """A pool of SMTP connections to one next hop; each transaction borrows one."""

    def __init__(
        self, address: HostPort, *, local_hostname: str, timeout: float, max_idle: int
    ) -> None:
        self.address = address
        self._local_hostname = local_hostname
        self._timeout = timeout
        self._max_idle = max_idle
        self._idle: list[_Connection] = []
        self._background: set[asyncio.Task[None]] = set()
        self._pruner: asyncio.Task[None] | None = None

    async def _connect(self) -> _Connection:
        smtp = aiosmtplib.SMTP(
            hostname=self.address.host,
            port=self.address.port,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            start_tls=False,
        )
        try:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise _failure(exc, self.address) from exc
        return _Connection(smtp)

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            conn.smtp.close()
        return None

    def release(self, conn: _Connection) -> None:
        """Return a connection that is between transactions, or close it if the pool is full."""
        if conn.smtp.is_connected and len(self._idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            if self._pruner is None:
                self._pruner = asyncio.get_running_loop().create_task(self._prune())
        else:
            self.spawn(self._quit(conn))

    async def _prune(self) -> None:
        """Say QUIT on connections idle too long, rather than hold a next-hop process open
        until its own timeout (Postfix: 300 s)."""
        while True:
            await asyncio.sleep(IDLE_TIMEOUT / 3)
            stale = [conn for conn in self._idle if not conn.usable]
            self._idle = [conn for conn in self._idle if conn.usable]
            for conn in stale:
                self.spawn(self._quit(conn))

    def discard(self, conn: _Connection) -> None:
        conn.smtp.close()

    async def _quit(self, conn: _Connection) -> None:
        try:
            await conn.smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            conn.smtp.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _open(self, sender: str, options: Sequence[str], client: Client) -> _Connection:
        """MAIL on a pooled connection if one still works, else on a new one."""
        conn = self._take_idle()
        if conn is not None:
            try:
                await self._start(conn, sender, options, client)
                return conn
            except errors.NextHopUnavailable:
                pass  # the next hop had dropped this idle connection; try a fresh one
        conn = await self._connect()
        await self._start(conn, sender, options, client)
        return conn

    async def _start(
        self, conn: _Connection, sender: str, options: Sequence[str], client: Client
    ) -> None:
        try:
            await self._mail(conn, sender, options, client)
        except errors.NextHopLacksSmtpUtf8:
            self.release(conn)
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._reset_or_close(conn)
            raise _failure(exc, self.address) from exc

    async def _mail(
        self, conn: _Connection, sender: str, options: Sequence[str], client: Client
    ) -> None:
        smtp = conn.smtp
        if smtp.supports_extension("xforward"):
            attrs = {
                "ADDR": client.addr,
                "NAME": client.name,
                "HELO": client.helo,
                "PROTO": client.proto,
            }
            args = [k.encode() + b"=" + _xtext(v) for k, v in attrs.items() if v]
            if args:
                _check(await smtp.execute_command(b"XFORWARD", *args), 250)
        wanted = []
        for option in options:
            name = option.partition("=")[0]
            if name == "SMTPUTF8":
                if not smtp.supports_extension("smtputf8"):
                    raise errors.NextHopLacksSmtpUtf8()
                wanted.append(option)
            elif (name == "BODY" and smtp.supports_extension("8bitmime")) or (
                name in DSN_MAIL and smtp.supports_extension("dsn")
            ):
                wanted.append(option)
        _check(
            await smtp.execute_command(
                b"MAIL", b"FROM:" + _wire(sender), *(o.encode() for o in wanted)
            ),
            250,
        )

    def _reset_or_close(self, conn: _Connection) -> None:
        if not conn.smtp.is_connected:
            return
        self.spawn(self._reset(conn))

    async def _reset(self, conn: _Connection) -> None:
        try:
            _check(await conn.smtp.rset(), 250)
        except (aiosmtplib.SMTPException, OSError):
            conn.smtp.close()
            return
        self.release(conn)

    async def begin(
        self, sender: str, options: Sequence[str], client: Client
    ) -> NextHopTransaction:
        conn = await self._open(sender, options, client)
        return NextHopTransaction(self, conn, sender, tuple(options), client)

    async def close(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn) for conn in idle), return_exceptions=True)
        if self._background:
            await asyncio.wait(self._background, timeout=self._timeout)


class NextHopTransaction:
    """One transaction at the next hop, opened at MAIL time so RCPT replies are the next hop's."""

    def __init__(
        self,
        hop: NextHop,
        conn: _Connection,
        sender: str,
        options: tuple[str, ...],
        client: Client,
    ) -> None:
        self._hop = hop
        self._conn: _Connection | None = conn
        self._sender = sender
        self._options = options
        self._client = client
        self._accepted: list[tuple[str, tuple[str, ...]]] = []

    def _connection(self) -> _Connection:
        if self._conn is None:
            raise errors.NextHopUnavailable(f"{self._hop.address}: transaction already ended")
        return self._conn

    async def rcpt(self, address: str, options: Sequence[str] = ()) -> None:
        conn = self._connection()
        try:
            await _rcpt(conn, address, options)
        except (aiosmtplib.SMTPException, OSError) as exc:
            if not conn.smtp.is_connected:
                self._conn = None
            raise _failure(exc, self._hop.address) from exc
        self._accepted.append((address, tuple(options)))

    async def _reopen(self) -> _Connection:
        """The next hop dropped us while we inspected: replay MAIL and RCPT on a new connection."""
        conn = await self._hop._open(self._sender, self._options, self._client)
        self._conn = conn
        for address, options in self._accepted:
            try:
                await _rcpt(conn, address, options)
            except (aiosmtplib.SMTPException, OSError) as exc:
                # A recipient accepted earlier is refused now: the client already holds our
                # 250 for it, so the whole message must be retried (4xx), never half-sent.
                failure = _failure(exc, self._hop.address)
                await self.abort()
                if isinstance(failure, errors.TemporaryFailure):
                    raise failure from exc
                raise errors.NextHopDeferred(451, f"recipient now refused: {failure}") from exc
        return conn

    async def data(self, raw: bytes) -> str:
        conn = self._conn
        if conn is None or not conn.smtp.is_connected:
            conn = await self._reopen()
        self._conn = None
        try:
            response = await _send_data(conn.smtp, on_the_wire(raw))
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._hop._reset_or_close(conn)
            raise _failure(exc, self._hop.address) from exc
        except BaseException:
            conn.smtp.close()  # cancelled mid-DATA: the connection's state is unknown
            raise
        self._hop.release(conn)
        return response.message

    async def abort(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._hop._reset(conn)
