"""The scanner pool: real scanner processes, killed on overrun, replaced, renewed, limited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest

from dlp_proxy import errors, scanner
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.policy.load import Policy, load_policy
from dlp_proxy.scanner import Scanner, header_section
from tests import jobs

MESSAGE = b"From: a@example.jp\r\nTo: b@example.com\r\nSubject: t\r\n\r\nhello\r\n"
ENVELOPE = Envelope(
    message_id="T1",
    mail_from="a@example.jp",
    rcpt_tos=("b@example.com",),
    client=Client("127.0.0.1"),
)


def marked(action: str) -> bytes:
    return f"X-Test-Do: {action}\r\n".encode() + MESSAGE


def make_policy(directory: Path, text: str) -> Policy:
    directory.mkdir()
    (directory / "policy.yaml").write_text(text)
    return load_policy(directory).policy


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return make_policy(tmp_path / "open", "rules: []\n")


@pytest.fixture
async def pool() -> AsyncIterator[Scanner]:
    pool = Scanner(processes=1, timeout=1, memory_limit=1 << 30, job=jobs.on_marker)
    await pool.start()
    yield pool
    await pool.close()


async def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (and been reaped) within a few seconds."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


async def running(pool: Scanner) -> list[int]:
    """The pool's processes, once a replacement (started in the background) is up."""
    for _ in range(200):
        if pids := pool.pids():
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError("no scanner process came back")


async def test_scan_returns_the_jobs_verdict(pool: Scanner, policy: Policy) -> None:
    verdict = await pool.run(MESSAGE, ENVELOPE, policy)
    assert verdict.decision.action == "pass"
    assert verdict.decision.policy_version == policy.version
    assert verdict.recipients.external == 1


async def test_a_new_policy_reaches_the_process(pool: Scanner, tmp_path: Path) -> None:
    first = make_policy(tmp_path / "a", "rules: []\n")
    second = make_policy(tmp_path / "b", "mode: monitor\nrules: []\n")
    assert first.version != second.version
    versions = [
        (await pool.run(MESSAGE, ENVELOPE, policy)).decision.policy_version
        for policy in (first, first, second, second, first)
    ]
    assert versions == [first.version, first.version, second.version, second.version, first.version]


async def test_overrun_kills_the_process_and_a_new_one_scans(pool: Scanner, policy: Policy) -> None:
    (before,) = pool.pids()
    with pytest.raises(errors.InspectionTimeout):
        await pool.run(marked("hang"), ENVELOPE, policy)
    assert await gone(before)
    assert (await pool.run(MESSAGE, ENVELOPE, policy)).decision.action == "pass"
    assert before not in await running(pool)


async def test_dead_process_gives_inspection_failed_and_is_replaced(
    pool: Scanner, policy: Policy
) -> None:
    (before,) = pool.pids()
    with pytest.raises(errors.InspectionFailed, match="died"):
        await pool.run(marked("die"), ENVELOPE, policy)
    assert (await pool.run(MESSAGE, ENVELOPE, policy)).decision.action == "pass"
    assert before not in await running(pool)


async def test_exception_in_the_job_keeps_the_process(pool: Scanner, policy: Policy) -> None:
    before = pool.pids()
    with pytest.raises(errors.InspectionFailed, match="scanner raised ValueError"):
        await pool.run(marked("raise"), ENVELOPE, policy)
    assert (await pool.run(MESSAGE, ENVELOPE, policy)).decision.action == "pass"
    assert pool.pids() == before


async def test_memory_limit_applies_in_the_process(pool: Scanner, policy: Policy) -> None:
    with pytest.raises(errors.InspectionFailed, match="MemoryError"):
        await pool.run(marked("allocate"), ENVELOPE, policy)
    assert (await pool.run(MESSAGE, ENVELOPE, policy)).decision.action == "pass"


async def test_abandoned_scan_kills_its_process(pool: Scanner, policy: Policy) -> None:
    (before,) = pool.pids()
    task = asyncio.create_task(pool.run(marked("sleep"), ENVELOPE, policy))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(before)
    assert (await pool.run(MESSAGE, ENVELOPE, policy)).decision.action == "pass"


