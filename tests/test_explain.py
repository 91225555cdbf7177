"""`policy explain` and `scan` on messages: findings, recipients, the decision and why."""

from __future__ import annotations

import json
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlp_proxy.cli import main

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS = [f"customer{i}@mail{i % 7}.example" for i in range(29)]


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(REPO / "policies", directory)
    (directory / "local.yaml").write_text("internal_domains: [example.co.jp]\n")
    return directory


def write_message(directory: Path, *, cc: list[str], to: str = "boss@example.co.jp") -> Path:
    message = EmailMessage()
    message["From"] = "tanaka@example.co.jp"
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = "ご案内"
    message.set_content("本文です。\n")
    path = directory / "message.eml"
    path.write_bytes(message.as_bytes())
    return path


def test_scan_json_adds_recipients_and_decision(tmp_path: Path, policy_dir: Path) -> None:
    eml = write_message(tmp_path, cc=CUSTOMERS)
    result = CliRunner().invoke(main, ["scan", "--json", "--policy-dir", str(policy_dir), str(eml)])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["files"]
    assert entry["recipients"] == {
        "internal": 1,
        "external_visible": 29,
        "external_envelope_only": 0,
        "external_domains": 7,
    }
    assert entry["decision"]["action"] == "hold"
    assert [r["name"] for r in entry["decision"]["rules"]] == ["many-visible-external-addresses"]
    assert "not_matched" not in entry["decision"]


def test_scan_without_a_policy_has_recipients_but_no_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./policies here
    eml = write_message(tmp_path, cc=CUSTOMERS[:2])
    result = CliRunner().invoke(main, ["scan", "--json", str(eml)])
    (entry,) = json.loads(result.output)["files"]
    # Without a policy no domain is internal: the To address counts as external too.
    assert entry["recipients"]["external_visible"] == 3
    assert entry["recipients"]["internal"] == 0
    assert "decision" not in entry


def test_explain_json_is_the_scan_entry_plus_rules_not_matched(
    tmp_path: Path, policy_dir: Path
) -> None:
    eml = write_message(tmp_path, cc=CUSTOMERS)
    runner = CliRunner()
    scanned = json.loads(
        runner.invoke(main, ["scan", "--json", "--policy-dir", str(policy_dir), str(eml)]).output
    )["files"][0]
    result = runner.invoke(
        main, ["policy", "explain", "--json", "--policy-dir", str(policy_dir), str(eml)]
    )
    assert result.exit_code == 0, result.output
    explained = json.loads(result.output)
    not_matched = explained["decision"].pop("not_matched")
    assert explained == scanned
    assert {r["name"] for r in not_matched} == {
        "appi-reportable-volume",
        "personal-data-to-external",
        "unscannable-attachment-to-external",
        "scanned-pdf-to-external",
    }
    appi = next(r for r in not_matched if r["name"] == "appi-reportable-volume")
    assert any(line.startswith("✗") for line in appi["why"])
    assert not appi["matched"]


def test_explain_text(tmp_path: Path, policy_dir: Path) -> None:
    eml = write_message(tmp_path, cc=[], to="colleague@tokyo.example.co.jp")
    result = CliRunner().invoke(
        main, ["policy", "explain", "--policy-dir", str(policy_dir), str(eml)]
    )
    assert result.exit_code == 0
    assert "recipients: 1 internal, 0 external" in result.output
    assert "appi-reportable-volume: no match -> block (enforce)" in result.output
    assert "✗ external recipients is 0 (>= 1)" in result.output
    assert "decision: pass" in result.output


def test_explain_refuses_a_broken_policy(tmp_path: Path, policy_dir: Path) -> None:
    (policy_dir / "zz.yaml").write_text("rules:\n  - name: x\n    action: nope\n")
    eml = write_message(tmp_path, cc=[])
    result = CliRunner().invoke(
        main, ["policy", "explain", "--policy-dir", str(policy_dir), str(eml)]
    )
    assert result.exit_code == 2
    assert "zz.yaml:2: rules[5].reason: Field required" in result.output
