"""Run inspection and decision in scanner processes, each message under a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import pickle
import resource
import signal
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from multiprocessing.process import BaseProcess
from typing import Any

from dlp_proxy import errors
from dlp_proxy.actions.apply import MODIFYING, Changes, Modified, modify
from dlp_proxy.decide import Decision, Facts, cannot_modify, decide
from dlp_proxy.envelope import Envelope
from dlp_proxy.inspect import DEFAULT_LIMITS, Attachment, Inspection, Limits, inspect_message
from dlp_proxy.inspect.recipients import Recipients, analyse
from dlp_proxy.inspect.vocabulary import Vocabulary
from dlp_proxy.policy.load import Policy

log = logging.getLogger(__name__)

# Scanner processes restart after this many messages, bounding any slow leak in parsers.
TASKS_PER_PROCESS = 2000
# How long a retiring scanner process may take to exit before it is killed.
EXIT_GRACE = 10.0
RESPAWN_BACKOFF = 1.0
# Messages of this size and more may occupy every scanner process but one, so that with two
# or more processes small mail never queues behind big scans (docs/benchmarks.md, mixed load).
# Not lower: a 1 MB spreadsheet scans in about 0.17 s, and with 1 MiB a stream of them could
# use only one of two scanner processes (5.7 against 9.2 msg/s, docs/benchmarks.md).
LARGE_MESSAGE = 4 << 20

_LENGTH = struct.Struct("!Q")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the scanner process sends back: findings, the decision, and its own run time."""

    inspection: Inspection
    recipients: Recipients
    decision: Decision
    seconds: float
    modified: Modified | None = None


Job = Callable[[bytes, Envelope, Policy], Verdict]


def evaluate(
    raw: bytes, envelope: Envelope, policy: Policy, *, limits: Limits = DEFAULT_LIMITS
) -> Verdict:
    """Inspect and decide; runs inside a scanner process."""
    started = time.perf_counter()
    inspection = inspect_message(raw, limits=limits, vocabulary=vocabulary_of(policy))
    recipients = recipients_of(raw, envelope, policy)
    decision = decide(policy, Facts(inspection.attachments, recipients, envelope.sender))
    changes = Changes.of(decision, policy, envelope.message_id)
    modified = None
    if decision.action in MODIFYING or (decision.action == "hold" and changes.any):
        modified = modify(
            raw,
            changes,
            attachments=inspection.attachments,
            policy=policy,
            internal=policy.internal,
            sender=envelope.mail_from,
        )
        unmodifiable = policy.config.unmodifiable
        if modified.problem is not None and (decision.action != "hold" or unmodifiable == "block"):
            decision = cannot_modify(decision, unmodifiable, modified.problem)
            modified = None
        elif decision.action == "hold":
            # Held: only whether it can be changed matters now; release changes it for real.
            modified = Modified(b"", problem=modified.problem)
    return Verdict(inspection, recipients, decision, time.perf_counter() - started, modified)


