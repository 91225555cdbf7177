"""Serving the app in the caller's event loop: start on port 0, stop gracefully."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request

from dlp_proxy.config import HostPort
from dlp_proxy.errors import StartupError
from dlp_proxy.web.serve import running, serve_web
from tests.certs import common_name, self_signed


def _app(entered: asyncio.Event | None = None, release: asyncio.Event | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        if entered is not None and release is not None:
            entered.set()
            await release.wait()
        return {"done": "yes"}

    @app.get("/client")
    async def client(request: Request) -> dict[str, str]:
        return {"host": request.client.host if request.client else "", "scheme": request.url.scheme}

    return app


async def test_start_on_port_zero_and_stop() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    server = await serve_web(_app(), HostPort("127.0.0.1", 0))
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{server.url}/client")).json()["host"] == "127.0.0.1"
        # The proxy owns the signals: uvicorn did not take them.
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{server.url}/client")
    await server.stop()  # twice is harmless


async def test_stop_lets_a_running_request_finish() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    server = await serve_web(_app(entered, release), ("127.0.0.1", 0), shutdown_grace=5)
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(f"{server.url}/slow"))
        await entered.wait()
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.3)
        assert not stopping.done()  # waiting for the request in flight
        release.set()
        response = await request
        await stopping
    assert response.status_code == 200 and response.json() == {"done": "yes"}


async def test_a_taken_port_is_a_startup_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve_web(_app(), ("127.0.0.1", port))


async def test_a_socket_from_the_caller() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await serve_web(_app(), sock)
    try:
        assert server.address == ("127.0.0.1", port)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/client")).status_code == 200
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("trusted", "expected"), [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.7")]
)
async def test_forwarded_headers_only_from_a_trusted_proxy(
    trusted: str | None, expected: str
) -> None:
    server = await serve_web(_app(), ("127.0.0.1", 0), forwarded_allow_ips=trusted)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{server.url}/client",
                headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
            )
        assert response.json()["host"] == expected
        assert response.json()["scheme"] == ("https" if trusted else "http")
    finally:
        await server.stop()


async def test_the_test_helper() -> None:
    async with running(_app()) as server:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{server.url}/client")).status_code == 200
        url = server.url
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/client")


async def test_https_directly(tmp_path: Path) -> None:
    key, certificate = self_signed(common_name("dlp.dealer.example.jp"))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = await serve_web(_app(), ("127.0.0.1", 0), tls_cert=cert_file, tls_key=key_file)
    try:
        assert server.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert_file))
        trust.check_hostname = False
        async with httpx.AsyncClient(verify=trust) as client:
            response = await client.get(f"{server.url}/client")
        assert response.json()["scheme"] == "https"
        async with httpx.AsyncClient() as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(server.url.replace("https://", "http://") + "/client")
    finally:
        await server.stop()
    with pytest.raises(ValueError, match="together"):
        await serve_web(_app(), ("127.0.0.1", 0), tls_cert=cert_file)
