"""Run the web app with uvicorn inside an existing event loop (the proxy's), and stop it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator, Sequence
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from dlp_proxy.config import HostPort
from dlp_proxy.errors import StartupError

log = logging.getLogger("dlp_proxy.web")


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the proxy owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class WebServer:
    """One uvicorn server as a task in the running loop; ``stop`` lets requests finish."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        forwarded_allow_ips: str | Sequence[str] | None = None,
        shutdown_grace: float = 10.0,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        trusted = [forwarded_allow_ips] if isinstance(forwarded_allow_ips, str) else None
        self.config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=trusted or list(forwarded_allow_ips or ()),
            timeout_graceful_shutdown=max(int(shutdown_grace), 1),
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
        )
        # Access lines would log link tokens (they are in URLs): none, whatever handlers
        # someone attaches to uvicorn's logger.
        logging.getLogger("uvicorn.access").disabled = True
        self._server = _Server(self.config)
        self._task: asyncio.Task[None] | None = None
        self._address: tuple[str, int] | None = None

    async def start(self, where: socket.socket | HostPort | tuple[str, int]) -> None:
        """Listen on ``where`` (a bound socket, or an address; port 0 picks one) and return
        once requests are being accepted."""
        sock = where if isinstance(where, socket.socket) else _bind(HostPort(*where))
        host, port = sock.getsockname()[:2]
        self._address = str(host), int(port)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what made it fail
                raise StartupError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        host, port = self.address
        log.info("web server listening", extra={"address": str(HostPort(host, port))})

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (or listened, once stopped)."""
        if self._address is None:
            raise RuntimeError("the web server is not started")
        return self._address

    @property
    def url(self) -> str:
        """http(s)://host:port of the listening socket (not the public URL)."""
        scheme = "https" if self.config.is_ssl else "http"
        return f"{scheme}://{HostPort(*self.address)}"

    async def stop(self) -> None:
        """Stop accepting, let running requests finish (up to the grace), then return."""
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await self._task
        finally:
            self._task = None


def _bind(address: HostPort) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        return socket.create_server((address.host, address.port), family=family)
    except OSError as exc:
        raise StartupError(f"cannot listen on {address}: {exc.strerror or exc}") from exc


async def serve_web(
    app: ASGIApp,
    where: socket.socket | HostPort | tuple[str, int],
    *,
    forwarded_allow_ips: str | Sequence[str] | None = None,
    shutdown_grace: float = 10.0,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> WebServer:
    """Start serving ``app`` in the current loop; ``await server.stop()`` to shut down.

    ``forwarded_allow_ips``: the reverse proxies whose X-Forwarded-For/-Proto are believed
    (addresses or networks; None believes nobody). ``tls_cert``/``tls_key``: PEM files to
    serve HTTPS directly. ``shutdown_grace``: seconds running requests get at ``stop``.
    """
    server = WebServer(
        app,
        forwarded_allow_ips=forwarded_allow_ips,
        shutdown_grace=shutdown_grace,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    await server.start(where)
    return server


@contextlib.asynccontextmanager
async def running(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[WebServer]:
    """For tests: the app on a free port of ``host``, in the test's loop; ``server.url``."""
    server = await serve_web(app, (host, 0), shutdown_grace=1.0)
    try:
        yield server
    finally:
        await server.stop()
