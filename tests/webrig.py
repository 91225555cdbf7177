"""Web UI test rig: a real store on SQLite, real held messages, the app on port 0, clients."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import compat32
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from argon2 import PasswordHasher

from dlp_proxy import scan
from dlp_proxy.actions.notice_context import MessageSummary, Person
from dlp_proxy.policy.load import LoadedPolicy, load_policy
from dlp_proxy.quarantine import HeldMessage, NewHold, Quarantine
from dlp_proxy.quarantine import users as passwords
from dlp_proxy.web.app import create_app
from dlp_proxy.web.links import LinkAction, Links
from dlp_proxy.web.ratelimit import Limits
from dlp_proxy.web.serve import WebServer, running
from dlp_proxy.web.summary import headers_of, make_summary
from tests.builders import customers, xlsx_bytes

ROOT = Path(__file__).resolve().parent.parent
INTERNAL = "dealer.example.jp"
ADMIN = "admin@dealer.example.jp"
MANAGER_A = "manager-a@dealer.example.jp"
MANAGER_B = "manager-b@dealer.example.jp"
DELEGATE_A = "delegate-a@dealer.example.jp"
SENDER_A = "sales-a@dealer.example.jp"
SENDER_B = "sales-b@dealer.example.jp"
PASSWORD = "correct horse battery staple"
PEOPLE = f"""\
people:
  - {{email: {SENDER_A}, name: 田中 一郎, managers: [{MANAGER_A}], delegates: [{DELEGATE_A}],
     language: ja}}
  - {{email: {SENDER_B}, name: Bob Baker, managers: [{MANAGER_B}], language: en}}
  - {{email: {MANAGER_A}, name: 佐藤 花子, language: ja}}
  - {{email: {MANAGER_B}, name: Mary Brown, language: en}}
"""
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def policy(tmp: Path) -> LoadedPolicy:
    """The shipped default policy, our domain internal, and a directory of people."""
    directory = tmp / "policies"
    directory.mkdir(exist_ok=True)
    shutil.copy(ROOT / "policies" / "default.yaml", directory / "default.yaml")
    (directory / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    (directory / "local.yaml").write_text(
        f"internal_domains: [{INTERNAL}]\ndirectory: people.yaml\n", encoding="utf-8"
    )
    return load_policy(directory)


def mail(sender: str, *, rows: int = 40, external: int = 12, subject: str = "") -> bytes:
    """A customer list to many visible external addresses: the incident the product is for."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(f"customer{i}@client{i % 3}.example.com" for i in range(external))
    msg["Cc"] = f"colleague@{INTERNAL}"
    msg["Subject"] = subject or "見積書と顧客リストの送付"
    msg["Date"] = "Fri, 01 Nov 2024 09:30:00 +0900"
    msg["Message-ID"] = f"<{os.urandom(6).hex()}@{INTERNAL}>"
    msg.set_content("お世話になっております。資料を添付いたします。")
    table = xlsx_bytes(customers(rows))
    msg.add_attachment(
        table,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename="顧客リスト.xlsx",
    )
    return msg.as_bytes()


def hold_request(
    raw: bytes,
    loaded: LoadedPolicy,
    *,
    id: str,
    expires_in: timedelta = timedelta(hours=72),
    received_at: datetime | None = None,
) -> NewHold:
    """What the pipeline hands the store for a held message, made by the real scanner."""
    scanned = scan.scan_message(raw, id, policy=loaded)
    assert scanned.decision is not None and scanned.decision.action == "hold", scanned.decision
    envelope = scan.envelope_of(raw, loaded)
    parsed: Message = message_from_bytes(raw, policy=compat32)
    sender = envelope.mail_from
    entry = loaded.directory.lookup(sender)
    approvers = tuple((entry.managers + entry.delegates) if entry else ())
    summary = make_summary(
        MessageSummary.of(
            parsed,
            queue_id=id,
            sender=Person.lookup(sender, loaded.directory),
            envelope_to=envelope.rcpt_tos,
            internal=loaded.policy.internal,
            attachments=scanned.attachments,
        ),
        scanned.decision,
        headers=headers_of(parsed),
    )
    return NewHold(
        id=id,
        sender=sender,
        recipients=envelope.rcpt_tos,
        mail_options=(),
        client={"addr": "192.0.2.10", "name": "mta.dealer.example.jp"},
        subject=summary["headers"]["subject"],
        summary=summary,
        policy_version=scanned.decision.policy_version,
        approvers=approvers,
        expires_at=datetime.now(UTC) + expires_in,
        content=raw,
        received_at=received_at,
    )


