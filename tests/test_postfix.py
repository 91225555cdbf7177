"""Real Postfix in front of dlp-proxy: content_filter → proxy → reinjection → the final hop."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from email import message_from_bytes
from email.message import Message
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from dlp_proxy import replies
from dlp_proxy.policy.load import load_policy
from tests import builders
from tests.builders import customers, xlsx_bytes
from tests.conftest import Received, Sink
from tests.postfix import Ports, Postfix, free_ports, unavailable
from tests.test_service import ServeProcess

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

REPO = Path(__file__).resolve().parent.parent
INTERNAL = "example.jp"
SENDER = f"sales@{INTERNAL}"
COLLEAGUE = f"manager@{INTERNAL}"
CUSTOMER = "customer@example.com"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NULL_SENDER = "<>"  # MAIL FROM:<> as the sink records it
# The user's client: another loopback address than Postfix's own, so that the proxy and the
# reinjecting Postfix can only know it through XFORWARD.
CLIENT_ADDR = "127.0.0.2"
CLIENT_HELO = "pc-042.branch.example.jp"


class ProxyProcess:
    """`python -m dlp_proxy serve` as a real child process, stopped and started on one port."""

    def __init__(
        self,
        *,
        port: int,
        next_hop: int,
        policy_dir: Path,
        data_dir: Path,
        flags: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.args = [
            "--listen",
            f"127.0.0.1:{port}",
            "--next-hop",
            f"127.0.0.1:{next_hop}",
            "--policy-dir",
            str(policy_dir),
            "--data-dir",
            str(data_dir),
            "--hostname",
            "proxy.test",
            "--scan-processes",
            "1",
            "--web-listen",
            "127.0.0.1:0",
            *flags,
        ]
        self.runs: list[ServeProcess] = []

    @property
    def running(self) -> bool:
        return bool(self.runs) and self.runs[-1].process.returncode is None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DLP_PROXY_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dlp_proxy",
            "serve",
            *self.args,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        child = ServeProcess(process)
        self.runs.append(child)
        await child.wait_for("listening")

    async def stop(self) -> None:
        child = self.runs[-1]
        child.process.send_signal(signal.SIGTERM)
        assert await child.exit_status() == 0, "\n".join(child.raw)

    def kill(self) -> None:
        for child in self.runs:
            if child.process.returncode is None:
                child.process.kill()

    def messages(self) -> list[dict[str, Any]]:
        """The proxy's one log line per message, over every run."""
        return [line for child in self.runs for line in child.events("message")]

    def log(self) -> str:
        return "\n".join(line for child in self.runs for line in child.raw)


class Chain:
    """Client → Postfix (submission) → dlp-proxy → Postfix (reinjection) → sink."""

    def __init__(self, postfix: Postfix, proxy: ProxyProcess, sink: Sink) -> None:
        self.postfix = postfix
        self.proxy = proxy
        self.sink = sink

    async def send(
        self,
        raw: bytes,
        *,
        rcpts: Sequence[str],
        sender: str = SENDER,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> str:
        """Send through Postfix's own listener; returns Postfix's queue ID for the message."""
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=self.postfix.ports.submission,
            local_hostname=CLIENT_HELO,
            source_address=(CLIENT_ADDR, 0),
            start_tls=False,
            timeout=30,
        )
        await client.connect()
        try:
            refused, reply = await client.sendmail(
                sender,
                list(rcpts),
                raw,
                mail_options=list(mail_options),
                rcpt_options=list(rcpt_options),
            )
        finally:
            client.close()
        assert refused == {}, refused
        queued = re.fullmatch(r"2\.0\.0 Ok: queued as (\w+)", reply)
        assert queued is not None, reply
        return queued.group(1)

    async def wait_for_sink(self, count: int, *, within: float = 30) -> list[Received]:
        async def arrived() -> list[Received]:
            return self.sink.messages if len(self.sink.messages) >= count else []

        return await self.postfix.wait_for(
            arrived, what=f"{count} message(s) at the sink", within=within
        )

    async def wait_for_proxy(self, count: int, *, within: float = 30) -> list[dict[str, Any]]:
        async def logged() -> list[dict[str, Any]]:
            lines = self.proxy.messages()
            return lines if len(lines) >= count else []

        return await self.postfix.wait_for(
            logged, what=f"{count} message line(s) from dlp-proxy", within=within
        )

    def to(self, address: str) -> list[Received]:
        return [m for m in self.sink.messages if address in m.rcpt_tos]


