"""The development next hop: each delivered message becomes an .eml file under the data dir."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from dlp_proxy import errors
from dlp_proxy.envelope import Client


def write_durably(path: Path, content: bytes) -> None:
    """Write ``content`` so that it survives a crash once this returns (fsync file and dir)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise errors.LocalStorageFailed(f"{path.parent}: {exc.strerror or exc}") from exc


class Outbox:
    """Accepts every recipient; writes the message with Return-Path and X-Original-To headers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def begin(self, sender: str, options: Sequence[str], client: Client) -> OutboxTransaction:
        del options, client
        return OutboxTransaction(self.directory, sender)

    async def close(self) -> None:
        return None


class OutboxTransaction:
    def __init__(self, directory: Path, sender: str) -> None:
        self._directory = directory
        self._sender = sender
        self._recipients: list[str] = []

    async def rcpt(self, address: str, options: Sequence[str] = ()) -> None:
        del options
        self._recipients.append(address)

    async def data(self, raw: bytes) -> str:
        def encode(address: str) -> bytes:
            return address.encode("utf-8", "surrogateescape")

        trace = (
            b"Return-Path: <"
            + encode(self._sender)
            + b">\r\n"
            + b"".join(b"X-Original-To: " + encode(rcpt) + b"\r\n" for rcpt in self._recipients)
        )
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}.eml"
        path = self._directory / name

        def store() -> None:
            try:
                self._directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise errors.LocalStorageFailed(f"{self._directory}: {exc.strerror}") from exc
            write_durably(path, trace + raw)

        await asyncio.to_thread(store)
        return f"written to {path}"

    async def abort(self) -> None:
        self._recipients.clear()
