"""Fault-injection rig: `dlp-proxy serve` as a child, a next hop that misbehaves, an MTA-like
sender that retries, and the books that say where every message went (tests and bench)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import update

from dlp_proxy.config import load_settings
from dlp_proxy.quarantine.database import create_engine
from dlp_proxy.quarantine.from_settings import database_url, open_quarantine
from dlp_proxy.quarantine.models import MessageRow
from dlp_proxy.quarantine.store import utcnow
from tests import proctree
from tests.builders import csv_bytes, customers, xlsx_bytes

ROOT = Path(__file__).resolve().parents[1]
INTERNAL = "corp.example"
SENDER = f"sales@{INTERNAL}"
APPROVER = f"manager@{INTERNAL}"  # gets the approval requests (notices, not counted as mail)
KINDS = ("clean", "held", "blocked")
TOKEN = b"@@TESTID@@"
TEST_ID = re.compile(rb"(?mi)^X-Test-Id:[ \t]*(\S+)")
SUBJECT_ID = re.compile(r"fault test (T\d+)")


# --- the mail -------------------------------------------------------------------------------


@dataclass
class Letter:
    """One message the sender must get accepted or refused; ``final`` is None while deferred."""

    id: str
    kind: str
    rcpt: str
    raw: bytes
    attempts: int = 0
    final: str | None = None  # "accepted" (250) or "rejected" (5xx)
    reply: str = ""
    replies: list[str] = field(default_factory=list)


@functools.cache
def _template(kind: str) -> tuple[str, bytes]:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["Subject"] = "fault test " + TOKEN.decode()
    msg["X-Test-Id"] = TOKEN.decode()
    msg.set_content("お世話になっております。資料をお送りします。\n")
    if kind == "clean":
        rcpt = "partner@example.com"
        msg.add_attachment(
            b"meeting at 10:00\n", maintype="text", subtype="plain", filename="a.txt"
        )
    elif kind == "held":  # external + a few personal rows: hold, encrypt on release
        rcpt = "customer@example.com"
        data = xlsx_bytes(customers(3))
        msg.add_attachment(
            data,
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename="list.xlsx",
        )
    else:  # external + 1,000 personal rows: 550
        rcpt = "customer@example.com"
        msg.add_attachment(
            csv_bytes(customers(1000)), maintype="text", subtype="csv", filename="all.csv"
        )
    msg["To"] = rcpt
    return rcpt, msg.as_bytes().replace(b"\n", b"\r\n")


def letters(
    count: int, mix: Sequence[float] = (0.8, 0.15, 0.05), *, start: int = 0
) -> list[Letter]:
    """``count`` letters, kinds spread evenly in the proportions of ``mix`` (clean, held,
    blocked); half of the clean ones go to an internal address."""
    made: list[Letter] = []
    owed = [0.0] * len(KINDS)
    for n in range(start, start + count):
        owed = [o + m for o, m in zip(owed, mix, strict=True)]
        pick = max(range(len(KINDS)), key=lambda i: owed[i])
        owed[pick] -= 1
        kind = KINDS[pick]
        rcpt, raw = _template(kind)
        if kind == "clean" and n % 2:
            rcpt = f"colleague@{INTERNAL}"
        test_id = f"T{n:07d}"
        made.append(Letter(test_id, kind, rcpt, raw.replace(TOKEN, test_id.encode())))
    return made


def test_id_of(raw: bytes) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0]
    match = TEST_ID.search(head)
    return match.group(1).decode() if match else None


# --- the next hop ---------------------------------------------------------------------------


class NextHop:
    """A real aiosmtpd server; modes: up, down (port closed), slow (DATA reply after ``delay``),
    flapping (per transaction in turn: 421 at MAIL and hang up; hang up at DATA; accept).

    A message counts as delivered when the sink replies 250 to its DATA, whether or not the
    client is still there to read it (a real MTA has committed it by then)."""

    def __init__(self) -> None:
        self.mode = "up"
        self.delay = 0.0
        self.copies: Counter[str] = Counter()
        self.notices = 0
        self.in_data = 0
        self.in_flight: set[str] = set()  # test ids being committed now (slow mode)
        self.data_started = 0  # DATA commands begun: test messages and notices
        self.mail_started = 0  # DATA commands begun for test messages
        self.port = 0
        self._turn = 0
        self._server: asyncio.Server | None = None
        self._protocols: set[SMTP] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def factory() -> SMTP:
            protocol = SMTP(self, hostname="sink.test", data_size_limit=None, loop=loop)
            self._protocols.add(protocol)
            return protocol

        self._server = await loop.create_server(factory, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.mode = "up"

    async def down(self) -> None:
        """Stop listening and hang up on every connection: connection refused from now on."""
        self.mode = "down"
        if self._server is not None:
            self._server.close()
            self._server = None
        self.hang_up()

    def hang_up(self) -> None:
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        self._protocols.clear()

    async def up(self) -> None:
        if self._server is None:
            await self.start()
        self.mode = "up"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        if self.mode == "flapping":
            self._turn += 1
            if self._turn % 3 == 1:
                transport = server.transport
                if transport is not None:
                    asyncio.get_running_loop().call_later(0.01, transport.close)
                return "421 4.3.2 flapping: closing"
            session.drop_at_data = self._turn % 3 == 2  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.mode == "flapping" and getattr(session, "drop_at_data", False):
            if server.transport is not None:
                server.transport.close()
            return "451 4.3.0 dropped"  # never read: the connection is gone
        self.data_started += 1
        # Shielded: a client that hangs up while we commit does not undo the commit.
        return await asyncio.shield(self._commit(envelope.original_content or b""))

    async def _commit(self, raw: bytes) -> str:
        test_id = test_id_of(raw)
        self.mail_started += test_id is not None
        if self.delay:
            self.in_data += 1
            if test_id:
                self.in_flight.add(test_id)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_data -= 1
                self.in_flight.discard(test_id or "")
        if test_id is None:
            self.notices += 1
        else:
            self.copies[test_id] += 1
        return "250 2.0.0 Ok: stored"


# --- the proxy ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy_dir(workdir: Path) -> Path:
    """The shipped default policy plus our internal domain and an approver for held mail."""
    path = workdir / "policies"
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "policies" / "default.yaml", path / "default.yaml")
    (path / "local.yaml").write_text(
        f"internal_domains: [{INTERNAL}]\n"
        f"hold: {{expire_after_hours: 72, on_expiry: reject, fallback_approvers: [{APPROVER}]}}\n"
    )
    return path


def tree_rss(root: int) -> int:
    return proctree.rss(proctree.tree(root))


class Proxy:
    """`dlp-proxy serve` in its own process group, on a fixed port so a restart reuses it."""

    def __init__(
        self,
        workdir: Path,
        *,
        next_hop: int,
        data_dir: Path | None = None,
        quarantine_url: str | None = None,
        workers: int = 1,
        scan_processes: int = 1,
        next_hop_timeout: float = 2.0,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.data_dir = data_dir or workdir / "var"
        self.quarantine_url = quarantine_url
        self.log = workdir / "proxy.log"
        self.args = [
            sys.executable, "-m", "dlp_proxy", "serve",
            "--listen", f"127.0.0.1:{self.port}",
            "--next-hop", f"127.0.0.1:{next_hop}",
            "--data-dir", str(self.data_dir),
            "--policy-dir", str(policy_dir(workdir)),
            "--hostname", "proxy.test",
            "--web-listen", "127.0.0.1:0",
            "--workers", str(workers),
            "--scan-processes", str(scan_processes),
        ]  # fmt: skip
        self.environ = {
            "DLP_PROXY_NEXT_HOP_TIMEOUT": str(next_hop_timeout),
            "DLP_PROXY_SHUTDOWN_GRACE": "5",
        }
        if quarantine_url:
            self.args += ["--quarantine-url", quarantine_url]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def settings_flags(self) -> dict[str, Any]:
        return {"data_dir": self.data_dir, "quarantine_url": self.quarantine_url}

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DLP_PROXY_")}
        env.update(self.environ, PYTHONPATH=str(ROOT))
        with self.log.open("ab") as log:
            return subprocess.Popen(
                self.args, stderr=log, stdout=log, env=env, start_new_session=True
            )

    async def start(self, within: float = 60) -> None:
        self.process = self._spawn()
        self.starts += 1
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dlp-proxy serve exited: see {self.log}")
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    greeting = await asyncio.wait_for(reader.readline(), 5)
                finally:
                    writer.close()
                if greeting.startswith(b"220"):
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"dlp-proxy serve did not answer within {within}s: see {self.log}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: supervisor, workers, scanners."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._reap_group()

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            for _ in range(100):
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
        self.kill()

    def _reap_group(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # scanners left behind

    def rss(self) -> int:
        assert self.process is not None
        return tree_rss(self.process.pid)


# --- the sender -----------------------------------------------------------------------------


class Mta:
    """Sends like an MTA: 250 accepted, 5xx refused, 4xx or a broken connection: retry later;
    ``sessions`` connections in parallel, reused between messages."""

    def __init__(
        self,
        port: int,
        *,
        sessions: int = 4,
        retry: float = 0.5,
        max_attempts: int = 60,
        timeout: float = 60,
    ) -> None:
        self.port = port
        self.sessions = sessions
        self.retry = retry
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.attempts = 0

    async def send(self, batch: Sequence[Letter]) -> None:
        """Return when every letter is final or has used up its attempts (deferred)."""
        queue: asyncio.Queue[Letter] = asyncio.Queue()
        for letter in batch:
            if letter.final is None:
                queue.put_nowait(letter)
        pending = {letter.id for letter in batch if letter.final is None}
        done = asyncio.Event()
        if not pending:
            return
        loop = asyncio.get_running_loop()
        timers: list[asyncio.TimerHandle] = []

        def settle(letter: Letter) -> None:
            if letter.final is None and letter.attempts < self.max_attempts:
                timers.append(loop.call_later(self.retry, queue.put_nowait, letter))
                return
            pending.discard(letter.id)
            if not pending:
                done.set()

        async def session() -> None:
            smtp: aiosmtplib.SMTP | None = None
            try:
                while True:
                    letter = await queue.get()
                    if smtp is None or not smtp.is_connected:
                        smtp = aiosmtplib.SMTP(
                            hostname="127.0.0.1", port=self.port, timeout=self.timeout
                        )
                    smtp = await self._attempt(smtp, letter)
                    settle(letter)
            finally:
                if smtp is not None:
                    smtp.close()

        workers = [asyncio.create_task(session()) for _ in range(self.sessions)]
        try:
            await done.wait()
        finally:
            for timer in timers:
                timer.cancel()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _attempt(self, smtp: aiosmtplib.SMTP, letter: Letter) -> aiosmtplib.SMTP | None:
        """One try; returns the connection to reuse, or None when it must be dropped."""
        letter.attempts += 1
        self.attempts += 1
        try:
            if not smtp.is_connected:
                await smtp.connect()
            _, reply = await smtp.sendmail(SENDER, [letter.rcpt], letter.raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            return self._answered(smtp, letter, refusal.code, refusal.message)
        except aiosmtplib.SMTPResponseException as exc:
            return self._answered(smtp, letter, exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            letter.replies.append(f"connection: {type(exc).__name__}")
            smtp.close()
            return None
        letter.final, letter.reply = "accepted", reply
        letter.replies.append(reply[:80])
        return smtp

    def _answered(
        self, smtp: aiosmtplib.SMTP, letter: Letter, code: int, text: str
    ) -> aiosmtplib.SMTP | None:
        reply = f"{code} {text}"
        letter.replies.append(reply[:80])
        if 500 <= code < 600:
            letter.final, letter.reply = "rejected", reply
        smtp.close()  # mid-transaction state unknown after a refusal: start afresh
        return None


# --- the books ------------------------------------------------------------------------------


@dataclass
class Held:
    id: str
    test_id: str
    state: str
    lease_owner: str | None = None


async def quarantine_rows(proxy: Proxy) -> list[Held]:
    settings = load_settings(environ={}, flags=proxy.settings_flags)
    store = await open_quarantine(settings, create=False)
    try:
        rows = await store.list(limit=1_000_000)
    finally:
        await store.close()
    found = []
    for row in rows:
        match = SUBJECT_ID.search(row.subject)
        if match:
            found.append(Held(row.id, match.group(1), row.state))
    return found


async def approve_all(proxy: Proxy) -> int:
    settings = load_settings(environ={}, flags=proxy.settings_flags)
    store = await open_quarantine(settings, create=False)
    try:
        held = await store.list(state="held", limit=1_000_000)
        for row in held:
            await store.approve(row.id, actor="cli:faults", comment=None, via="cli", admin=True)
    finally:
        await store.close()
    return len(held)


async def end_leases(proxy: Proxy) -> int:
    """Let release leases run out now, as they do ``release.LEASE`` seconds after a node died."""
    settings = load_settings(environ={}, flags=proxy.settings_flags)
    engine = create_engine(database_url(settings), timeout=10)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                update(MessageRow)
                .where(MessageRow.lease_until.is_not(None))
                .values(lease_until=utcnow())
            )
            return int(result.rowcount)
    finally:
        await engine.dispose()


@dataclass
class Books:
    """Where every letter went. ``lost``: accepted (250) but neither delivered nor held."""

    scenario: str
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    deferred: int = 0
    delivered: int = 0
    duplicates: int = 0
    held: int = 0
    held_duplicates: int = 0
    released: int = 0
    lost: int = 0
    wrong: int = 0  # blocked mail delivered or held, clean mail held or refused
    attempts: int = 0
    retried: int = 0
    notes: list[str] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)

    COLUMNS = (
        *("sent", "accepted", "rejected", "deferred", "delivered", "duplicates", "held"),
        *("held_duplicates", "released", "lost", "wrong", "attempts", "retried"),
    )

    def row(self) -> str:
        return (
            "| "
            + " | ".join([self.scenario, *(str(getattr(self, c)) for c in self.COLUMNS)])
            + " |"
        )

    @classmethod
    def header(cls) -> str:
        names = ["scenario", *cls.COLUMNS]
        return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def account(scenario: str, batch: Sequence[Letter], sink: NextHop, held: Sequence[Held]) -> Books:
    books = Books(scenario)
    ours = {letter.id for letter in batch}
    copies = {k: v for k, v in sink.copies.items() if k in ours}
    held_ids = Counter(h.test_id for h in held if h.test_id in ours)
    books.sent = len(batch)
    books.accepted = sum(letter.final == "accepted" for letter in batch)
    books.rejected = sum(letter.final == "rejected" for letter in batch)
    books.deferred = sum(letter.final is None for letter in batch)
    books.delivered = len(copies)
    books.duplicates = sum(copies.values()) - len(copies)
    books.held = len(held_ids)
    books.held_duplicates = sum(held_ids.values()) - len(held_ids)
    books.released = sum(h.state == "released" for h in held if h.test_id in ours)
    books.attempts = sum(letter.attempts for letter in batch)
    books.retried = sum(letter.attempts > 1 for letter in batch)
    for letter in batch:
        if letter.final == "accepted" and letter.id not in copies and letter.id not in held_ids:
            books.lost_ids.append(letter.id)
        wrong = (
            (letter.kind == "blocked" and (letter.id in copies or letter.id in held_ids))
            or (letter.kind == "clean" and (letter.id in held_ids or letter.final == "rejected"))
            or (letter.kind == "held" and letter.final == "rejected")
        )
        books.wrong += wrong
    books.lost = len(books.lost_ids)
    return books


# --- the rig --------------------------------------------------------------------------------


@dataclass
class Rig:
    workdir: Path
    sink: NextHop
    proxy: Proxy

    def mta(self, **options: Any) -> Mta:
        return Mta(self.proxy.port, **options)

    async def books(self, scenario: str, batch: Sequence[Letter]) -> Books:
        return account(scenario, batch, self.sink, await quarantine_rows(self.proxy))


@contextlib.asynccontextmanager
async def rig(workdir: Path, **proxy_options: Any) -> AsyncIterator[Rig]:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    sink = NextHop()
    await sink.start()
    proxy = Proxy(workdir, next_hop=sink.port, **proxy_options)
    try:
        await proxy.start()
        yield Rig(workdir, sink, proxy)
    finally:
        await proxy.stop()
        await sink.down()


async def wait_until(predicate: Any, within: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())
