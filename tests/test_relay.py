"""The relay's promises to the MTA, proved with a real client, the real proxy and a real sink."""

from __future__ import annotations

import asyncio
import random
import smtplib
from email.header import Header
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from dlp_proxy import relay
from tests import jobs
from tests.conftest import ProxyFactory, Sink, free_port, via_proxy


def message(body: str = "Hello.\r\n", *, subject: str = "test", extra: str = "") -> bytes:
    return (
        f"From: sender@example.jp\r\nTo: rcpt@example.com\r\nSubject: {subject}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {make_msgid()}\r\n{extra}\r\n{body}"
    ).encode()


async def connect(proxy_address: tuple[str, int]) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(
        hostname=proxy_address[0], port=proxy_address[1], start_tls=False, timeout=30
    )
    await client.connect()
    await client.ehlo()
    return client


async def send(
    address: tuple[str, int],
    raw: bytes,
    *,
    sender: str = "sender@example.jp",
    rcpts: tuple[str, ...] = ("rcpt@example.com",),
    options: tuple[str, ...] = (),
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    client = await connect(address)
    try:
        return await client.sendmail(sender, list(rcpts), raw, mail_options=list(options))
    finally:
        client.close()


def delivered_tail(sink: Sink, index: int = 0) -> bytes:
    """What the sink received after the trace headers we prepended."""
    content = sink.messages[index].content
    assert content.startswith(b"Received: from "), content[:80]
    return content


def assert_pass_through(sink: Sink, sent: bytes, index: int = 0) -> None:
    content = delivered_tail(sink, index)
    assert content.endswith(sent)
    prepended = content[: len(content) - len(sent)]
    # Only trace header fields (here: our one Received, folded) may come before the original.
    assert prepended.startswith(b"Received: ") and prepended.endswith(b"\r\n")
    assert all(line.startswith(b"\t") for line in prepended.split(b"\r\n")[1:-1])


CASES = {
    "plain-ascii": message(),
    "utf8-8bit-body": message("こんにちは、世界。請求書を送ります。\r\n".encode().decode()),
    "iso-2022-jp-headers": (
        b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\n"
        b"To: rcpt@example.com\r\n"
        b"Subject: " + Header("見積書のご送付", "iso-2022-jp").encode().encode() + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\n"
        + "お世話になっております。①㈱".encode("iso2022_jp_ext", "replace")
        + b"\r\n"
    ),
    "lines-near-998": message(("x" * 996 + "\r\n") * 3 + "y" * 998 + "\r\n"),
    "leading-dots": message(".\r\n..\r\n.hidden\r\nend\r\n"),
    "no-final-newline-in-body": message("last line without newline"),
}


@pytest.mark.parametrize("raw", list(CASES.values()), ids=list(CASES))
async def test_pass_through_is_byte_exact(
    start_proxy: ProxyFactory, sink: Sink, raw: bytes
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    sent = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    errors, reply = await send(proxy.address, raw, options=("BODY=8BITMIME",))
    assert errors == {}
    assert "queued as" in reply
    assert len(sink.messages) == 1
    assert_pass_through(sink, sent)


async def test_stdlib_client_dot_stuffing_round_trip(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    raw = message(".\r\n.leading\r\n..two\r\n")

    def client() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP(*proxy.address) as smtp:
            return smtp.sendmail("sender@example.jp", ["rcpt@example.com"], raw)

    assert await asyncio.to_thread(client) == {}
    assert_pass_through(sink, raw)


async def test_8bitmime_passed_on(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    await send(proxy.address, message("日本語の本文\r\n"), options=("BODY=8BITMIME",))
    assert "BODY=8BITMIME" in sink.messages[0].mail_options


async def test_smtputf8_addresses(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    raw = "From: 山田 <山田@例え.jp>\r\nTo: 担当@example.com\r\nSubject: テスト\r\n\r\n本文\r\n"
    errors, _ = await send(
        proxy.address,
        raw.encode(),
        sender="山田@例え.jp",
        rcpts=("担当@example.com",),
        options=("SMTPUTF8", "BODY=8BITMIME"),
    )
    assert errors == {}
    received = sink.messages[0]
    assert received.mail_from == "山田@例え.jp"
    assert received.rcpt_tos == ["担当@example.com"]
    assert "SMTPUTF8" in received.mail_options
    assert b"with UTF8SMTP id" in received.content
    assert_pass_through(sink, raw.encode())


async def test_smtputf8_refused_when_next_hop_lacks_it(start_proxy: ProxyFactory) -> None:
    plain = Sink(smtputf8=False)
    await plain.start()
    try:
        proxy = await start_proxy(next_hop=via_proxy(plain))
        client = await connect(proxy.address)
        reply = await client.execute_command(b"MAIL", "FROM:<山田@例え.jp>".encode(), b"SMTPUTF8")
        client.close()
    finally:
        await plain.stop()
    assert reply.code == 553 and reply.message.startswith("5.6.7")
    assert plain.messages == []


async def test_several_recipients(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    rcpts = tuple(f"user{i}@example.com" for i in range(30))
    errors, _ = await send(proxy.address, message(), rcpts=rcpts)
    assert errors == {}
    assert sink.messages[0].rcpt_tos == list(rcpts)


async def test_null_sender(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    assert (await client.execute_command(b"MAIL", b"FROM:<>")).code == 250
    assert (await client.execute_command(b"RCPT", b"TO:<rcpt@example.com>")).code == 250
    await client.data(message())
    client.close()
    assert sink.messages[0].mail_from == "<>"


async def test_next_hop_down_gives_451_and_nothing_delivered(start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy(next_hop=f"127.0.0.1:{free_port()}")
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 451
    assert failure.value.message.startswith("4.4.1")


async def test_next_hop_refuses_one_recipient(start_proxy: ProxyFactory, sink: Sink) -> None:
    sink.behaviour.refuse = {"nobody@example.com": "550 5.1.1 <nobody@example.com>: User unknown"}
    proxy = await start_proxy(next_hop=via_proxy(sink))
    errors, _ = await send(
        proxy.address, message(), rcpts=("a@example.com", "nobody@example.com", "b@example.com")
    )
    assert errors["nobody@example.com"].code == 550
    assert errors["nobody@example.com"].message.startswith("5.1.1")
    assert set(errors) == {"nobody@example.com"}
    assert sink.messages[0].rcpt_tos == ["a@example.com", "b@example.com"]


async def test_next_hop_refusal_without_enhanced_code(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    sink.behaviour.refuse = {"x@example.com": "550 no such user"}
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    await client.execute_command(b"MAIL", b"FROM:<s@example.jp>")
    reply = await client.execute_command(b"RCPT", b"TO:<x@example.com>")
    client.close()
    assert reply.code == 550
    assert reply.message.startswith("5.0.0") and "no such user" in reply.message


async def test_next_hop_deferring_a_recipient(start_proxy: ProxyFactory, sink: Sink) -> None:
    sink.behaviour.refuse = {"busy@example.com": "452 4.2.2 Mailbox full"}
    proxy = await start_proxy(next_hop=via_proxy(sink))
    errors, _ = await send(proxy.address, message(), rcpts=("a@example.com", "busy@example.com"))
    assert errors["busy@example.com"].code == 451
    assert errors["busy@example.com"].message.startswith("4.4.0")
    assert sink.messages[0].rcpt_tos == ["a@example.com"]


@pytest.mark.parametrize(
    ("next_hop_reply", "code", "enhanced"),
    [("451 4.3.0 Try later", 451, "4.4.0"), ("554 5.7.1 Content refused", 554, "5.7.1")],
    ids=["temporary", "permanent"],
)
async def test_next_hop_refusing_data(
    start_proxy: ProxyFactory, sink: Sink, next_hop_reply: str, code: int, enhanced: str
) -> None:
    sink.behaviour.data_reply = next_hop_reply
    proxy = await start_proxy(next_hop=via_proxy(sink))
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, message())
    assert failure.value.code == code
    assert failure.value.message.startswith(enhanced)
    assert sink.messages == []


async def test_next_hop_refusing_sender(start_proxy: ProxyFactory, sink: Sink) -> None:
    sink.behaviour.mail_reply = "553 5.7.1 Sender rejected"
    proxy = await start_proxy(next_hop=via_proxy(sink))
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 553 and failure.value.message.startswith("5.7.1")


async def test_slow_next_hop_gives_451(start_proxy: ProxyFactory, sink: Sink) -> None:
    sink.behaviour.data_delay = 5
    proxy = await start_proxy(next_hop=via_proxy(sink), next_hop_timeout=1)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 451
    assert failure.value.message.startswith("4.4.1")


@pytest.mark.parametrize(
    ("declared", "actual"), [(True, False), (False, True)], ids=["size-declared", "size-actual"]
)
async def test_oversized_gets_552(
    start_proxy: ProxyFactory, sink: Sink, declared: bool, actual: bool
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), max_size=10_000)
    client = await connect(proxy.address)
    assert "size" in client.esmtp_extensions
    assert client.esmtp_extensions["size"] == "10000"
    size = b" SIZE=20000" if declared else b" SIZE=5000"
    reply = await client.execute_command(b"MAIL", b"FROM:<s@example.jp>" + size)
    if declared:
        assert reply.code == 552 and reply.message.startswith("5.3.4")
    else:
        await client.execute_command(b"RCPT", b"TO:<r@example.com>")
        with pytest.raises(aiosmtplib.SMTPDataError) as failure:
            await client.data(message("z" * 76 + "\r\n") * 200)
        assert failure.value.code == 552 and failure.value.message.startswith("5.3.4")
    client.close()
    assert sink.messages == []


async def test_disallowed_client_gets_554_at_connect(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), allow="10.0.0.0/8")
    client = aiosmtplib.SMTP(hostname=proxy.address[0], port=proxy.address[1], start_tls=False)
    with pytest.raises(aiosmtplib.SMTPConnectResponseError) as failure:
        await client.connect()
    assert failure.value.code == 554
    assert failure.value.message.startswith("5.7.1")


async def test_exception_in_inspection_gives_451(
    start_proxy: ProxyFactory, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.raise_error)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 451 and failure.value.message.startswith("4.3.0")
    assert sink.messages == []
    logged = [r for r in caplog.records if r.getMessage() == "message"]
    assert logged and logged[-1].__dict__["error"] == "InspectionFailed"
    assert logged[-1].__dict__["id"]


async def test_timeout_in_inspection_gives_451_and_scanner_recovers(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.hang, scan_timeout=1)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 451 and failure.value.message.startswith("4.3.0")
    assert sink.messages == []


async def test_scanner_process_dying_gives_451(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.die)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 451
    assert sink.messages == []


async def test_failed_message_leaves_session_and_next_hop_usable(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.fail_on_marker)
    client = await connect(proxy.address)
    with pytest.raises(aiosmtplib.SMTPDataError):
        await client.sendmail(
            "s@example.jp", ["r@example.com"], message(extra="X-Test-Fail: 1\r\n")
        )
    errors, _ = await client.sendmail("s@example.jp", ["r@example.com"], message())
    client.close()
    assert errors == {}
    assert len(sink.messages) == 1
    assert b"X-Test-Fail" not in sink.messages[0].content


async def test_next_hop_connections_are_reused(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    for _ in range(5):
        await send(proxy.address, message())
    assert len(sink.messages) == 5
    assert sink.handler.connections == 1


async def test_rset_and_disconnect_release_the_next_hop_transaction(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    await client.execute_command(b"MAIL", b"FROM:<s@example.jp>")
    await client.execute_command(b"RCPT", b"TO:<r@example.com>")
    assert (await client.rset()).code == 250
    await client.execute_command(b"MAIL", b"FROM:<s@example.jp>")
    await client.execute_command(b"RCPT", b"TO:<gone@example.com>")
    client.close()  # vanish mid-transaction
    await asyncio.sleep(0.2)
    errors, _ = await send(proxy.address, message())
    assert errors == {}
    assert [m.rcpt_tos for m in sink.messages] == [["rcpt@example.com"]]


async def test_next_hop_drops_connection_during_inspection(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.slow)
    send_task = asyncio.create_task(
        send(proxy.address, message(), rcpts=("a@x.example", "b@x.example"))
    )
    await asyncio.sleep(1.0)  # MAIL and RCPT are done; the scan is running
    sink.drop_connections()
    errors, reply = await send_task
    assert errors == {} and "queued as" in reply
    assert sink.messages[0].rcpt_tos == ["a@x.example", "b@x.example"]


async def test_xforward_reaches_log_and_next_hop(
    start_proxy: ProxyFactory, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.behaviour.xforward = True
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    assert "xforward" in client.esmtp_extensions
    reply = await client.execute_command(
        b"XFORWARD", b"NAME=pc1.example.jp", b"ADDR=192.0.2.7", b"HELO=pc1", b"PROTO=ESMTP"
    )
    assert reply.code == 250
    await client.sendmail("s@example.jp", ["r@example.com"], message())
    client.close()
    logged = [r.__dict__ for r in caplog.records if r.getMessage() == "message"]
    assert logged[-1]["client"] == "192.0.2.7"
    assert logged[-1]["client_name"] == "pc1.example.jp"
    assert logged[-1]["via"] == "127.0.0.1"
    assert any("ADDR=192.0.2.7" in args for args in sink.handler.xforward)


async def test_xforward_refused_inside_transaction(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    await client.execute_command(b"MAIL", b"FROM:<s@example.jp>")
    reply = await client.execute_command(b"XFORWARD", b"ADDR=192.0.2.7")
    client.close()
    assert reply.code == 503


async def test_log_line_carries_no_content(
    start_proxy: ProxyFactory, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    await send(
        proxy.address, message("顧客 山田太郎 090-1234-5678\r\n", subject="Secret-Subject-77")
    )
    text = "\n".join(str(r.__dict__) for r in caplog.records)
    assert "Secret-Subject-77" not in text and "山田太郎" not in text
    line = [r.__dict__ for r in caplog.records if r.getMessage() == "message"][-1]
    for key in ("id", "client", "sender", "recipients", "size", "decision", "ms"):
        assert key in line
    assert line["decision"] == "pass" and line["recipients"] == 1


async def test_too_many_recipients(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), max_recipients=3)
    errors, _ = await send(
        proxy.address, message(), rcpts=tuple(f"u{i}@x.example" for i in range(5))
    )
    assert {r: e.code for r, e in errors.items()} == {"u3@x.example": 452, "u4@x.example": 452}
    assert len(sink.messages[0].rcpt_tos) == 3


async def test_outbox_when_no_next_hop(start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy()
    raw = message("to the outbox\r\n")
    await send(proxy.address, raw, rcpts=("a@example.com", "b@example.com"))
    files = list((proxy.settings.data_dir / "outbox").glob("*.eml"))
    assert len(files) == 1
    content = files[0].read_bytes()
    assert content.startswith(
        b"Return-Path: <sender@example.jp>\r\nX-Original-To: a@example.com\r\n"
        b"X-Original-To: b@example.com\r\nReceived: from "
    )
    assert content.endswith(raw)


async def test_outbox_unwritable_gives_451(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "outbox").write_text("a file where the outbox directory should be")
    proxy = await start_proxy(data_dir=data_dir)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, message())
    assert failure.value.code == 451


async def test_ehlo_advertises_what_the_issue_asks(start_proxy: ProxyFactory, sink: Sink) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    extensions = set(client.esmtp_extensions)
    client.close()
    assert {"size", "8bitmime", "smtputf8", "xforward"} <= extensions
    assert "starttls" not in extensions  # no certificate configured
    assert "auth" not in extensions


async def test_client_vanishing_during_inspection_delivers_nothing(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), job=jobs.slow)
    _, writer = await asyncio.open_connection(*proxy.address)
    for line in (b"EHLO c.test", b"MAIL FROM:<s@example.jp>", b"RCPT TO:<r@example.com>", b"DATA"):
        writer.write(line + b"\r\n")
    writer.write(message() + b".\r\n")
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.close()  # gone before any reply to the data
    await asyncio.sleep(2.5)
    assert sink.messages == []
    errors, _ = await send(proxy.address, message())
    assert errors == {}
    assert len(sink.messages) == 1


async def test_idle_next_hop_connection_dropped_between_messages(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    await send(proxy.address, message())
    sink.drop_connections()  # the next hop's idle timer fired while we kept the connection
    await asyncio.sleep(0.1)
    errors, _ = await send(proxy.address, message())
    assert errors == {}
    assert len(sink.messages) == 2
    assert sink.handler.connections == 2


async def test_dsn_parameters_are_accepted_and_checked(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    assert "dsn" in client.esmtp_extensions
    mail = await client.execute_command(
        b"MAIL", b"FROM:<s@example.jp>", b"RET=HDRS", b"ENVID=QQ314159", b"BODY=8BITMIME"
    )
    assert mail.code == 250
    rcpt = await client.execute_command(
        b"RCPT", b"TO:<r@example.com>", b"NOTIFY=SUCCESS,FAILURE", b"ORCPT=rfc822;r@example.com"
    )
    assert rcpt.code == 250
    bad = await client.execute_command(b"RCPT", b"TO:<t@example.com>", b"NOTIFY=SOMETIMES")
    assert bad.code == 501 and bad.message.startswith("5.5.4")
    wrong_command = await client.execute_command(b"RCPT", b"TO:<t@example.com>", b"RET=FULL")
    assert wrong_command.code == 555  # RET belongs to MAIL
    await client.data(message())
    client.close()
    # The sink offers no DSN: the parameters stop here (Postfix's next hop would get them).
    assert sink.messages[0].rcpt_tos == ["r@example.com"]
    assert "RET=HDRS" not in sink.messages[0].mail_options


async def test_idle_next_hop_connections_are_closed_after_a_while(
    start_proxy: ProxyFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "IDLE_TIMEOUT", 0.3)
    proxy = await start_proxy(next_hop=via_proxy(sink))
    await send(proxy.address, message())
    assert any(p.transport is not None for p in sink.protocols)
    async with asyncio.timeout(5):
        while any(p.transport is not None for p in sink.protocols):
            await asyncio.sleep(0.05)  # the proxy said QUIT: the sink's side is closed


def aiosmtplib_wire(raw: bytes) -> bytes:
    """What aiosmtplib's own SMTP.data() would send after DATA."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"


def test_wire_form_is_what_aiosmtplib_sends() -> None:
    cases = [
        b"",
        b".",
        b".\r\n",
        b"..\r\n.x\r\n",
        b"a\r\n.\r\nb",
        b"a\r\n.",
        b"a\nb\r\n",
        b"a\rb\r\n.c\n.d\r.e",
        b"a\r\r\nb\r\n",
        b"a\r\n\n.b\r\n",
        CASES["leading-dots"],
        CASES["no-final-newline-in-body"],
    ]
    rng = random.Random(8)
    cases += [bytes(rng.choice(b"\r\n.ab") for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    cases += [b"\r\n".join(rng.choice([b"", b".", b"..", b"x", b".y"]) for _ in range(9))] * 50
    for raw in cases:
        assert relay.on_the_wire(raw) == aiosmtplib_wire(raw), raw


async def test_a_source_route_is_dropped_and_its_mailbox_forwarded(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    """aiosmtpd keeps only the mailbox of <@a,@b:user@c>; that is what the next hop gets, and
    what the policy counts (user@c)."""
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    await client.execute_command(b"MAIL", b"FROM:<s@example.jp>")
    reply = await client.execute_command(b"RCPT", b"TO:<@relay.example,@hop.example:u@example.com>")
    assert reply.code == 250
    await client.data(message())
    client.close()
    assert sink.messages[0].rcpt_tos == ["u@example.com"]


ROUTED = (
    "user%ext.example@example.jp",
    "ext.example!user@example.jp",
    '"user@ext.example"@example.jp',
    "@relay.example:user@example.jp",
)


@pytest.mark.parametrize("address", ROUTED)
async def test_routed_recipients_are_refused_when_the_setting_asks(
    start_proxy: ProxyFactory, sink: Sink, address: str
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), refuse_routed_recipients=True)
    client = await connect(proxy.address)
    await client.execute_command(b"MAIL", b"FROM:<s@example.jp>")
    refused = await client.execute_command(b"RCPT", f"TO:<{address}>".encode())
    assert refused.code == 553
    assert refused.message.startswith("5.1.3 Routed addresses are refused")
    assert (await client.execute_command(b"RCPT", b"TO:<plain@example.jp>")).code == 250
    await client.data(message())
    client.close()
    assert [m.rcpt_tos for m in sink.messages] == [["plain@example.jp"]]


@pytest.mark.parametrize("address", ROUTED[:3])
async def test_routed_recipients_pass_as_written_by_default(
    start_proxy: ProxyFactory, sink: Sink, address: str
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink))
    errors, _ = await send(proxy.address, message(), rcpts=(address,))
    assert errors == {}
    assert sink.messages[0].rcpt_tos == [address]


async def test_nested_comments_in_a_path_get_a_definite_answer(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    """aiosmtpd's path parser recurses once per nested comment, but a command is cut at 512
    bytes, long before that could run out of stack: refused whole, or read."""
    proxy = await start_proxy(next_hop=via_proxy(sink))
    client = await connect(proxy.address)
    deep = b"(" * 3000 + b"c" + b")" * 3000
    refused = await client.execute_command(b"MAIL", b"FROM:<" + deep + b"s@example.jp>")
    assert (refused.code, refused.message) == (500, "5.5.2 Command line too long")
    nested = b"(" * 200 + b"c" + b")" * 200
    assert (
        await client.execute_command(b"MAIL", b"FROM:<" + nested + b"s@example.jp>")
    ).code == 250
    assert (await client.execute_command(b"RCPT", b"TO:<" + nested + b"r@example.com>")).code == 250
    await client.data(message())
    client.close()
    assert sink.messages[0].rcpt_tos == ["r@example.com"]
