"""Run inspection and decision in a pool of processes, each message under a deadline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

import pebble

from dlp_proxy import errors
from dlp_proxy.decide import Decision, Facts, decide
from dlp_proxy.envelope import Envelope
from dlp_proxy.inspect import Inspection, inspect_message
from dlp_proxy.inspect.recipients import Recipients, analyse
from dlp_proxy.policy.load import Policy

log = logging.getLogger(__name__)

# Scanner processes restart after this many messages, bounding any slow leak in parsers.
TASKS_PER_PROCESS = 2000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the scanner process sends back: findings, the decision, and its own run time."""

    inspection: Inspection
    recipients: Recipients
    decision: Decision
    seconds: float


Job = Callable[[bytes, Envelope, Policy], Verdict]


def evaluate(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    """Inspect and decide; runs inside a scanner process."""
    started = time.perf_counter()
    inspection = inspect_message(raw)
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    recipients = analyse(
        headers,
        envelope_from=envelope.mail_from,
        envelope_to=envelope.rcpt_tos,
        internal=policy.internal,
    )
    decision = decide(policy, Facts(inspection.attachments, recipients, envelope.sender))
    return Verdict(inspection, recipients, decision, time.perf_counter() - started)


def _limit_memory(max_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def _ready() -> bool:
    return True


class Scanner:
    """A pebble process pool: a scan that overruns its timeout has its process killed."""

    def __init__(
        self, *, processes: int, timeout: float, memory_limit: int, job: Job = evaluate
    ) -> None:
        self._job = job
        self._timeout = timeout
        context = multiprocessing.get_context("forkserver")
        self._pool = pebble.ProcessPool(
            max_workers=processes,
            max_tasks=TASKS_PER_PROCESS,
            initializer=_limit_memory,
            initargs=(memory_limit,),
            context=context,
        )

    async def start(self) -> None:
        """Start the processes now rather than on the first message."""
        await asyncio.wrap_future(self._pool.schedule(_ready, timeout=self._timeout))

    async def run(self, raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
        future = self._pool.schedule(self._job, args=(raw, envelope, policy), timeout=self._timeout)
        try:
            return await asyncio.wrap_future(future)
        except TimeoutError as exc:
            raise errors.InspectionTimeout(f"scan exceeded {self._timeout:g}s") from exc
        except (pebble.ProcessExpired, concurrent.futures.process.BrokenProcessPool) as exc:
            raise errors.InspectionFailed(f"scanner process died: {exc}") from exc
        except Exception as exc:
            raise errors.InspectionFailed(f"scanner raised {type(exc).__name__}") from exc

    async def close(self) -> None:
        self._pool.close()  # type: ignore[no-untyped-call]
        await asyncio.to_thread(self._pool.join, 10)
        self._pool.stop()  # type: ignore[no-untyped-call]
