"""The decision in the relay: block is a 550, monitor passes, reloads swap whole policies."""

from __future__ import annotations

import asyncio
import base64
import shutil
import signal
from pathlib import Path

import aiosmtplib
import pytest

from dlp_proxy.errors import StartupError
from tests import jobs
from tests.builders import csv_bytes, customers
from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.test_mime import (
    AMBIGUOUS,
    DELIVERY_STATUS,
    FORWARDED,
    NOTE,
    REPORT_TEXT,
    RETURNED_HEADERS,
    inner_message,
    mixed,
    part,
    report,
)
from tests.test_recipients import HEADER_BOMBS, bomb_message
from tests.test_relay import message, send
from tests.test_service import serve

POLICIES = Path(__file__).resolve().parents[1] / "policies"
CSV_TEXT = csv_bytes(customers(5)).decode()


def _folded(raw: bytes) -> bytes:
    """The message with header lines over 900 bytes folded (the sink refuses lines over
    1,000): at a space, else anywhere (the only such runs here are nested parentheses,
    where folding white space is allowed)."""
    head, blank, body = raw.partition(b"\r\n\r\n")
    lines = []
    for whole in head.split(b"\r\n"):
        rest = whole
        while len(rest) > 900:
            cut = rest.rfind(b" ", 1, 900)
            cut = cut if cut > 0 else 900
            lines.append(rest[:cut])
            rest = rest[cut:] if rest[cut:].startswith(b" ") else b" " + rest[cut:]
        lines.append(rest)
    return b"\r\n".join(lines) + blank + body


REASON = "reason: {ja: 社外への一斉送信, en: Too many visible external addresses}"


def policy_dir(tmp_path: Path, rules: str, *, mode: str = "enforce", name: str = "p") -> Path:
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    (directory / "policy.yaml").write_text(
        f"mode: {mode}\ninternal_domains: [corp.example]\nrules:\n{rules}", encoding="utf-8"
    )
    return directory


def rule(action: str, *, name: str = "visible", mode: str = "enforce") -> str:
    return (
        f"  - name: {name}\n    {REASON}\n    when: {{external_visible: '>= 2'}}\n"
        f"    action: {action}\n    mode: {mode}\n"
    )


EXPOSED = message(extra="Cc: a@x.example, b@y.example\r\n")
EXPOSED_RCPTS = ("a@x.example", "b@y.example")


async def test_block_is_a_550_with_the_rule_and_reason(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=policy_dir(tmp_path, rule("block"))
    )
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, EXPOSED, rcpts=EXPOSED_RCPTS)
    assert failure.value.code == 550
    assert failure.value.message == (
        "5.7.1 Blocked by policy rule visible: Too many visible external addresses"
    )
    assert [m.rcpt_tos for m in sink.messages] == [["sender@example.jp"]]  # the notice only
    assert b"X-DLP-Notice: blocked" in sink.messages[0].content
    line = [r.__dict__ for r in caplog.records if r.getMessage() == "message"][-1]
    assert line["decision"] == "block" and line["rules"] == ["visible"]
    assert line["policy"] == proxy.policies.current.policy.version  # type: ignore[union-attr]
    # The blocked transaction was reset at the next hop; the connection serves the next message.
    errors, _ = await send(proxy.address, message())
    assert errors == {} and len(sink.messages) == 2
    assert sink.handler.connections == 1


async def test_hold_is_a_250_after_the_commit(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=policy_dir(tmp_path, rule("hold"))
    )
    _, reply = await send(proxy.address, EXPOSED, rcpts=EXPOSED_RCPTS)
    assert "held for approval as" in reply
    queue_id = reply.rsplit(" ", 1)[-1]
    assert proxy.quarantine is not None
    held = await proxy.quarantine.get(queue_id)
    assert held is not None and held.state == "held"
    assert (await proxy.quarantine.content(queue_id)).endswith(EXPOSED)
    assert sink.messages == []  # nothing leaves; no approver is configured to notify
    line = [r.__dict__ for r in caplog.records if r.getMessage() == "message"][-1]
    assert line["decision"] == "hold" and line["reply"] == "250"


