"""Shared fixtures: a recording SMTP sink on port 0, a dlp-proxy in the test's loop, real files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from dlp_proxy.config import Settings, load_settings
from dlp_proxy.scanner import Job, evaluate
from dlp_proxy.service import Proxy
from tests import legacycraft
from tests.builders import HEADER, PRODUCT_HEADER, customers, products, xlsx_bytes

pytest_plugins = ["tests.qstore"]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    content: bytes
    peer: Any


@dataclass
class SinkBehaviour:
    """How the sink misbehaves; tests flip these while it runs."""

    refuse: dict[str, str] = field(default_factory=dict)  # rcpt -> reply
    mail_reply: str | None = None
    data_reply: str | None = None
    data_delay: float = 0.0
    xforward: bool = False


class SinkHandler:
    def __init__(self, behaviour: SinkBehaviour) -> None:
        self.behaviour = behaviour
        self.messages: list[Received] = []
        self.connections = 0
        self.xforward: list[str] = []
        self.arrived = asyncio.Event()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        if self.behaviour.xforward:
            responses.insert(-1, "250-XFORWARD NAME ADDR PROTO HELO")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if self.behaviour.mail_reply:
            return self.behaviour.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if address in self.behaviour.refuse:
            return self.behaviour.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.behaviour.data_delay:
            await asyncio.sleep(self.behaviour.data_delay)
        if self.behaviour.data_reply:
            return self.behaviour.data_reply
        self.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                content=envelope.original_content,
                peer=session.peer,
            )
        )
        self.arrived.set()
        return "250 2.0.0 Ok: stored"


class RecordingSMTP(SMTP):
    async def smtp_XFORWARD(self, arg: str) -> None:
        self.event_handler.xforward.append(arg)
        await self.push("250 2.0.0 Ok")


class Sink:
    """A real aiosmtpd server on port 0 that records what it accepted."""

    def __init__(self, *, smtputf8: bool = True) -> None:
        self.smtputf8 = smtputf8
        self.behaviour = SinkBehaviour()
        self.handler = SinkHandler(self.behaviour)
        self.server: asyncio.Server | None = None
        self.protocols: list[SMTP] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        handler = self.handler

        def factory() -> SMTP:
            handler.connections += 1
            protocol = RecordingSMTP(
                handler,
                hostname="sink.test",
                enable_SMTPUTF8=self.smtputf8,
                data_size_limit=None,
                loop=loop,
            )
            self.protocols.append(protocol)
            return protocol

        self.server = await loop.create_server(factory, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def drop_connections(self) -> None:
        """Close every open connection from the server side, as a next hop's idle timer would."""
        for protocol in self.protocols:
            if protocol.transport is not None:
                protocol.transport.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    server = Sink()
    await server.start()
    yield server
    await server.stop()


ProxyFactory = Callable[..., Awaitable[Proxy]]


@pytest.fixture
async def start_proxy(tmp_path: Path) -> AsyncIterator[ProxyFactory]:
    """Start dlp-proxy in this loop on port 0; settings as keyword arguments."""
    started: list[Proxy] = []

    async def factory(*, job: Job = evaluate, **overrides: Any) -> Proxy:
        open_policy = tmp_path / "open-policy"
        open_policy.mkdir(exist_ok=True)
        (open_policy / "policy.yaml").write_text("rules: []\n")
        flags: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "policy_dir": open_policy,
            "data_dir": tmp_path / "var",
            "hostname": "proxy.test",
            "web_listen": "127.0.0.1:0",
            "scan_processes": 1,
            "scan_timeout": 10,
        }
        flags.update(overrides)
        settings = load_settings(environ={}, flags=flags)
        proxy = Proxy(settings, job=job)
        await proxy.start()
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        await proxy.stop(grace=1)


def settings_for(**flags: Any) -> Settings:
    return load_settings(environ={}, flags=flags)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def via_proxy(sink: Sink) -> str:
    return f"127.0.0.1:{sink.port}"


TOOLS = Path(__file__).parent / "tools"


OFFICE_FILTERS = {
    "xls": "MS Excel 97",
    "ods": "calc8",
    "pdf": "calc_pdf_Export",
}
OFFICE_PASSWORD = "Secret-2024"


# Where LibreOffice puts the last cell of a sheet far from the list (within each format's grid).
FAR_CELLS = {"ods": (1_048_000, 1_000), "xlsx": (1_048_000, 1_000), "xls": (65_000, 200)}
FAR_FILTERS = {"ods": "calc8", "xlsx": "Calc MS Excel 2007 XML", "xls": "MS Excel 97"}


