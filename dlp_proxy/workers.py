"""Several SMTP worker processes on one port (SO_REUSEPORT), kept alive by a small supervisor."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from dlp_proxy import logs, metrics
from dlp_proxy.config import HostPort, Settings
from dlp_proxy.errors import StartupError
from dlp_proxy.service import serve

log = logging.getLogger("dlp_proxy.workers")

RESTART_BACKOFF = 1.0
QUICK_FAILURE = 10.0  # a worker that dies sooner than this after starting failed to start
MAX_QUICK_FAILURES = 3


def _worker_main(settings: Settings, index: int) -> None:
    logs.configure(settings.log_level)
    logging.getLogger().handlers[0].addFilter(_tag(index))
    try:
        # One web UI per node: worker 0 serves it (its sign-in limits are then per node).
        asyncio.run(serve(settings, reuse_port=True, web=index == 0))
    except StartupError as exc:
        log.error("worker cannot start", extra={"reason": str(exc)})
        raise SystemExit(1) from None


class _tag(logging.Filter):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True


def _reserve(address: HostPort) -> socket.socket:
    """Bind (without listening) so port 0 resolves once and every worker shares that port."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address.host, address.port))
    return sock


def run(settings: Settings) -> int:
    """Serve with ``settings.worker_count`` processes; returns the exit status."""
    count = settings.worker_count
    if count == 1:
        asyncio.run(serve(settings))
        return 0
    try:
        reserved = _reserve(settings.listen)
    except OSError as exc:
        raise StartupError(f"cannot listen on {settings.listen}: {exc.strerror}") from exc
    metrics.prepare_multiprocess(settings.data_dir / "metrics")
    with reserved:
        port = reserved.getsockname()[1]
        settings = settings.model_copy(update={"listen": HostPort(settings.listen.host, port)})
        return _supervise(settings, count)


def _supervise(settings: Settings, count: int) -> int:
    context = multiprocessing.get_context("spawn")
    stopping = False
    quick_failures = 0

    def start(index: int) -> tuple[BaseProcess, float]:
        process = context.Process(
            target=_worker_main, args=(settings, index), name=f"worker-{index}"
        )
        process.start()
        return process, time.monotonic()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in workers.values():
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        for process, _ in workers.values():
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGHUP)

    workers = {index: start(index) for index in range(count)}
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    log.info("supervisor started", extra={"workers": count, "address": f"{settings.listen}"})
    while not stopping:
        sentinels = {process.sentinel: index for index, (process, _) in workers.items()}
        for sentinel in multiprocessing.connection.wait(list(sentinels), timeout=0.5):
            if stopping:
                break
            index = sentinels[sentinel]  # type: ignore[index]
            process, started = workers[index]
            if time.monotonic() - started < QUICK_FAILURE:
                quick_failures += 1
            if quick_failures >= MAX_QUICK_FAILURES:
                log.error("workers keep failing at start, giving up")
                on_signal(signal.SIGTERM, None)
                break
            log.error(
                "worker exited, restarting",
                extra={"worker": index, "exitcode": process.exitcode},
            )
            time.sleep(RESTART_BACKOFF)
            workers[index] = start(index)
    deadline = time.monotonic() + settings.shutdown_grace + 15
    for process, _ in workers.values():
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("worker did not stop in time, killing", extra={"pid": process.pid})
            process.kill()
            process.join()
    log.info("supervisor stopped")
    return 1 if quick_failures >= MAX_QUICK_FAILURES else 0