def recipients_of(raw: bytes, envelope: Envelope, policy: Policy) -> Recipients:
    """Who sees the message, from its header section alone (the body is never parsed here)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_section(raw))
    return analyse(
        headers,
        envelope_from=envelope.mail_from,
        envelope_to=envelope.rcpt_tos,
        internal=policy.internal,
    )


# The release problem recorded for held mail that was never inspected: release delivers it
# as it is (release.py), never asking a scanner to inspect it again.
UNREAD = "it could not be inspected"


def unread_job(raw: bytes, envelope: Envelope, policy: Policy, *, why: str) -> Verdict:
    """For a message whose inspection did not finish before (the scanner timed out, died or
    raised on these bytes): the message is one unscannable file, recipients and the decision
    as always, so the policy decides instead of a 451 that would come back for ever."""
    started = time.perf_counter()
    unread = Attachment(path="message", type="eml", size=len(raw), unscannable="limit", detail=why)
    recipients = recipients_of(raw, envelope, policy)
    decision = decide(policy, Facts((unread,), recipients, envelope.sender))
    modified = None
    if decision.action in MODIFYING:
        decision = cannot_modify(decision, policy.config.unmodifiable, UNREAD)
    if decision.action == "hold":
        modified = Modified(b"", problem=UNREAD)
    return Verdict(
        Inspection((unread,)), recipients, decision, time.perf_counter() - started, modified
    )


def release_job(
    raw: bytes,
    envelope: Envelope,
    policy: Policy,
    *,
    changes: Changes,
    limits: Limits = DEFAULT_LIMITS,
) -> Verdict:
    """For approved held mail: findings afresh (for the notices) and the changes its decision
    asked for when it was held, carried out now; runs in a scanner process."""
    verdict = evaluate(raw, envelope, policy, limits=limits)
    modified = None
    if changes.any:
        modified = modify(
            raw,
            changes,
            attachments=verdict.inspection.attachments,
            policy=policy,
            internal=policy.internal,
            sender=envelope.mail_from,
        )
    return dataclasses.replace(verdict, modified=modified)


_VOCABULARIES: dict[str, Vocabulary | None] = {}


def vocabulary_of(policy: Policy) -> Vocabulary | None:
    """The detector's synonyms plus the policy's ``column_synonyms``, built once per version."""
    if policy.version not in _VOCABULARIES:
        if len(_VOCABULARIES) >= 4:
            _VOCABULARIES.clear()
        extra = {kind: list(words) for kind, words in policy.config.column_synonyms.items()}
        _VOCABULARIES[policy.version] = Vocabulary.default().extended(extra) if extra else None
    return _VOCABULARIES[policy.version]


def header_section(raw: bytes) -> bytes:
    """``raw`` cut just after its first empty line: the header parser then skips the body.

    An empty line is LF LF, LF CR or CR CR as the email parser splits lines (CRLF CRLF contains
    LF CR); a few bytes of body past the cut are harmless, and so is no cut at all.
    """
    limit = 16384
    while True:
        ends = [i for sep in (b"\n\n", b"\n\r", b"\r\r") if (i := raw.find(sep, 0, limit)) >= 0]
        if ends:
            return raw[: min(ends) + 3]
        if limit >= len(raw):
            return raw
        limit *= 8


# --- inside a scanner process -------------------------------------------------------------


def _receive(sock: socket.socket) -> bytes | None:
    """One length-prefixed frame, or None at end of stream."""
    header = _read_exactly(sock, _LENGTH.size)
    if header is None:
        return None
    body = _read_exactly(sock, _LENGTH.unpack(header)[0])
    if body is None:
        raise EOFError("stream ended inside a frame")
    return body


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return bytes(buffer)


def _scanner_main(sock: socket.socket, job: Job, memory_limit: int) -> None:
    """A scanner process: run the job on each task read from ``sock`` until it closes.

    A task is ``(raw, envelope, policy, other)`` where policy is None when it is the same
    object as in the previous task (it changes only on reload, so it is sent once per
    process) and ``other`` is None for the process's job, or another picklable job.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    policy: Policy | None = None
    with sock:
        while (frame := _receive(sock)) is not None:
            raw, envelope, sent_policy, other = pickle.loads(frame)
            policy = sent_policy or policy
            assert policy is not None
            outcome: tuple[bool, object]
            try:
                outcome = (True, (other or job)(raw, envelope, policy))
                reply = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # MemoryError under the limit included: a 451, not a crash
                reply = pickle.dumps((False, type(exc).__name__))
            sock.sendall(_LENGTH.pack(len(reply)) + reply)


# --- in the proxy's event loop ----------------------------------------------------------


