"""Prometheus /metrics, /healthz and /readyz, for one process and for several workers."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.test_hold_flow import hold_one, policy
from tests.test_relay import message, send
from tests.test_service import address_of, serve


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_decisions_rules_latency_and_the_queue(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path)
    (directory / "block.yaml").write_text(
        "rules:\n  - name: no-rivals\n    reason: {ja: 競合, en: rival}\n"
        "    when: {to_domains: [rival.example]}\n    action: block\n",
        encoding="utf-8",
    )
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    assert proxy.web is not None
    async with httpx.AsyncClient(base_url=proxy.web.url) as client:
        before = samples((await client.get("/metrics")).text)  # counters live per process
    await send(proxy.address, message())
    await hold_one(proxy.address)
    with pytest.raises(aiosmtplib.SMTPDataError):
        await send(proxy.address, message(), rcpts=("x@rival.example",))
    async with httpx.AsyncClient(base_url=proxy.web.url) as client:
        answer = await client.get("/metrics")
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = samples(answer.text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("dlp_messages_total", decision="pass", reply="2xx") == 1
    assert grew("dlp_messages_total", decision="hold", reply="2xx") == 1
    assert grew("dlp_messages_total", decision="block", reply="5xx") == 1
    assert grew("dlp_rule_matches_total", rule="customer-data-out") == 1
    assert grew("dlp_rule_matches_total", rule="no-rivals") == 1
    assert grew("dlp_message_seconds_count") == 3
    assert grew("dlp_scan_seconds_count") == 3
    assert value(after, "dlp_quarantine_messages", state="held") == 1  # this proxy's own store
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"smtp": True, "scanners": True, "policy": True, "quarantine": True},
    }
    assert health.status_code == 200


async def test_next_hop_errors_and_policy_reloads_are_counted(
    start_proxy: ProxyFactory, sink: Sink
) -> None:
    sink.behaviour.refuse = {"gone@example.com": "550 5.1.1 no such user"}
    proxy = await start_proxy(next_hop=via_proxy(sink))
    assert proxy.web is not None and proxy.policies is not None
    await send(proxy.address, message(), rcpts=("a@example.com", "gone@example.com"))
    await proxy.policies.reload(cause="test")
    async with httpx.AsyncClient(base_url=proxy.web.url) as client:
        found = samples((await client.get("/metrics")).text)
    assert value(found, "dlp_next_hop_errors_total", kind="rejected") >= 1
    assert value(found, "dlp_policy_reloads_total", result="loaded") >= 1


async def test_several_workers_add_up_in_one_exposition(tmp_path: Path, sink: Sink) -> None:
    async with serve(
        tmp_path, "--listen", "127.0.0.1:0", "--next-hop", via_proxy(sink), "--workers", "2"
    ) as child:
        listening = await child.wait_for("listening", count=2)
        address = address_of(listening[0])
        web = next(event["web"] for event in listening if event.get("web"))
        await asyncio.gather(*(send(address, message()) for _ in range(20)))
        logged = await child.wait_for("message", count=20)
        assert len({line["worker"] for line in logged}) == 2
        async with httpx.AsyncClient(base_url=web) as client:
            found = samples((await client.get("/metrics")).text)
        assert value(found, "dlp_messages_total", decision="pass", reply="2xx") == 20
        child.process.send_signal(signal.SIGTERM)
        assert await child.exit_status() == 0