@pytest.mark.parametrize("where", ["policy", "rule"])
async def test_monitor_mode_passes_and_records(
    start_proxy: ProxyFactory,
    sink: Sink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    rules = rule("block", mode="monitor" if where == "rule" else "enforce")
    directory = policy_dir(tmp_path, rules, mode="monitor" if where == "policy" else "enforce")
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    errors, _ = await send(proxy.address, EXPOSED, rcpts=EXPOSED_RCPTS)
    assert errors == {} and len(sink.messages) == 1
    line = [r.__dict__ for r in caplog.records if r.getMessage() == "message"][-1]
    assert line["decision"] == "pass" and line["rules"] == ["visible"]
    if where == "policy":
        assert line["would"] == "block"


async def test_internal_only_mail_passes(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=policy_dir(tmp_path, rule("block"))
    )
    raw = message(extra="Cc: a@corp.example, b@tokyo.corp.example\r\n")
    errors, _ = await send(proxy.address, raw, rcpts=("a@corp.example", "b@tokyo.corp.example"))
    assert errors == {} and len(sink.messages) == 1


async def test_start_refuses_a_bad_policy(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    bad = policy_dir(tmp_path, "  - name: x\n    action: explode\n")
    with pytest.raises(StartupError, match=r"policy.yaml:\d+: rules\[0\]"):
        await start_proxy(policy_dir=bad)


async def test_reload_under_load_with_a_bad_file_in_between(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = policy_dir(tmp_path, rule("tag", name="first", mode="monitor"))
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    store = proxy.policies
    assert store is not None
    first = store.current.policy.version
    stop = asyncio.Event()
    replies: list[tuple[str, int]] = []

    async def sender() -> None:
        while not stop.is_set():
            version = store.current.policy.version
            try:
                await send(proxy.address, EXPOSED, rcpts=EXPOSED_RCPTS)
                replies.append((version, 250))
            except aiosmtplib.SMTPDataError as exc:
                replies.append((version, exc.code))

    senders = [asyncio.create_task(sender()) for _ in range(4)]
    await asyncio.sleep(0.5)
    (directory / "policy.yaml").write_text("rules:\n  - name: [broken\n", encoding="utf-8")
    assert await store.reload(cause="test") is False
    assert store.current.policy.version == first
    await asyncio.sleep(0.5)
    policy_dir(tmp_path, rule("block", name="second"))
    assert await store.reload(cause="test") is True
    second = store.current.policy.version
    assert second != first
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*senders)

    logged = [r.__dict__ for r in caplog.records if r.getMessage() == "message"]
    assert {line["policy"] for line in logged} == {first, second}
    for line in logged:  # each message was decided wholly by one policy or the other
        assert (line["policy"], line["decision"]) in {(first, "pass"), (second, "block")}
    assert {code for _, code in replies} == {250, 550}
    assert not [line for line in logged if "error" in line]
    refused = [r.__dict__ for r in caplog.records if r.getMessage().startswith("policy refused")]
    assert refused and "policy.yaml:3: YAML syntax" in refused[0]["problems"][0]


async def test_file_change_is_picked_up(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy_dir(tmp_path, rule("tag", mode="monitor"))
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    assert proxy.policies is not None
    before = proxy.policies.current.policy.version
    await asyncio.sleep(0.05)
    policy_dir(tmp_path, rule("block"))
    async with asyncio.timeout(10):
        while proxy.policies.current.policy.version == before:
            await asyncio.sleep(0.1)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, EXPOSED, rcpts=EXPOSED_RCPTS)
    assert failure.value.code == 550


async def test_sighup_reloads_a_running_server(tmp_path: Path, sink: Sink) -> None:
    directory = policy_dir(tmp_path, rule("tag", mode="monitor"))
    async with serve(
        tmp_path,
        "--listen",
        "127.0.0.1:0",
        "--next-hop",
        via_proxy(sink),
        "--policy-dir",
        str(directory),
    ) as child:
        await child.wait_for("listening")
        policy_dir(tmp_path, rule("block"))
        child.process.send_signal(signal.SIGHUP)
        (loaded,) = await child.wait_for("policy loaded")
        assert loaded["cause"] in {"SIGHUP", "file change"}
        child.process.send_signal(signal.SIGTERM)
        assert await child.exit_status() == 0


# -- the shipped policy against shapes that used to slip through or fail ------------------

SENDER = "sales@corp.example"
OUTSIDE = "customer@outside.example"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    directory = tmp_path / "shipped"
    directory.mkdir()
    shutil.copy(POLICIES / "default.yaml", directory)
    (directory / "local.yaml").write_text("internal_domains: [corp.example]\n")
    return directory


async def replies_to(
    address: tuple[str, int], messages: dict[str, bytes], *, rcpts: tuple[str, ...] = (OUTSIDE,)
) -> dict[str, str]:
    """Each message's reply: held, queued or blocked (any other reply as it came)."""
    out = {}
    for name, raw in messages.items():
        try:
            _, reply = await send(address, raw, sender=SENDER, rcpts=rcpts)
        except aiosmtplib.SMTPResponseException as exc:
            reply = f"{exc.code} {exc.message}"
        out[name] = next((word for word in ("held", "queued", "Blocked") if word in reply), reply)
    return out


async def test_ambiguous_structure_is_held_and_its_unambiguous_twin_passes(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=shipped)
    ambiguous = {name: shape[0] for name, shape in AMBIGUOUS.items()}
    twins = {name: shape[1] for name, shape in AMBIGUOUS.items()}
    assert await replies_to(proxy.address, ambiguous) == dict.fromkeys(ambiguous, "held")
    assert await replies_to(proxy.address, twins) == dict.fromkeys(twins, "queued")
    assert len(sink.messages) == len(twins)


async def test_a_list_forwarded_base64_is_found(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    """Blocked, not only held as ambiguous: the 1,200 rows inside were counted."""
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=shipped)
    listed = base64.encodebytes(csv_bytes(customers(1200))).replace(b"\n", b"\r\n")
    forwarded = inner_message(
        part(b"Content-Type: text/plain", NOTE),
        part(
            b'Content-Type: text/csv; name="list.csv"\r\nContent-Transfer-Encoding: base64', listed
        ),
    )
    raw = mixed(
        part(
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64",
            base64.encodebytes(forwarded).replace(b"\n", b"\r\n"),
        )
    )
    assert await replies_to(proxy.address, {"fwd": raw}) == {"fwd": "Blocked"}
    assert [m.rcpt_tos for m in sink.messages] == [[SENDER]]  # the blocked notice only


async def test_header_bombs_get_a_definite_answer(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    """Thousands of groups, comments or encoded words: a decision, never a 451."""
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=shipped)
    bombs = {}
    for name, (header, filename) in HEADER_BOMBS.items():
        for with_list in (True, False):
            raw = bomb_message(header, with_list=with_list, filename=filename)
            bombs[f"{name}/{'list' if with_list else 'note'}"] = _folded(raw)
    expected = {name: "held" if name.endswith("/list") else "queued" for name in bombs}
    assert await replies_to(proxy.address, bombs, rcpts=("x@out.example",)) == expected


async def test_routed_recipients_are_external(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=shipped)
    with_list = message(extra="MIME-Version: 1.0\r\n", body="see below\r\n" + CSV_TEXT)
    replies = {}
    for rcpt in (
        "x%ext.example@corp.example",
        "ext.example!x@corp.example",
        "colleague@corp.example",
    ):
        replies[rcpt] = (await replies_to(proxy.address, {"m": with_list}, rcpts=(rcpt,)))["m"]
    assert replies == {
        "x%ext.example@corp.example": "held",
        "ext.example!x@corp.example": "held",
        "colleague@corp.example": "queued",
    }


async def test_delivery_reports_pass_and_a_returned_list_is_held(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=shipped)
    headers_only = report(
        REPORT_TEXT, DELIVERY_STATUS, part(b"Content-Type: text/rfc822-headers", RETURNED_HEADERS)
    )
    returned = report(
        REPORT_TEXT, DELIVERY_STATUS, part(b"Content-Type: message/rfc822", FORWARDED)
    )
    replies = await replies_to(proxy.address, {"headers": headers_only, "returned": returned})
    assert replies == {"headers": "queued", "returned": "held"}


async def test_a_message_whose_inspection_never_finishes_is_decided_on_its_retry(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    """A scan that hangs (or kills its scanner) gets 451 once; when the sender's server sends
    the same bytes again, the message is one unscannable file and the policy decides: held
    for an outside recipient, delivered to a colleague, never 451 for ever. Approved, the
    held one is released as it is, without another scan."""
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=shipped, job=jobs.on_marker, scan_timeout=1
    )
    stuck = message(extra="X-Test-Do: hang\r\n")
    outside = [await replies_to(proxy.address, {"m": stuck}) for _ in range(2)]
    assert outside[0]["m"].startswith("451 4.3.0") and outside[1] == {"m": "held"}
    dying = message(extra="X-Test-Do: die\r\n", subject="inside")
    inside = [
        await replies_to(proxy.address, {"m": dying}, rcpts=("colleague@corp.example",))
        for _ in range(2)
    ]
    assert inside[0]["m"].startswith("451 4.3.0") and inside[1] == {"m": "queued"}
    assert [m.rcpt_tos for m in sink.messages] == [["colleague@corp.example"]]
    assert proxy.quarantine is not None and proxy.queue is not None
    [held] = await proxy.quarantine.list(state="held")
    [attachment] = held.summary["attachments"]
    assert (attachment["path"], attachment["unscannable"]) == ("message", "limit")
    await proxy.quarantine.approve(
        held.id, actor="admin@corp.example", comment="ok", via="test", admin=True
    )
    proxy.queue.wake()
    async with asyncio.timeout(30):
        while len([m for m in sink.messages if m.mail_from == SENDER]) < 2:
            await asyncio.sleep(0.05)
    released = [m for m in sink.messages if m.rcpt_tos == [OUTSIDE]]
    assert len(released) == 1 and released[0].content.endswith(stuck)