async def test_processes_are_renewed_after_their_quota(
    pool: Scanner, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner, "TASKS_PER_PROCESS", 3)
    seen = set()
    for _ in range(7):
        seen.update(await running(pool))
        assert (await pool.run(MESSAGE, ENVELOPE, policy)).decision.action == "pass"
    seen.update(await running(pool))
    assert len(seen) == 3  # the first process, renewed after scans 3 and 6


async def test_close_stops_every_process(policy: Policy) -> None:
    pool = Scanner(processes=2, timeout=5, memory_limit=1 << 30, job=jobs.on_marker)
    await pool.start()
    pids = pool.pids()
    assert len(pids) == 2
    await pool.close()
    assert [await gone(pid) for pid in pids] == [True, True]


async def test_small_mail_is_not_queued_behind_large_scans(policy: Policy, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    pool = Scanner(processes=2, timeout=120, memory_limit=1 << 30, job=jobs.on_marker, large=10_000)
    await pool.start()
    try:
        large = marked(f"wait-for {gate}") + b"x" * 10_000 + b"\r\n"
        big = [asyncio.create_task(pool.run(large, ENVELOPE, policy)) for _ in range(2)]
        await asyncio.sleep(0.2)  # let both large scans ask for a process first
        # Both large scans block until the gate opens; the small message must not wait for
        # them: one process stays free for it (before the fix, this waited forever).
        small = await asyncio.wait_for(pool.run(MESSAGE, ENVELOPE, policy), 60)
        assert small.decision.action == "pass"
        assert not any(task.done() for task in big)
        gate.touch()
        verdicts = await asyncio.wait_for(asyncio.gather(*big), 60)
        assert [v.decision.action for v in verdicts] == ["pass", "pass"]
    finally:
        gate.touch()
        await pool.close()


async def test_one_process_still_scans_large_and_small_mail(policy: Policy) -> None:
    pool = Scanner(processes=1, timeout=30, memory_limit=1 << 30, job=jobs.on_marker, large=100)
    await pool.start()
    try:
        large = MESSAGE + b"x" * 200 + b"\r\n"
        verdicts = await asyncio.gather(
            pool.run(large, ENVELOPE, policy),
            pool.run(MESSAGE, ENVELOPE, policy),
            pool.run(large, ENVELOPE, policy),
        )
        assert [v.decision.action for v in verdicts] == ["pass"] * 3
    finally:
        await pool.close()


LONG_HEADER = b"X-Long: " + b"a" * 40_000 + b"\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        MESSAGE,
        MESSAGE.replace(b"\r\n", b"\n"),
        MESSAGE.replace(b"\r\n", b"\r"),
        b"To: b@example.com\nCc: c@example.com\r\n\r\nbody\r\n",
        b"To: b@example.com\r\nnot a header line\r\nCc: c@example.com\r\n\r\nbody",
        b"To: b@example.com\r\nCc: c@example.com\r\n",
        b"To: b@example.com\r\n\tc@example.com\r\n\r\n\r\nTo: hidden@example.com\r\n",
        LONG_HEADER + MESSAGE,
        b"",
    ],
    ids=["crlf", "lf", "cr", "mixed", "non-header", "no-body", "folded", "long", "empty"],
)
def test_header_section_parses_like_the_whole_message(raw: bytes) -> None:
    parser = BytesHeaderParser(policy=compat32)
    assert parser.parsebytes(header_section(raw)).items() == parser.parsebytes(raw).items()


def test_header_section_leaves_the_body_out() -> None:
    big = MESSAGE + b"x" * 1_000_000
    assert header_section(big) == MESSAGE[: MESSAGE.index(b"\r\n\r\n") + 4]
    assert header_section(LONG_HEADER + big).startswith(LONG_HEADER)
    assert len(header_section(LONG_HEADER + big)) < len(LONG_HEADER) + 100