class _Process:
    """One scanner process and the parent's end of its socket."""

    def __init__(
        self, process: BaseProcess, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.process = process
        self.reader = reader
        self.writer = writer
        self.tasks = 0
        self.policy: Policy | None = None

    async def call(
        self, raw: bytes, envelope: Envelope, policy: Policy, other: Callable[..., object] | None
    ) -> tuple[bool, object]:
        frame = pickle.dumps(
            (raw, envelope, None if policy is self.policy else policy, other),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        self.writer.write(_LENGTH.pack(len(frame)) + frame)  # one send: one wake-up of the child
        self.policy = policy
        await self.writer.drain()
        header = await self.reader.readexactly(_LENGTH.size)
        outcome: tuple[bool, object] = pickle.loads(
            await self.reader.readexactly(_LENGTH.unpack(header)[0])
        )
        return outcome


class Scanner:
    """Scanner processes fed over sockets from the event loop, without threads.

    A scan that overruns its timeout, or is abandoned, has its process killed and replaced;
    each process also gets a memory limit and is replaced after ``TASKS_PER_PROCESS`` scans.
    Messages of ``large`` bytes or more are scanned in at most ``processes - 1`` processes at
    a time (at least one), keeping a process free for the small ones.
    """

    def __init__(
        self,
        *,
        processes: int,
        timeout: float,
        memory_limit: int,
        job: Job = evaluate,
        large: int = LARGE_MESSAGE,
    ) -> None:
        self._processes = processes
        self._large = large
        self._large_slots = asyncio.Semaphore(max(1, processes - 1))
        self._timeout = timeout
        self._memory_limit = memory_limit
        self._job = job
        self._context = multiprocessing.get_context("forkserver")
        self._idle: asyncio.Queue[_Process] = asyncio.Queue()
        self._all: set[_Process] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._drained = asyncio.Event()

    async def start(self) -> None:
        """Start the processes now rather than on the first message."""
        for _ in range(self._processes):
            await self._spawn(blocking=True)

    async def _spawn(self, *, blocking: bool = False) -> None:
        parent, child = socket.socketpair()
        process = self._context.Process(
            target=_scanner_main,
            args=(child, self._job, self._memory_limit),
            name="dlp-proxy-scanner",
            daemon=True,
        )
        try:
            if blocking:
                process.start()
            else:  # the forkserver handshake blocks for a moment: keep it off the event loop
                await asyncio.to_thread(process.start)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        reader, writer = await asyncio.open_connection(sock=parent)
        scanner = _Process(process, reader, writer)
        self._all.add(scanner)
        self._idle.put_nowait(scanner)

    def pids(self) -> list[int]:
        """The scanner processes running now."""
        return [s.process.pid for s in self._all if s.process.pid is not None]

    async def run(self, raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
        value = await self.run_job(raw, envelope, policy)
        assert isinstance(value, Verdict)
        return value

    async def run_job(
        self,
        raw: bytes,
        envelope: Envelope,
        policy: Policy,
        job: Callable[[bytes, Envelope, Policy], object] | None = None,
    ) -> object:
        """Run ``job`` (default: the scanner's own) in a scanner process under the deadline;
        ``job`` must be picklable: a module-level function or a partial of one."""
        if len(raw) >= self._large:
            async with self._large_slots:
                return await self._run_in_process(raw, envelope, policy, job)
        return await self._run_in_process(raw, envelope, policy, job)

    async def _run_in_process(
        self,
        raw: bytes,
        envelope: Envelope,
        policy: Policy,
        job: Callable[[bytes, Envelope, Policy], object] | None,
    ) -> object:
        scanner = await self._idle.get()
        healthy = False
        try:
            async with asyncio.timeout(self._timeout):
                ok, value = await scanner.call(raw, envelope, policy, job)
            healthy = True
        except TimeoutError as exc:
            raise errors.InspectionTimeout(f"scan exceeded {self._timeout:g}s") from exc
        except (asyncio.IncompleteReadError, OSError) as exc:
            await asyncio.to_thread(scanner.process.join, 1.0)
            code = scanner.process.exitcode
            raise errors.InspectionFailed(f"scanner process died (exit code {code})") from exc
        finally:
            scanner.tasks += 1
            if healthy and scanner.tasks < TASKS_PER_PROCESS and not self._closing:
                self._idle.put_nowait(scanner)
            else:
                # Timed out, died, cancelled mid-scan (its answer would reach the next task),
                # or due for renewal: this process goes, a fresh one takes its place.
                self._retire(scanner, kill=not healthy)
        if not ok:
            raise errors.InspectionFailed(f"scanner raised {value}")
        return value

    def _retire(self, scanner: _Process, *, kill: bool) -> None:
        self._all.discard(scanner)
        if self._closing and not self._all:
            self._drained.set()
        scanner.writer.close()
        if kill:
            scanner.process.kill()
        self._in_background(self._reap(scanner.process))
        if not self._closing:
            self._in_background(self._replace())

    async def _reap(self, process: BaseProcess) -> None:
        await asyncio.to_thread(process.join, EXIT_GRACE)
        if process.exitcode is None:
            log.warning("scanner process did not exit, killing it", extra={"pid": process.pid})
            process.kill()
            await asyncio.to_thread(process.join)

    async def _replace(self) -> None:
        while not self._closing:
            try:
                await self._spawn()
                return
            except OSError:
                log.exception("cannot start a scanner process; retrying")
                await asyncio.sleep(RESPAWN_BACKOFF)

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Let running scans finish (they retire their process), stop the idle processes."""
        self._closing = True
        while not self._idle.empty():
            self._retire(self._idle.get_nowait(), kill=False)
        if self._all:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EXIT_GRACE):
                    await self._drained.wait()
        for scanner in list(self._all):
            self._retire(scanner, kill=True)
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
