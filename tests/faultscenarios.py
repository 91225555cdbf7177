"""The fault scenarios of docs/reliability.md, sized by the caller (CI: dozens; bench: hundreds)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import asyncpg

from tests.faultkit import Books, Letter, Proxy, letters, quarantine_rows, rig, wait_until
from tests.faultkit import approve_all as approve_all_held
from tests.faultkit import end_leases as end_release_leases
from tests.qstore import POSTGRES_URL

Scenario = Callable[[Path, int], Coroutine[Any, Any, Books]]


def tried(batch: list[Letter], times: int = 1) -> Callable[[], bool]:
    return lambda: all(letter.attempts >= times or letter.final for letter in batch)


async def next_hop_down(workdir: Path, n: int) -> Books:
    """The next hop is down until every message was tried twice, then comes back."""
    async with rig(workdir) as r:
        batch = letters(n)
        await r.sink.down()
        sending = asyncio.create_task(r.mta().send(batch))
        await wait_until(tried(batch, 2), within=60)
        early = sum(letter.final == "accepted" for letter in batch)
        await r.sink.up()
        await sending
        books = await r.books("next hop down", batch)
        books.notes.append(f"{early} accepted while the next hop was down")
        return books


async def slow_next_hop(workdir: Path, n: int) -> Books:
    """The next hop answers DATA after 1.5 s (the proxy waits 1 s) until a quarter of the
    messages reached it, then after 0.2 s."""
    async with rig(workdir, next_hop_timeout=1.0) as r:
        batch = letters(n)
        r.sink.delay = 1.5
        sending = asyncio.create_task(r.mta().send(batch))
        await wait_until(lambda: r.sink.mail_started >= max(1, n // 4), within=120)
        timed_out = r.sink.mail_started
        r.sink.delay = 0.2
        await sending
        await asyncio.sleep(2)  # the slow replies still on their way land
        books = await r.books("slow next hop", batch)
        books.notes.append(
            f"{timed_out} DATA commands met the 1.5 s next hop; the proxy gave up on them after "
            "1 s (451) and the next hop stored them anyway"
        )
        return books


async def flapping_next_hop(workdir: Path, n: int) -> Books:
    """Each next-hop transaction in turn: 421 at MAIL and hang up; hang up after DATA; accept."""
    async with rig(workdir) as r:
        batch = letters(n)
        r.sink.mode = "flapping"
        await r.mta().send(batch)
        r.sink.mode = "up"
        return await r.books("flapping next hop", batch)


class Forwarder:
    """A TCP forwarder we control between the proxy and PostgreSQL: cut it, restore it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones, as a database host going away."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[tuple[str, int, str]]:
    """A fresh PostgreSQL database on the test server: (host, port, name); dropped after."""
    name = "faults_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield admin._addr[0], int(admin._addr[1]), name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def quarantine_down(workdir: Path, n: int) -> Books:
    """The PostgreSQL quarantine becomes unreachable until every message was tried twice."""
    async with scratch_database() as (host, port, name):
        forwarder = Forwarder(host, port)
        await forwarder.start()
        url = f"postgresql://postgres@127.0.0.1:{forwarder.port}/{name}"
        try:
            async with rig(workdir, quarantine_url=url) as r:
                batch = letters(n)
                await forwarder.cut()
                sending = asyncio.create_task(r.mta().send(batch))
                await wait_until(tried(batch, 2), within=60)
                during = {k: sum(x.final == "accepted" for x in batch if x.kind == k) for k in
                          ("clean", "held")}  # fmt: skip
                await forwarder.restore()
                await sending
                books = await r.books("quarantine DB unavailable", batch)
                books.notes.append(
                    f"while it was unreachable: {during['clean']} clean accepted and delivered, "
                    f"{during['held']} held accepted"
                )
                return books
        finally:
            await forwarder.cut()


