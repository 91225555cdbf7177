"""Process life: graceful shutdown, several workers on one port, clear start-up failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from tests import jobs
from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.test_relay import message, send


async def test_shutdown_lets_the_transaction_in_flight_finish(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.slow)
    address = proxy.address
    in_flight = asyncio.create_task(send(address, message()))
    await asyncio.sleep(0.5)  # DATA is being scanned now
    stopping = asyncio.create_task(proxy.stop(grace=10))
    await asyncio.sleep(0.2)
    with pytest.raises(OSError):
        await asyncio.open_connection(*address)  # no longer accepting
    errors, reply = await in_flight
    await stopping
    assert errors == {} and "queued as" in reply
    assert len(sink.messages) == 1


async def test_grace_period_over_closes_without_a_250(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.slow)
    in_flight = asyncio.create_task(send(proxy.address, message()))
    await asyncio.sleep(0.5)
    await proxy.stop(grace=0.3)
    with pytest.raises(aiosmtplib.SMTPException) as failure:
        await in_flight
    assert not isinstance(failure.value, aiosmtplib.SMTPRecipientsRefused)
    await asyncio.sleep(2)
    # The client holds no 250; what the next hop got must not count as accepted by us either:
    # it may only arrive if the scan had already finished, which the slow job prevents.
    assert sink.messages == []


async def test_idle_sessions_get_421_at_shutdown(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    reader, writer = await asyncio.open_connection(*proxy.address)
    assert (await reader.readline()).startswith(b"220 ")
    await proxy.stop(grace=5)
    assert (await reader.readline()).startswith(b"421 4.3.2")
    writer.close()


class ServeProcess:
    """`dlp-proxy serve` as a real child process, its JSON log read as it runs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = asyncio.create_task(self._read())
        self._changed = asyncio.Event()

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            text = line.decode(errors="replace").rstrip()
            self.raw.append(text)
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.append(json.loads(text))
            self._changed.set()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == name]

    async def wait_for(self, name: str, count: int = 1, within: float = 30) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            while len(self.events(name)) < count:
                if self.process.returncode is not None:
                    raise AssertionError("serve exited early:\n" + "\n".join(self.raw))
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.2)
        return self.events(name)

    async def exit_status(self, within: float = 30) -> int:
        async with asyncio.timeout(within):
            status = await self.process.wait()
            await self._reader
        return status


@contextlib.asynccontextmanager
async def serve(tmp_path: Path, *args: str) -> AsyncIterator[ServeProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLP_PROXY_")}
    open_policy = tmp_path / "open-policy"
    open_policy.mkdir(exist_ok=True)
    (open_policy / "policy.yaml").write_text("rules: []\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dlp_proxy",
        "serve",
        "--data-dir",
        str(tmp_path / "var"),
        "--policy-dir",
        str(open_policy),
        "--hostname",
        "proxy.test",
        "--web-listen",
        "127.0.0.1:0",
        "--scan-processes",
        "1",
        *args,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,  # its workers and scanners share its process group
    )
    child = ServeProcess(process)
    try:
        yield child
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def address_of(event: dict[str, Any]) -> tuple[str, int]:
    host, _, port = event["address"].rpartition(":")
    return host, int(port)


async def test_sigterm_with_a_transaction_in_flight(tmp_path: Path, sink: Sink) -> None:
    sink.behaviour.data_delay = 2  # the next hop is slow: the transaction stays open
    async with serve(tmp_path, "--listen", "127.0.0.1:0", "--next-hop", via_proxy(sink)) as child:
        (listening,) = await child.wait_for("listening")
        in_flight = asyncio.create_task(send(address_of(listening), message()))
        await asyncio.sleep(0.7)
        child.process.send_signal(signal.SIGTERM)
        errors, reply = await in_flight
        assert await child.exit_status() == 0
    assert errors == {} and "queued as" in reply
    assert len(sink.messages) == 1
    assert child.events("stopped")


async def test_several_workers_share_one_port(tmp_path: Path, sink: Sink) -> None:
    async with serve(
        tmp_path, "--listen", "127.0.0.1:0", "--next-hop", via_proxy(sink), "--workers", "2"
    ) as child:
        listening = await child.wait_for("listening", count=2)
        addresses = {event["address"] for event in listening}
        assert len(addresses) == 1, addresses
        assert {event["worker"] for event in listening} == {0, 1}
        address = address_of(listening[0])
        results = await asyncio.gather(*(send(address, message()) for _ in range(30)))
        assert all(errors == {} for errors, _ in results)
        logged = await child.wait_for("message", count=30)
        child.process.send_signal(signal.SIGINT)
        assert await child.exit_status() == 0
    assert len(sink.messages) == 30
    # The kernel spreads connections over both workers (all 30 on one: chance 2**-29).
    assert {line["worker"] for line in logged} == {0, 1}


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_address_in_use_is_a_clear_start_up_error(tmp_path: Path, workers: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        async with serve(tmp_path, "--listen", f"127.0.0.1:{port}", "--workers", workers) as child:
            assert await child.exit_status(within=60) == 1
    finally:
        taken.close()
    assert any("cannot listen on 127.0.0.1:" in line.get("reason", "") for line in child.lines)
    assert not any("Traceback" in line for line in child.raw)