ChainFactory = Callable[..., Awaitable[Chain]]


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """The shipped default policy plus a local.yaml naming the test's own domain."""
    directory = tmp_path / "policies"
    directory.mkdir()
    shutil.copy(REPO / "policies" / "default.yaml", directory / "default.yaml")
    (directory / "local.yaml").write_text(f"internal_domains: [{INTERNAL}]\n")
    return directory


@pytest.fixture
async def mail_chain(tmp_path: Path, sink: Sink, policy_dir: Path) -> AsyncIterator[ChainFactory]:
    """Start the whole chain; ``reinjection_overrides`` adds -o options to the reinjection,
    ``main_overrides`` lines to main.cf, ``proxy_flags`` flags to dlp-proxy; ``relay_to``
    replaces the sink as the final hop (another Postfix, say)."""
    started: list[tuple[Postfix, ProxyProcess]] = []

    async def factory(
        *,
        reinjection_overrides: Sequence[str] = (),
        main_overrides: Sequence[str] = (),
        proxy_flags: Sequence[str] = (),
        relay_to: int | None = None,
    ) -> Chain:
        submission, proxy_port, reinjection = free_ports(3)
        ports = Ports(submission, proxy_port, reinjection, sink=relay_to or sink.port)
        proxy = ProxyProcess(
            port=ports.filter,
            next_hop=ports.reinjection,
            policy_dir=policy_dir,
            data_dir=tmp_path / "var",
            flags=proxy_flags,
        )
        postfix = Postfix(
            ports,
            domain=INTERNAL,
            reinjection_overrides=reinjection_overrides,
            main_overrides=main_overrides,
        )
        started.append((postfix, proxy))
        await asyncio.gather(proxy.start(), postfix.start())
        return Chain(postfix, proxy, sink)

    yield factory
    for postfix, proxy in started:
        # Shown by pytest only when the test failed.
        print(postfix.report("Postfix at teardown"), "\n--- dlp-proxy log:\n" + proxy.log())
        stopping = [postfix.stop()] + ([proxy.stop()] if proxy.running else [])
        try:
            await asyncio.gather(*stopping)
        finally:
            proxy.kill()


@pytest.fixture
async def chain(mail_chain: ChainFactory) -> Chain:
    return await mail_chain()


def message(
    *,
    to: Sequence[str] = (CUSTOMER,),
    body: bytes = b"Hello.\r\n",
    head: bytes = b"",
) -> bytes:
    """A hand-written message (bytes as they go on the wire) from the sender."""
    fields = (
        f"From: {SENDER}\r\nTo: {', '.join(to)}\r\nSubject: test\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {make_msgid(domain=INTERNAL)}\r\n"
    )
    return fields.encode() + head + b"\r\n" + body


def with_customer_list(rows: int, *, to: str = CUSTOMER) -> bytes:
    """A message from the sender to ``to`` with an xlsx of ``rows`` synthetic customers."""
    built = builders.message(
        body="資料をお送りします。\n",
        attachments=[(xlsx_bytes(customers(rows)), XLSX, "顧客リスト.xlsx")],
    )
    built.replace_header("From", SENDER)
    built.replace_header("To", to)
    built["Date"] = formatdate()
    built["Message-ID"] = make_msgid(domain=INTERNAL)
    return built.as_bytes(policy=SMTP)