async def kill_during_data(workdir: Path, n: int, kills: int = 1) -> Books:
    """SIGKILL the proxy's process group while transactions are mid-DATA, restart it."""
    async with rig(workdir) as r:
        batch = letters(n)
        r.sink.delay = 0.3  # each next-hop DATA takes a while: there is always one in flight
        sending = asyncio.create_task(r.mta(sessions=6).send(batch))
        in_flight: list[int] = []
        window: set[str] = set()  # no 250 at the kill, yet the next hop had it: may come twice
        for k in range(kills):
            goal = (k + 1) * n // (kills + 2)
            await wait_until(lambda g=goal: sum(x.final is not None for x in batch) >= g, 120)
            await wait_until(lambda: bool(r.sink.in_flight), within=10, step=0.005)
            in_flight.append(len(r.sink.in_flight))
            open_ids = {x.id for x in batch if x.final is None}
            r.proxy.kill()
            await asyncio.sleep(0.5)  # longer than the next hop's DATA: what it had has landed
            window |= open_ids & set(r.sink.copies)
            await r.proxy.start()
        await sending
        await asyncio.sleep(0.5)
        books = await r.books("SIGKILL during DATA", batch)
        twice = {i for i, copies in r.sink.copies.items() if copies > 1}
        books.notes.append(
            f"{kills} kill(s); test messages in the next hop's DATA at each kill: {in_flight}; "
            f"{len(window)} had reached the next hop without a 250 to the client; "
            f"unexplained duplicates: {len(twice - window)}"
        )
        return books


async def kill_after_hold(workdir: Path, n: int) -> Books:
    """Hold n messages, SIGKILL, restart; every held copy is there, approve all, each once."""
    async with rig(workdir) as r:
        batch = letters(n, mix=(0, 1, 0))
        await r.mta().send(batch)
        r.proxy.kill()
        await r.proxy.start()
        survived = sum(h.state == "held" for h in await quarantine_rows(r.proxy))
        approved = await approve_all_held(r.proxy)
        await wait_until(lambda: len(r.sink.copies) >= n, within=60 + n)
        await _all_released(r.proxy, n)
        books = await r.books("SIGKILL after a hold", batch)
        books.notes.append(f"{survived} held rows after the restart; {approved} approved")
        return books


async def kill_during_release(workdir: Path, n: int) -> Books:
    """Approve n held messages; SIGKILL while one is being relayed; restart; the lease runs
    out and the message is released again."""
    async with rig(workdir, next_hop_timeout=10.0) as r:
        batch = letters(n, mix=(0, 1, 0))
        await r.mta().send(batch)
        r.sink.delay = 0.3
        await approve_all_held(r.proxy)
        await wait_until(lambda: len(r.sink.copies) >= min(3, n // 2), within=60 + n)
        await wait_until(lambda: bool(r.sink.in_flight), within=10, step=0.005)
        in_flight = sorted(r.sink.in_flight)
        r.proxy.kill()
        before = sum(r.sink.copies.values())
        await asyncio.sleep(r.sink.delay + 0.2)
        landed = sum(r.sink.copies.values()) - before
        ended = await end_release_leases(r.proxy)  # all of them are the dead process's
        await r.proxy.start()
        await wait_until(lambda: len(r.sink.copies) >= n, within=60 + n)
        await _all_released(r.proxy, n)
        books = await r.books("SIGKILL during a release", batch)
        books.notes.append(
            f"{in_flight} in the next hop's DATA at the kill ({landed} message copy landed "
            f"after it); {ended} lease(s) of the dead process ended by hand"
        )
        return books


async def _all_released(proxy: Proxy, n: int) -> None:
    for _ in range(300):
        rows = await quarantine_rows(proxy)
        if sum(h.state == "released" for h in rows) >= n:
            return
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def disk_full_possible() -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    return None


async def disk_full(workdir: Path, n: int) -> Books:
    """The data directory (SQLite quarantine) fills up until every message was tried twice."""
    data = workdir / "var"
    with small_disk(data, "16m"):
        async with rig(workdir, data_dir=data) as r:
            batch = letters(n)
            filler = fill(data)
            free = os.statvfs(data).f_bavail
            sending = asyncio.create_task(r.mta().send(batch))
            await wait_until(tried(batch, 2), within=60)
            during = {k: sum(x.final == "accepted" for x in batch if x.kind == k) for k in
                      ("clean", "held")}  # fmt: skip
            filler.unlink()
            await sending
            books = await r.books("disk full (data dir)", batch)
            books.notes.append(
                f"full ({free} blocks free): {during['clean']} clean accepted and delivered, "
                f"{during['held']} held accepted"
            )
            return books


SCENARIOS: dict[str, Scenario] = {
    "next_hop_down": next_hop_down,
    "slow_next_hop": slow_next_hop,
    "flapping_next_hop": flapping_next_hop,
    "quarantine_down": quarantine_down,
    "kill_during_data": kill_during_data,
    "kill_after_hold": kill_after_hold,
    "kill_during_release": kill_during_release,
    "disk_full": disk_full,
}
