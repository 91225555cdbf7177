"""One proxy process: scanner pool, next hop, SMTP listener, and a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
from typing import Any

from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from dlp_proxy import __version__, errors, metrics
from dlp_proxy.actions.notice_context import Person
from dlp_proxy.auditing import DecisionAudit
from dlp_proxy.config import Settings
from dlp_proxy.errors import StartupError
from dlp_proxy.notices import Notifier
from dlp_proxy.outbox import Outbox
from dlp_proxy.pipeline import Pipeline
from dlp_proxy.policy.errors import PolicyError
from dlp_proxy.policy.store import PolicyStore
from dlp_proxy.quarantine.from_settings import open_quarantine
from dlp_proxy.quarantine.records import HeldMessage
from dlp_proxy.quarantine.store import Quarantine
from dlp_proxy.relay import Delivery, NextHop
from dlp_proxy.release import QueueWorker
from dlp_proxy.scanner import Job, Scanner, evaluate
from dlp_proxy.server import Handler, ProxySMTP, tls_context
from dlp_proxy.web.app import create_app
from dlp_proxy.web.links import Links
from dlp_proxy.web.secret import load_secret
from dlp_proxy.web.serve import WebServer, serve_web

log = logging.getLogger("dlp_proxy.service")


class Proxy:
    """Everything one process runs; tests start it in their own event loop on port 0."""

    def __init__(self, settings: Settings, *, job: Job | None = None, web: bool = True) -> None:
        self.settings = settings
        self._serve_web = web
        self.web: WebServer | None = None
        self._job = job or functools.partial(evaluate, limits=settings.limits)
        self._server: asyncio.Server | None = None
        self._scanner: Scanner | None = None
        self._delivery: Delivery | None = None
        self._handler: Handler | None = None
        self.policies: PolicyStore | None = None
        self.quarantine: Quarantine | None = None
        self.queue: QueueWorker | None = None
        self.notifier: Notifier | None = None
        self.audit: DecisionAudit | None = None
        self._stopped = False
        self._tasks: set[asyncio.Task[bool]] = set()

    async def start(self, *, sock: socket.socket | None = None, reuse_port: bool = False) -> None:
        settings = self.settings
        context = tls_context(settings)
        try:
            self.policies = PolicyStore(settings.policy_dir)
        except PolicyError as exc:
            raise StartupError(f"policy in {settings.policy_dir} refused:\n{exc}") from exc
        self.policies.start_watching()
        try:
            self.quarantine = await open_quarantine(settings)
        except (errors.DlpProxyError, OSError) as exc:
            await self.stop(grace=0)
            raise StartupError(f"quarantine unavailable: {exc}") from exc
        self._scanner = Scanner(
            processes=settings.scanner_count,
            timeout=settings.scan_timeout,
            memory_limit=settings.scan_memory,
            job=self._job,
        )
        await self._scanner.start()
        if settings.next_hop is not None:
            self._delivery = NextHop(
                settings.next_hop,
                local_hostname=settings.hostname,
                timeout=settings.next_hop_timeout,
                max_idle=settings.next_hop_connections,
            )
        else:
            self._delivery = Outbox(settings.data_dir / "outbox")
        notifier = self.notifier = Notifier(
            self._delivery,
            hostname=settings.hostname,
            templates=settings.policy_dir / "templates",
        )
        self.queue = QueueWorker(
            settings,
            quarantine=self.quarantine,
            scanner=self._scanner,
            delivery=self._delivery,
            notifier=notifier,
            policies=self.policies,
        )
        pipeline = Pipeline(
            self._scanner,
            self.policies,
            notifier,
            self.quarantine,
            deadline=settings.inspection_deadline,
            on_held=self.queue.wake_notices,
        )
        self.queue.start()
        if self._serve_web:
            await self._start_web(notifier)
        self.audit = DecisionAudit(self.quarantine)
        self.audit.start()
        handler = self._handler = Handler(
            settings,
            delivery=self._delivery,
            pipeline=pipeline,
            policies=self.policies,
            audit=self.audit,
        )
        loop = asyncio.get_running_loop()

        def protocol() -> ProxySMTP:
            return ProxySMTP(
                handler,
                allow=settings.allow,
                hostname=settings.hostname,
                ident=f"ESMTP dlp-proxy {__version__}",
                data_size_limit=settings.max_size,
                enable_SMTPUTF8=True,
                decode_data=False,
                tls_context=context,
                timeout=settings.smtp_timeout,
                loop=loop,
            )

        try:
            if sock is not None:
                self._server = await loop.create_server(protocol, sock=sock, backlog=512)
            else:
                self._server = await loop.create_server(
                    protocol,
                    settings.listen.host,
                    settings.listen.port,
                    reuse_port=reuse_port or None,
                    backlog=512,
                )
        except OSError as exc:
            await self.stop(grace=0)
            raise StartupError(f"cannot listen on {settings.listen}: {exc.strerror}") from exc

    async def _start_web(self, notifier: Notifier) -> None:
        """The approval web UI in this event loop; links in notices point to it."""
        settings, policies, quarantine = self.settings, self.policies, self.quarantine
        assert policies is not None and quarantine is not None
        secret = load_secret(settings)
        notifier.links = Links(secret, settings.public_url)
        app = create_app(
            quarantine,
            secret=secret,
            public_url=settings.public_url,
            directory_lookup=lambda address: Person.lookup(address, policies.current.directory),
            on_decision=self._decided,
            default_language=policies.current.policy.config.default_language,
        )
        app.add_api_route("/metrics", self._metrics, include_in_schema=False)
        app.add_api_route("/readyz", self._ready, include_in_schema=False)
        self.web = await serve_web(
            app,
            settings.web_listen,
            shutdown_grace=min(settings.shutdown_grace, 10.0),
        )

    async def _metrics(self) -> Response:
        """Prometheus: this node's counters and histograms, and the shared queue by state."""
        counts: dict[str, int] | None = None
        if self.quarantine is not None:
            with contextlib.suppress(errors.DlpProxyError):
                counts = {str(k): v for k, v in (await self.quarantine.counts()).items()}
        return Response(metrics.exposition(counts), media_type=CONTENT_TYPE_LATEST)

    async def _ready(self) -> Response:
        """Ready when SMTP is listening, scanners run, the policy is loaded and the quarantine
        answers; a load balancer or orchestrator sends no mail to a node that is not."""
        checks = {
            "smtp": self._server is not None and self._server.is_serving() and not self._stopped,
            "scanners": self._scanner is not None and bool(self._scanner.pids()),
            "policy": self.policies is not None,
            "quarantine": False,
        }
        if self.quarantine is not None:
            try:
                async with asyncio.timeout(2):
                    await self.quarantine.counts()
                checks["quarantine"] = True
            except (TimeoutError, errors.DlpProxyError):
                pass
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    async def _decided(self, held: HeldMessage) -> None:
        """A decision made in the web UI: release approved mail, send notices, now."""
        if self.queue is not None:
            self.queue.wake()
            self.queue.wake_notices()

    def reload_policy(self) -> None:
        """SIGHUP: load the policy directory again now."""
        if self.policies is not None:
            task = asyncio.get_running_loop().create_task(self.policies.reload(cause="SIGHUP"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        name: tuple[Any, ...] = self._server.sockets[0].getsockname()
        return name[0], name[1]

    async def stop(self, grace: float) -> None:
        """Stop listening, let open transactions finish for up to ``grace`` seconds, then close."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.close()
        if self.web is not None:
            await self.web.stop()
        if self._handler is not None:
            await _drain(self._handler, grace)
        if self.queue is not None:
            await self.queue.stop()
        if self.audit is not None:
            await self.audit.stop()
        if self.policies is not None:
            await self.policies.stop_watching()
        if self._delivery is not None:
            await self._delivery.close()
        if self._scanner is not None:
            await self._scanner.close()
        if self.quarantine is not None:
            await self.quarantine.close()


async def _drain(handler: Handler, grace: float) -> None:
    """Close idle sessions with 421 now, busy ones when their transaction ends or at the end
    of the grace period."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while handler.sessions:
        for session in list(handler.sessions):
            if session.is_idle():
                session.close_for_shutdown()
        if loop.time() >= deadline:
            log.warning(
                "grace period over, closing sessions", extra={"sessions": len(handler.sessions)}
            )
            for session in list(handler.sessions):
                session.close_for_shutdown()
            break
        await asyncio.sleep(0.05)
    await handler.drain()


async def serve(
    settings: Settings,
    *,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
    web: bool = True,
) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    proxy = Proxy(settings, web=web)
    await proxy.start(sock=sock, reuse_port=reuse_port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, proxy.reload_policy)
    host, port = proxy.address
    log.info(
        "listening",
        extra={
            "address": f"{host}:{port}",
            "web": proxy.web.url if proxy.web is not None else None,
            "next_hop": str(settings.next_hop or "outbox"),
            "scanners": settings.scanner_count,
            "policy": proxy.policies.current.policy.version if proxy.policies else None,
        },
    )
    await stopping.wait()
    log.info("stopping", extra={"grace": settings.shutdown_grace})
    await proxy.stop(settings.shutdown_grace)
    log.info("stopped")