def headers_before(content: bytes, sent: bytes) -> list[bytes]:
    """The header fields prepended on the way: content must end with exactly what was sent."""
    assert content.endswith(sent), content[:2000]
    prepended = content[: len(content) - len(sent)]
    fields: list[bytes] = []
    for line in prepended.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def diagnostic_codes(dsn: bytes) -> list[str]:
    """Diagnostic-Code of each recipient in a delivery status notification, unfolded."""
    parsed = message_from_bytes(dsn)
    assert parsed.get_content_type() == "multipart/report", parsed.get_content_type()
    codes = []
    for part in parsed.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            assert isinstance(blocks, list)
            for block in blocks:
                assert isinstance(block, Message)
                code = block.get("Diagnostic-Code")
                if code is not None:
                    codes.append(" ".join(str(code).split()))
    return codes


# -- tests -------------------------------------------------------------------------------


async def test_clean_mail_passes_through_the_proxy_byte_exact(chain: Chain) -> None:
    body = (
        "お世話になっております。見積書の件です。\r\n"
        ".a line that starts with a dot\r\n"
        "..two dots\r\n"
        "trailing spaces   \r\n"
    ).encode()
    sent = message(to=(COLLEAGUE, CUSTOMER), body=body, head=b"Content-Transfer-Encoding: 8bit\r\n")
    await chain.send(sent, rcpts=(COLLEAGUE, CUSTOMER))

    (delivered,) = await chain.wait_for_sink(1)
    await chain.postfix.wait_for_empty_queue()
    assert delivered.mail_from == SENDER
    assert sorted(delivered.rcpt_tos) == sorted((COLLEAGUE, CUSTOMER))
    # Only trace fields came on top: the reinjecting Postfix, dlp-proxy, the receiving Postfix.
    fields = headers_before(delivered.content, sent)
    assert [f.split(b":")[0] for f in fields] == [b"Received"] * 3, fields
    reinjection, proxy, submission = fields
    assert b"by mta.example.jp (Postfix)" in reinjection
    assert b"(dlp-proxy)" in proxy and b"by proxy.test" in proxy
    assert f"from {CLIENT_HELO} (unknown [{CLIENT_ADDR}])".encode() in submission

    (logged,) = chain.proxy.messages()
    assert logged["decision"] == "pass" and logged["reply"] == "250"
    # XFORWARD: the proxy logs the user's client, and Postfix as the one that passed it on...
    assert logged["client"] == CLIENT_ADDR and logged["client_helo"] == CLIENT_HELO
    assert logged["via"] == "127.0.0.1"
    # ...and passes it on, so the reinjecting Postfix logs it as well.
    assert f"client=unknown[127.0.0.1], orig_client=unknown[{CLIENT_ADDR}]" in chain.postfix.log()
    assert logged["recipients"] == 2


async def test_recipients_of_one_message_reach_the_proxy_in_one_transaction(chain: Chain) -> None:
    # More than Postfix's default of 50 recipients per delivery: deploy/postfix/main.cf lifts it
    # so that the policy counts every recipient of the message at once.
    rcpts = [f"user{n:02}@{INTERNAL}" for n in range(60)] + [CUSTOMER]
    await chain.send(message(to=(CUSTOMER,)), rcpts=rcpts)

    await chain.postfix.wait_for_empty_queue()
    # The final hop takes them in deliveries of 50, as Postfix does for any destination.
    assert sorted(r for m in chain.sink.messages for r in m.rcpt_tos) == sorted(rcpts)
    (logged,) = chain.proxy.messages()
    assert logged["recipients"] == len(rcpts)


async def test_internationalised_addresses_pass_with_smtputf8(chain: Chain) -> None:
    sender = f"営業部@{INTERNAL}"
    sent = (
        f"From: {sender}\r\nTo: {CUSTOMER}\r\nSubject: 見積書\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {make_msgid(domain=INTERNAL)}\r\n"
        "\r\nお世話になっております。\r\n"
    ).encode()
    await chain.send(sent, sender=sender, rcpts=(CUSTOMER,), mail_options=("SMTPUTF8",))

    (delivered,) = await chain.wait_for_sink(1)
    await chain.postfix.wait_for_empty_queue()
    assert delivered.mail_from == sender and "SMTPUTF8" in delivered.mail_options
    assert len(headers_before(delivered.content, sent)) == 3
    (logged,) = chain.proxy.messages()
    assert logged["decision"] == "pass" and logged["sender"] == sender


