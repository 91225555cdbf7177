"""Replay the committed evasion corpus (tests/evasion/): every wrapping of a customer list is
stopped by the shipped policy for the reason the manifest states, through the scanner's own
job and through a running proxy, and every harmless twin passes (or is held where the
wrapping itself cannot be read)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import yaml

from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.policy.load import load_policy
from dlp_proxy.scanner import evaluate
from tests.conftest import ProxyFactory, Sink, via_proxy

EVASION = Path(__file__).parent / "evasion"
MANIFEST: list[dict[str, Any]] = yaml.safe_load((EVASION / "MANIFEST.yaml").read_text())
POLICIES = Path(__file__).resolve().parents[1] / "policies"
SENDER = "sales@corp.example"
MINIMUM_CASES = 40
CORPUS_BOUND = 4 << 20


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped policy as an admin installs it: default.yaml untouched, the company's
    domain in local.yaml."""
    directory = tmp_path_factory.mktemp("policies")
    shutil.copy(POLICIES / "default.yaml", directory / "default.yaml")
    (directory / "local.yaml").write_text("internal_domains: [corp.example]\n")
    return directory


def _messages(entry: dict[str, Any]) -> list[tuple[str, bytes]]:
    name = entry["case"]
    return [
        (f"{name}.eml", (EVASION / f"{name}.eml").read_bytes()),
        (f"{name}.twin.eml", (EVASION / f"{name}.twin.eml").read_bytes()),
    ]


def test_the_corpus_covers_the_issue_and_stays_small() -> None:
    on_disk = {p.name for p in EVASION.glob("*.eml")}
    assert on_disk == {name for entry in MANIFEST for name, _ in _messages(entry)}
    assert len(MANIFEST) >= MINIMUM_CASES
    assert {entry["item"] for entry in MANIFEST} >= {"2", "3", "4", "5", "6", "7", "8"}
    assert sum(p.stat().st_size for p in EVASION.glob("*.eml")) < CORPUS_BOUND


@pytest.mark.parametrize("entry", MANIFEST, ids=[entry["case"] for entry in MANIFEST])
def test_each_list_is_seen_for_what_it_is(shipped: Path, entry: dict[str, Any]) -> None:
    """The scanner's job on the list: the rule the manifest names stops it, because the rows
    were counted (or the wrapping is unscannable for the stated reason); the twin is not
    stopped for personal data."""
    policy = load_policy(shipped).policy
    envelope = Envelope("evasion", SENDER, tuple(entry["rcpt"]), Client("127.0.0.1"))
    (_, listing), (_, twin) = _messages(entry)
    verdict = evaluate(listing, envelope, policy)
    matched = {rule.name for rule in verdict.decision.rules}
    assert entry["stop"] in matched, (matched, verdict.inspection.attachments)
    assert verdict.decision.action == entry["action"]
    if entry["found"] == "rows":
        assert verdict.inspection.personal_rows >= entry["rows"], verdict.inspection.attachments
    else:
        reasons = {a.unscannable for a in verdict.inspection.attachments}
        assert entry["found"] in reasons, verdict.inspection.attachments
    calm = evaluate(twin, envelope, policy)
    assert calm.inspection.personal_rows == 0, calm.inspection.attachments
    expected = "pass" if entry["twin"] == "pass" else "hold"
    assert calm.decision.action == expected, (calm.decision.rules, calm.inspection.attachments)


async def _send(address: tuple[str, int], raw: bytes, rcpts: list[str]) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname=address[0], port=address[1], start_tls=False, timeout=60)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail(SENDER)
        for rcpt in rcpts:
            await client.rcpt(rcpt)
        reply = await client.data(raw)
        return reply.code, reply.message
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


@pytest.mark.timeout(600)
async def test_the_running_proxy_stops_every_list_and_passes_every_twin(
    start_proxy: ProxyFactory, sink: Sink, shipped: Path
) -> None:
    """Shipped policy, real SMTP in and out: each list is held (250, nothing delivered) or
    blocked (550 5.7.1 with the rule's reason); each twin that should pass reaches the next hop
    byte for byte after the trace header (notices to the sender come from <> and are not
    counted)."""
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=shipped, scan_timeout=60)
    outcomes = {}
    delivered = []
    for entry in MANIFEST:
        (list_name, listing), (twin_name, twin) = _messages(entry)
        outcomes[list_name] = await _send(proxy.address, listing, entry["rcpt"])
        outcomes[twin_name] = await _send(proxy.address, twin, entry["rcpt"])
        if entry["twin"] == "pass":
            delivered.append(twin)
    wanted = {}
    for entry in MANIFEST:
        (list_name, _), (twin_name, _) = _messages(entry)
        wanted[list_name] = "held" if entry["action"] == "hold" else "blocked"
        wanted[twin_name] = "passed" if entry["twin"] == "pass" else "held"
    seen = {name: _kind(code, text) for name, (code, text) in outcomes.items()}
    assert seen == wanted, {n: outcomes[n] for n in seen if seen[n] != wanted[n]}
    relayed = [m for m in sink.messages if m.mail_from == SENDER]  # not the notices (<>)
    assert len(relayed) == len(delivered)
    for received, raw in zip(relayed, delivered, strict=True):
        assert received.content.endswith(raw)


def _kind(code: int, text: str) -> str:
    if code == 250 and "held for approval" in text:
        return "held"
    if code == 250:
        return "passed"
    if code == 550 and "5.7.1" in text:
        return "blocked"
    return f"{code} {text}"