@pytest.fixture(scope="session")
def office_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Files written by LibreOffice, one soffice start per session:

    - from an openpyxl customer list: xls, ods and a PDF print, each also saved with a
      password (RC4 CryptoAPI xls, encrypted ODF, a PDF that needs a password to open);
    - ``embedded-{people,products}.{odt,docx}``: a Writer document with a Calc object
      holding the customer list (or a product list, its harmless twin);
    - ``far-{people,products}.{ods,xlsx,xls}``: the list and one more cell far away (what
      LibreOffice writes as a million repeated empty rows in ODS);
    - ``far-formulas.xls``: six formulas in opposite corners of a 30,000 x 256 area;
    - ``legacy-{place}-{people,products}.doc``: a Writer letter with the list in the body
      (a table), the page header (a table), a cell of a layout table (a nested table), a
      footnote or a text box (tab-separated lines),
      or as a table 64 columns wide (``wide``: its row properties go to the Data stream),
      saved as Word 97 (``legacycraft.letter_fodt``); ``letter.doc`` without a list,
      ``encrypted.doc`` the body one with a password (RC4 CryptoAPI);
    - ``legacy-{people,products}.ppt``: a python-pptx presentation with the list as a table
      and speaker notes, saved as PowerPoint 97;
    - ``embedded-{people,products}.{doc,ppt}``: a Calc object in a Writer document saved as
      Word 97 (an ObjectPool storage) and on an Impress slide saved as PowerPoint 97.
    """
    directory = tmp_path_factory.mktemp("office")
    source = directory / "customers.xlsx"
    source.write_bytes(xlsx_bytes(customers(25)))
    outputs: list[list[str]] = []
    for kind, filter_name in OFFICE_FILTERS.items():
        outputs.append([str(directory / f"plain.{kind}"), filter_name, ""])
        outputs.append([str(directory / f"encrypted.{kind}"), filter_name, OFFICE_PASSWORD])
    batch: list[dict[str, Any]] = [{"source": str(source), "outputs": outputs}]
    made = [f"{stem}.{kind}" for kind in OFFICE_FILTERS for stem in ("plain", "encrypted")]
    tables = {
        "people": [list(HEADER), *map(list, customers(25))],
        "products": [list(PRODUCT_HEADER), *map(list, products(25))],
    }
    for label, rows in tables.items():
        batch.append(
            {
                "embedded": rows,
                "outputs": [
                    [str(directory / f"embedded-{label}.odt"), "writer8", ""],
                    [str(directory / f"embedded-{label}.docx"), "MS Word 2007 XML", ""],
                    [str(directory / f"embedded-{label}.doc"), "MS Word 97", ""],
                ],
            }
        )
        batch.append(
            {
                "embedded": rows,
                "into": "impress",
                "outputs": [[str(directory / f"embedded-{label}.ppt"), "MS PowerPoint 97", ""]],
            }
        )
        made += [f"embedded-{label}.{kind}" for kind in ("odt", "docx", "doc", "ppt")]
        for place in (*legacycraft.PLACES, "wide"):
            letter = directory / f"legacy-{place}-{label}.fodt"
            listed = legacycraft.widen(rows) if place == "wide" else rows
            letter.write_text(
                legacycraft.letter_fodt(listed, place="body" if place == "wide" else place),
                encoding="utf-8",
            )
            name = f"legacy-{place}-{label}.doc"
            outputs = [[str(directory / name), "MS Word 97", ""]]
            if (place, label) == ("body", "people"):
                outputs.append([str(directory / "encrypted.doc"), "MS Word 97", OFFICE_PASSWORD])
                made.append("encrypted.doc")
            batch.append({"source": str(letter), "outputs": outputs})
            made.append(name)
        deck = directory / f"legacy-{label}.pptx"
        deck.write_bytes(legacycraft.presentation(rows, notes=legacycraft.NOTES))
        batch.append(
            {
                "source": str(deck),
                "outputs": [[str(directory / f"legacy-{label}.ppt"), "MS PowerPoint 97", ""]],
            }
        )
        made.append(f"legacy-{label}.ppt")
        for kind, (row, column) in FAR_CELLS.items():
            cells = [[r, c, value] for r, line in enumerate(rows) for c, value in enumerate(line)]
            cells.append([row, column, "end"])
            name = f"far-{label}.{kind}"
            batch.append(
                {"cells": cells, "outputs": [[str(directory / name), FAR_FILTERS[kind], ""]]}
            )
            made.append(name)
    corners = [(0, 0), (0, 1), (1, 0), (1, 1), (29_999, 254), (29_999, 255)]
    batch.append(
        {
            "cells": [[r, c, "=ROW()*2"] for r, c in corners],
            "outputs": [[str(directory / "far-formulas.xls"), "MS Excel 97", ""]],
        }
    )
    made.append("far-formulas.xls")
    letter = directory / "letter.fodt"
    letter.write_text(legacycraft.letter_fodt(None), encoding="utf-8")
    batch.append(
        {"source": str(letter), "outputs": [[str(directory / "letter.doc"), "MS Word 97", ""]]}
    )
    made.append("letter.doc")
    spec = directory / "batch.json"
    spec.write_text(json.dumps(batch, ensure_ascii=False), encoding="utf-8")
    subprocess.run(
        ["/usr/bin/python3", str(TOOLS / "lo_convert.py"), "--batch", str(spec)],
        check=True,
        timeout=300,
    )
    files = {name: (directory / name).read_bytes() for name in made}
    files["plain.xlsx"] = source.read_bytes()
    return files