async def test_blocked_mail_bounces_to_the_sender_with_the_rules_reason(
    chain: Chain, policy_dir: Path
) -> None:
    await chain.send(with_customer_list(2000), rcpts=(CUSTOMER,))

    # Two mails for the sender: Postfix's bounce and the proxy's own notice.
    await chain.wait_for_sink(2)
    await chain.postfix.wait_for_empty_queue()
    (logged,) = chain.proxy.messages()  # the bounce itself is not filtered again
    assert logged["decision"] == "block" and logged["reply"] == "550"
    assert chain.to(CUSTOMER) == []

    # Both come from the null sender: the bounce is a DSN, the notice is marked as one.
    assert {m.mail_from for m in chain.sink.messages} == {NULL_SENDER}
    assert all(m.rcpt_tos == [SENDER] for m in chain.sink.messages)
    (dsn,) = [m for m in chain.sink.messages if b"\r\nX-DLP-Notice: " not in m.content]
    notices = [m for m in chain.sink.messages if b"\r\nX-DLP-Notice: blocked\r\n" in m.content]
    assert len(notices) == 1
    # The DSN carries the proxy's reply: the blocking rule's name and its English reason.
    policy = load_policy(policy_dir).policy
    (rule,) = [r for r in policy.rules if r.name in logged["rules"] and "block" in r.actions]
    assert diagnostic_codes(dsn.content) == ["smtp; " + replies.blocked(rule.name, rule.reason.en)]
    log = chain.postfix.log()
    assert f"to=<{CUSTOMER}>, relay=127.0.0.1[127.0.0.1]:{chain.proxy.port}" in log
    assert "status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.7.1 Blocked by policy" in log


async def test_held_mail_leaves_postfix_and_waits_in_the_proxy(chain: Chain) -> None:
    await chain.send(with_customer_list(5), rcpts=(CUSTOMER,))

    (logged,) = await chain.wait_for_proxy(1)
    assert logged["decision"] == "hold", logged
    assert logged["reply"] == "250", logged
    await chain.postfix.wait_for_empty_queue()
    assert chain.to(CUSTOMER) == []


async def test_proxy_down_postfix_defers_and_delivers_once_it_is_back(chain: Chain) -> None:
    await chain.proxy.stop()
    sent = message(to=(CUSTOMER,))
    await chain.send(sent, rcpts=(CUSTOMER,))

    (entry,) = await chain.postfix.wait_for_deferred()
    (recipient,) = entry["recipients"]
    assert (
        f"connect to 127.0.0.1[127.0.0.1]:{chain.proxy.port}: Connection refused"
        in recipient["delay_reason"]
    )
    assert chain.sink.messages == []

    await chain.proxy.start()
    await chain.postfix.flush()
    (delivered,) = await chain.wait_for_sink(1)
    await chain.postfix.wait_for_empty_queue()
    assert delivered.content.endswith(sent)
    assert delivered.rcpt_tos == [CUSTOMER]
    # Exactly once: the queue is empty, so nothing is left that could arrive a second time.
    assert len(chain.sink.messages) == 1
    assert [line["reply"] for line in chain.proxy.messages()] == ["250"]


