"""Replay the committed hostile corpus (tests/hostile/) on every run: through the inspection
core in a real scanner process, and through a running proxy that must keep serving."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import yaml

from dlp_proxy.service import Proxy
from tests import fuzzing, fuzzjobs
from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.fuzzing import Harness

HOSTILE = Path(__file__).parent / "hostile"
MANIFEST: list[dict[str, Any]] = yaml.safe_load((HOSTILE / "MANIFEST.yaml").read_text())
POLICIES = Path(__file__).resolve().parents[1] / "policies"
CORPUS_BOUND = 3 << 20
# A scanner that has inspected the whole corpus stays below this resident peak; its
# address space is capped at --scan-memory (2 GiB by default) in any case.
PEAK_RSS_BOUND = 1 << 30
SENDER = "sender@corp.example"
RECIPIENT = "someone@outside.example"


def as_message(entry: dict[str, Any]) -> bytes:
    """An .eml file as it is; any other file attached, base64, to a plain message."""
    data = (HOSTILE / entry["file"]).read_bytes()
    if entry["file"].endswith(".eml"):
        return data
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        (
            f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: file\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{entry["file"]}"\r\n\r\n'
        ).encode()
        + encoded
        + b"\r\n--b--\r\n"
    )


def test_manifest_names_every_file_and_the_corpus_is_small() -> None:
    on_disk = {p.name for p in HOSTILE.iterdir() if p.name not in {"make.py", "MANIFEST.yaml"}}
    assert on_disk == {entry["file"] for entry in MANIFEST}
    assert sum((HOSTILE / name).stat().st_size for name in on_disk) < CORPUS_BOUND
    assert all(
        entry["expect"] in {"ok", "corrupt", "limit", "encrypted", "unsupported", "ambiguous"}
        for entry in MANIFEST
    )


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    running = Harness()
    yield running
    running.close()


@pytest.mark.parametrize("entry", MANIFEST, ids=[entry["file"] for entry in MANIFEST])
def test_inspection_gives_the_expected_answer(harness: Harness, entry: dict[str, Any]) -> None:
    """In a real scanner process under the deadline and memory limit: a definite answer of the
    class the manifest states, no exception, no catch-all."""
    data = (HOSTILE / entry["file"]).read_bytes()
    if entry["file"].endswith(".eml"):
        outcome = harness.run(data, fuzzjobs.message, "replay")
    else:
        outcome = harness.run(data, fuzzing.file_job(entry["file"]), "replay")
    assert not outcome.problems(), outcome.problems()
    assert outcome.answer == entry["expect"], outcome.findings
    assert all(detail for _, _, reason, detail in outcome.findings if reason)
    assert harness.peak_rss < PEAK_RSS_BOUND


async def send(address: tuple[str, int], raw: bytes) -> tuple[int, str]:
    """The reply to DATA (or to the command that refused the message), on a new connection.
    A dropped connection raises: that is never an answer."""
    client = aiosmtplib.SMTP(hostname=address[0], port=address[1], start_tls=False, timeout=60)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail(SENDER)
        await client.rcpt(RECIPIENT)
        reply = await client.data(raw)
        return reply.code, reply.message
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


def scanner_memory(proxy: Proxy) -> tuple[list[int], int, list[int]]:
    """The scanner processes, their largest resident peak, and each one's address-space cap."""
    scanner = proxy._scanner
    assert scanner is not None
    pids = sorted(scanner.pids())
    peak = 0
    caps = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        assert found is not None
        peak = max(peak, int(found.group(1)) * 1024)
        limits = Path(f"/proc/{pid}/limits").read_text()
        cap = re.search(r"Max address space\s+(\d+)", limits)
        assert cap is not None
        caps.append(int(cap.group(1)))
    return pids, peak, caps


@pytest.mark.timeout(300)
async def test_the_proxy_answers_every_hostile_message_and_keeps_serving(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    """Default policy, one scanner process: each message gets its stated reply with a reason,
    no scanner is killed for overrunning or dies, memory stays bounded, and clean mail still
    goes through afterwards."""
    proxy = await start_proxy(
        next_hop=via_proxy(sink),
        policy_dir=POLICIES,
        scan_timeout=fuzzing.DEADLINE,
    )
    assert proxy._scanner is not None
    before = sorted(proxy._scanner.pids())
    replies = {}
    for entry in MANIFEST:
        code, text = await send(proxy.address, as_message(entry))
        replies[entry["file"]] = (code, text)
        assert text.strip(), entry["file"]
    assert {name: code for name, (code, _) in replies.items()} == {
        entry["file"]: entry["smtp"] for entry in MANIFEST
    }, replies
    after, peak, caps = scanner_memory(proxy)
    assert after == before, "a scanner process was replaced: it died or overran its deadline"
    assert caps == [fuzzing.MEMORY_LIMIT] * len(after)
    assert peak < PEAK_RSS_BOUND, peak
    delivered = len(sink.messages)
    clean = (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: still serving\r\n\r\nHello.\r\n"
    ).encode()
    code, _ = await send(proxy.address, clean)
    assert code == 250
    assert len(sink.messages) == delivered + 1
    assert sink.messages[-1].content.endswith(b"Hello.\r\n")