@dataclass
class Rig:
    """A store with users and held mail, and the web app serving it on port 0."""

    store: Quarantine
    loaded: LoadedPolicy
    secret: bytes
    server: WebServer
    decisions: list[HeldMessage] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def links(self) -> Links:
        return Links(self.secret, self.url)

    def link(
        self,
        message_id: str,
        actor: str,
        action: LinkAction = "approve",
        *,
        expires_in: timedelta = timedelta(hours=1),
    ) -> str:
        return self.links().url(
            message_id=message_id,
            approver=actor,
            action=action,
            expires_at=datetime.now(UTC) + expires_in,
        )

    async def hold(self, sender: str, id: str, **options: Any) -> HeldMessage:
        mail_options = {k: options.pop(k) for k in ("rows", "external", "subject") if k in options}
        return await self.store.hold(
            hold_request(mail(sender, **mail_options), self.loaded, id=id, **options)
        )

    async def state(self, message_id: str) -> str:
        held = await self.store.get(message_id)
        assert held is not None
        return held.state

    def client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, **options)

    async def signed_in(self, email: str, password: str = PASSWORD) -> Browser:
        browser = Browser(self.client())
        response = await browser.sign_in(email, password)
        assert response.status_code == 303, response.text
        return browser


@dataclass
class Browser:
    """A client that keeps cookies and submits forms with the page's CSRF token."""

    http: httpx.AsyncClient
    csrf: str = ""

    async def get(self, path: str, **options: Any) -> httpx.Response:
        response = await self.http.get(path, **options)
        found = CSRF_FIELD.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        form = {"csrf": self.csrf, **(data or {})}
        return await self.http.post(path, data=form)

    async def sign_in(self, email: str, password: str) -> httpx.Response:
        await self.get("/login")
        return await self.post("/login", {"email": email, "password": password, "next": "/"})

    async def aclose(self) -> None:
        await self.http.aclose()


async def add_users(store: Quarantine) -> None:
    await store.add_user(ADMIN, password=PASSWORD, role="admin", language="en")
    await store.add_user(MANAGER_A, password=PASSWORD, role="approver", language="ja")
    await store.add_user(MANAGER_B, password=PASSWORD, role="approver", language="en")
    await store.add_user(DELEGATE_A, password=PASSWORD, role="approver")


@asynccontextmanager
async def rig(
    tmp: Path,
    *,
    public_url: str | None = None,
    limits: Limits | None = None,
    held: Sequence[tuple[str, str]] = (),
    db_timeout: float = 10.0,
) -> AsyncIterator[Rig]:
    """The app over a fresh SQLite store; ``held``: (sender, id) messages to hold first.

    Passwords are hashed with real argon2id at small costs (as tests/qstore.py's
    ``fast_argon2``): these tests sign in dozens of times; the production costs are checked in
    tests/test_quarantine_users.py.
    """
    with mock.patch.object(passwords, "_hasher", FAST_HASHER):
        async with _rig(tmp, public_url, limits, held, db_timeout) as ready:
            yield ready


@asynccontextmanager
async def _rig(
    tmp: Path,
    public_url: str | None,
    limits: Limits | None,
    held: Sequence[tuple[str, str]],
    db_timeout: float,
) -> AsyncIterator[Rig]:
    loaded = policy(tmp)
    store = await Quarantine.open(
        f"sqlite+aiosqlite:///{tmp / 'quarantine.db'}", key=os.urandom(32), db_timeout=db_timeout
    )
    try:
        await add_users(store)
        secret = os.urandom(32)
        decisions: list[HeldMessage] = []

        async def on_decision(message: HeldMessage) -> None:
            decisions.append(message)

        app = create_app(
            store,
            secret=secret,
            public_url=public_url or "http://127.0.0.1",
            directory_lookup=lambda address: Person.lookup(address, loaded.directory),
            on_decision=on_decision,
            limits=limits,
        )
        async with running(app) as server:
            ready = Rig(store, loaded, secret, server, decisions)
            for sender, id in held:
                await ready.hold(sender, id)
            yield ready
    finally:
        await store.close()