async def test_recipient_refused_after_the_proxy_bounces_alone(mail_chain: ChainFactory) -> None:
    nobody = "nobody@example.com"
    chain = await mail_chain(
        reinjection_overrides=[
            "{ smtpd_recipient_restrictions = check_recipient_access "
            f"inline:{{ {{ {nobody} = 550 5.1.1 <{nobody}>: Recipient unknown }} }}, "
            "permit_mynetworks, reject }"
        ]
    )
    sent = message(to=(CUSTOMER, nobody))
    await chain.send(sent, rcpts=(CUSTOMER, nobody))

    await chain.wait_for_sink(2)
    await chain.postfix.wait_for_empty_queue()
    log = chain.postfix.log()
    (delivered,) = chain.to(CUSTOMER)
    assert delivered.rcpt_tos == [CUSTOMER]
    assert delivered.content.endswith(sent)
    (dsn,) = chain.to(SENDER)
    assert dsn.mail_from == NULL_SENDER
    # The proxy gave Postfix the reinjection's own refusal, code and text unchanged.
    refusals = re.findall(r"reinject/smtpd\[\d+\]: \w+: reject: RCPT from \S+: ([^;]+);", log)
    assert len(refusals) == 1, log
    refusal = refusals[0]
    assert refusal.startswith(f"550 5.1.1 <{nobody}>: ")
    assert diagnostic_codes(dsn.content) == [f"smtp; {refusal}"]
    assert f"to=<{nobody}>, relay=127.0.0.1[127.0.0.1]:{chain.proxy.port}" in log
    assert "status=bounced" in log and "(in reply to RCPT TO command)" in log
    (logged,) = chain.proxy.messages()
    assert logged["recipients"] == 1 and logged["reply"] == "250"


async def test_delivery_status_requests_pass_the_proxy(chain: Chain) -> None:
    queue_id = await chain.send(
        message(),
        rcpts=(CUSTOMER,),
        mail_options=("RET=HDRS", "ENVID=dlp-test-1"),
        rcpt_options=("NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{CUSTOMER}"),
    )

    # The message, and a success notice from the hop that could not carry the request further.
    await chain.wait_for_sink(2)
    await chain.postfix.wait_for_empty_queue()
    # That hop must be the final one (here the sink, which has no DSN), never the proxy: a
    # notice at the proxy says "relayed" before the message was even inspected, and a request
    # for no notices at all (NOTIFY=NEVER) is lost there.
    log = chain.postfix.log()
    assert f"{queue_id}: sender delivery status notification" not in log, log


# Addresses that look internal but that Postfix, delivering for the internal domain, sends on
# to ext.example: allow_percent_hack, swap_bangpath, resolve_dequoted_address (all default yes).
ROUTED = {
    f"x%ext.example@{INTERNAL}": "x@ext.example",
    f"ext.example!y@{INTERNAL}": "y@ext.example",
    f'"z@ext.example"@{INTERNAL}': "z@ext.example",
}
HOSTS_INTERNAL = [f"mydestination = {INTERNAL}"]


async def test_routed_addresses_leave_through_postfix_and_the_proxy_holds_what_they_carry(
    mail_chain: ChainFactory,
) -> None:
    """The filter hop hands the proxy each address as written; the reinjecting Postfix, which
    delivers for the internal domain, resolves it to ext.example. The proxy must count it as
    external: a customer list is held, not passed as internal mail."""
    chain = await mail_chain(main_overrides=HOSTS_INTERNAL)
    for routed in ROUTED:
        await chain.send(message(to=(routed,)), rcpts=(routed,))
    delivered = await chain.wait_for_sink(len(ROUTED))
    await chain.postfix.wait_for_empty_queue()
    assert sorted(r for m in delivered for r in m.rcpt_tos) == sorted(ROUTED.values())
    log = chain.postfix.log()
    for routed, reached in ROUTED.items():
        assert f"to=<{routed}>, relay=127.0.0.1[127.0.0.1]:{chain.proxy.port}" in log
        assert f"to=<{reached}>, orig_to=<{routed}>, relay=127.0.0.1" in log

    for routed in ROUTED:
        await chain.send(with_customer_list(5, to=routed), rcpts=(routed,))
    logged = await chain.wait_for_proxy(2 * len(ROUTED))
    assert [line["decision"] for line in logged] == ["pass"] * 3 + ["hold"] * 3, logged
    assert all(line["reply"] == "250" for line in logged)
    assert all(line["rules"] == ["personal-data-to-external"] for line in logged[3:])
    await chain.postfix.wait_for_empty_queue()
    assert len(chain.sink.messages) == len(ROUTED)


