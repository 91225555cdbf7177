"""Scanner jobs that misbehave on purpose; they run inside the real scanner processes."""

from __future__ import annotations

import os
import resource
import time

from dlp_proxy.envelope import Envelope
from dlp_proxy.policy.load import Policy
from dlp_proxy.scanner import Verdict, evaluate


def raise_error(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    raise ValueError("a parser bug")


def hang(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    time.sleep(3600)
    raise AssertionError("unreachable")


def die(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    os._exit(9)


def slow(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    """Two seconds, then the real thing: for shutdown with a message in flight."""
    time.sleep(2)
    return evaluate(raw, envelope, policy)


def fail_on_marker(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    """Raise for messages carrying X-Test-Fail, scan the rest normally."""
    if b"\nX-Test-Fail:" in raw or raw.startswith(b"X-Test-Fail:"):
        raise RuntimeError("marked to fail")
    return evaluate(raw, envelope, policy)


def on_marker(raw: bytes, envelope: Envelope, policy: Policy) -> Verdict:
    """Misbehave as an ``X-Test-Do:`` header says (hang, die, raise, allocate, sleep,
    wait-for PATH), else scan."""
    action = raw.partition(b"X-Test-Do: ")[2].partition(b"\r\n")[0]
    if action == b"hang":
        time.sleep(3600)
    elif action == b"die":
        os._exit(9)
    elif action == b"raise":
        raise ValueError("a parser bug")
    elif action == b"allocate":
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        bytearray(2 * limit)  # more than the address space the scanner process may have
    elif action == b"sleep":
        time.sleep(2)
    elif action.startswith(b"wait-for "):  # until the file named after it exists
        gate = action.removeprefix(b"wait-for ").decode()
        while not os.path.exists(gate):
            time.sleep(0.01)
    return evaluate(raw, envelope, policy)
