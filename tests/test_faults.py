"""Faults against a running `dlp-proxy serve`: every message accepted is delivered or held.

Small versions of the scenarios in docs/reliability.md (bench/faults.py runs them full size).
Mix of 24: 19 clean (pass), 4 held (hold + encrypt), 1 blocked (550).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faultkit import Books
from tests.faultscenarios import (
    disk_full,
    disk_full_possible,
    flapping_next_hop,
    kill_after_hold,
    kill_during_data,
    kill_during_release,
    next_hop_down,
    quarantine_down,
    slow_next_hop,
)

N = 24
CLEAN, HELD, BLOCKED = 19, 4, 1


def settled(books: Books) -> None:
    """Nothing lost, nothing left deferred, nothing where its kind must not go."""
    assert books.lost == 0, books.lost_ids
    assert books.deferred == 0
    assert books.wrong == 0
    assert books.sent == N


def mixed_outcome(books: Books) -> None:
    settled(books)
    assert (books.accepted, books.rejected) == (CLEAN + HELD, BLOCKED)
    assert (books.delivered, books.held) == (CLEAN, HELD)
    assert books.held_duplicates == 0


async def test_next_hop_down_then_back(tmp_path: Path) -> None:
    books = await next_hop_down(tmp_path, N)
    mixed_outcome(books)
    assert books.duplicates == 0
    assert books.retried == N  # nothing got through while it was down, not even held mail
    assert "0 accepted while" in books.notes[0]


async def test_slow_next_hop_duplicates_only_what_it_stored_after_we_gave_up(
    tmp_path: Path,
) -> None:
    books = await slow_next_hop(tmp_path, N)
    mixed_outcome(books)
    timed_out = int(books.notes[0].split()[0])
    assert timed_out >= 1
    assert books.duplicates == timed_out  # the at-least-once window, nothing else


async def test_flapping_next_hop(tmp_path: Path) -> None:
    books = await flapping_next_hop(tmp_path, N)
    mixed_outcome(books)
    assert books.duplicates == 0  # a hang-up before the 250 means the sink stored nothing
    assert books.retried > 0


async def test_quarantine_unavailable_held_mail_waits_clean_mail_flows(
    tmp_path: Path, postgres_reason: str | None
) -> None:
    if postgres_reason:
        pytest.skip(postgres_reason)
    books = await quarantine_down(tmp_path, N)
    mixed_outcome(books)
    assert books.duplicates == 0
    assert f"{CLEAN} clean accepted and delivered, 0 held accepted" in books.notes[0]


async def test_sigkill_during_data(tmp_path: Path) -> None:
    books = await kill_during_data(tmp_path, N)
    mixed_outcome(books)
    assert books.notes[0].endswith("unexplained duplicates: 0")
    # every duplicate had reached the next hop while its client still waited for the 250


async def test_sigkill_after_hold_then_released_once(tmp_path: Path) -> None:
    books = await kill_after_hold(tmp_path, 8)  # releases go one at a time: keep it short
    assert (books.lost, books.deferred, books.wrong) == (0, 0, 0)
    assert books.notes[0] == "8 held rows after the restart; 8 approved"
    assert (books.held, books.released, books.delivered) == (8, 8, 8)
    assert books.duplicates == books.held_duplicates == 0


async def test_sigkill_during_release(tmp_path: Path) -> None:
    books = await kill_during_release(tmp_path, 8)  # releases go one at a time: keep it short
    assert (books.lost, books.deferred, books.wrong) == (0, 0, 0)
    assert (books.held, books.released, books.delivered) == (8, 8, 8)
    assert books.held_duplicates == 0
    landed = int(books.notes[0].split("(")[1].split()[0])
    assert books.duplicates == landed <= 1  # the one copy in the next hop's hands at the kill


async def test_disk_full_held_mail_waits(tmp_path: Path) -> None:
    reason = disk_full_possible()
    if reason:
        pytest.skip(reason)
    books = await disk_full(tmp_path, N)
    mixed_outcome(books)
    assert books.duplicates == 0
    assert f"{CLEAN} clean accepted and delivered, 0 held accepted" in books.notes[0]