async def test_routed_addresses_refused_by_the_proxy_bounce_with_553(
    mail_chain: ChainFactory,
) -> None:
    chain = await mail_chain(proxy_flags=["--refuse-routed-recipients"])
    routed = next(iter(ROUTED))
    await chain.send(message(to=(routed,)), rcpts=(routed,))

    (dsn,) = await chain.wait_for_sink(1)
    await chain.postfix.wait_for_empty_queue()
    assert dsn.rcpt_tos == [SENDER] and dsn.mail_from == NULL_SENDER
    assert diagnostic_codes(dsn.content) == [f"smtp; {replies.ROUTED_RECIPIENT}"]
    assert chain.proxy.messages() == []  # refused at RCPT: no message to inspect
    assert "(in reply to RCPT TO command)" in chain.postfix.log()


async def test_postfix_delivery_reports_pass_the_proxy_and_a_returned_list_is_held(
    mail_chain: ChainFactory,
) -> None:
    """Real reports: Postfix bounces two messages whose recipient the reinjection refuses, one
    with RET=HDRS (text/rfc822-headers), one with RET=FULL (the message and its customer list
    as message/rfc822). Sent on to an outside address through the proxy, the first passes
    (it used to be called corrupt and held); the second is held for the list it returns."""
    nobody = f"nobody@{INTERNAL}"
    chain = await mail_chain(
        reinjection_overrides=[
            "{ smtpd_recipient_restrictions = check_recipient_access "
            f"inline:{{ {{ {nobody} = 550 5.1.1 <{nobody}>: Recipient unknown }} }}, "
            "permit_mynetworks, reject }"
        ]
    )
    # A multipart message: its returned header fields hold a Content-Type with a boundary and
    # no body, which made the report's text/rfc822-headers part a corrupt multipart.
    note = builders.message(attachments=[(b"See you on Monday.", "text/plain", "note.txt")])
    note.replace_header("From", SENDER)
    note.replace_header("To", nobody)
    await chain.send(note.as_bytes(policy=SMTP), rcpts=(nobody,), mail_options=("RET=HDRS",))
    await chain.send(with_customer_list(5, to=nobody), rcpts=(nobody,), mail_options=("RET=FULL",))
    reports = await chain.wait_for_sink(2)
    await chain.postfix.wait_for_empty_queue()
    kinds = {}
    for dsn in reports:
        parsed = message_from_bytes(dsn.content)
        assert parsed.get_content_type() == "multipart/report"
        returned = [p.get_content_type() for p in parsed.walk()][-1]
        kinds["list" if b"xlsx" in dsn.content else "headers"] = (returned, dsn.content)
    assert kinds["headers"][0] == "text/rfc822-headers"
    assert "message/rfc822" in [
        p.get_content_type() for p in message_from_bytes(kinds["list"][1]).walk()
    ]

    replies = {}
    for name, (_, content) in sorted(kinds.items()):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=chain.proxy.port, timeout=30)
        await client.connect()
        try:
            _, reply = await client.sendmail("", [CUSTOMER], content)
        finally:
            client.close()
        replies[name] = reply.split(":")[1].split(" as ")[0].strip()
    assert replies == {"headers": "queued", "list": "held for approval"}
    logged = chain.proxy.messages()
    assert [(line["decision"], line["rules"]) for line in logged] == [
        ("pass", []),
        ("hold", ["personal-data-to-external"]),
    ]
    passed = (await chain.wait_for_sink(3))[-1]
    await chain.postfix.wait_for_empty_queue()
    assert passed.rcpt_tos == [CUSTOMER] and passed.content.endswith(kinds["headers"][1])
