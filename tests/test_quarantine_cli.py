"""dlp-proxy queue, users and audit against a real SQLite quarantine in a data directory."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner, Result

from dlp_proxy.cli import main
from dlp_proxy.cli_quarantine import cli_actor
from dlp_proxy.config import load_settings
from dlp_proxy.quarantine import NewHold, Quarantine
from dlp_proxy.quarantine.from_settings import open_quarantine
from tests.qstore import new_hold

DLP_PROXY = Path(sys.executable).with_name("dlp-proxy")
pytestmark = pytest.mark.usefixtures("fast_argon2")
T = TypeVar("T")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("DLP_PROXY_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


def with_store(data_dir: Path, work: Callable[[Quarantine], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await open_quarantine(load_settings(environ={}, flags={"data_dir": data_dir}))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def seed(data_dir: Path, *holds: NewHold) -> None:
    async def work(store: Quarantine) -> None:
        for hold in holds:
            await store.hold(hold)

    with_store(data_dir, work)


def cli(data_dir: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=input)


def test_queue_list_json_has_what_scripts_need(data_dir: Path) -> None:
    seed(data_dir, new_hold("Q1"), new_hold("Q2", sender="other@dealer.example.jp"))
    result = cli(data_dir, "queue", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = {m["id"]: m for m in json.loads(result.output)}
    assert set(listed) == {"Q1", "Q2"}
    q2 = listed["Q2"]
    assert q2["state"] == "held"
    assert q2["sender"] == "other@dealer.example.jp"
    assert q2["recipients"] == ["a@customer.example.com", "b@customer.example.com"]
    assert q2["rules"] == ["customer-list-external"]
    assert datetime.fromisoformat(q2["received_at"]).utcoffset() == timedelta(0)
    assert q2["approvers"] == ["manager@dealer.example.jp"]
    assert "content" not in q2

    table = cli(data_dir, "queue", "list")
    assert table.exit_code == 0
    assert "Q1" in table.output and "customer-list-external" in table.output


def test_approve_from_the_cli(data_dir: Path) -> None:
    seed(data_dir, new_hold("Q1"), new_hold("Q2"))
    result = cli(data_dir, "queue", "approve", "Q1", "--comment", "業務上必要")
    assert result.exit_code == 0, result.output
    assert "release worker" in result.output and "dlp-proxy serve" in result.output
    message = with_store(data_dir, lambda s: s.get("Q1"))
    assert message is not None
    assert (message.state, message.decided_by, message.comment) == (
        "approved",
        cli_actor(),
        "業務上必要",
    )
    trail = with_store(data_dir, lambda s: s.audit_log(message_id="Q1"))
    assert (trail[0].event, trail[0].actor, trail[0].via) == ("approved", cli_actor(), "cli")
    assert trail[0].detail["as_admin"] is True

    again = cli(data_dir, "queue", "approve", "Q1")
    assert again.exit_code == 1
    assert "message Q1 is approved, not held" in again.output
    assert [
        m["id"]
        for m in json.loads(cli(data_dir, "queue", "list", "--json", "--state", "held").output)
    ] == ["Q2"]


def test_reject_and_unknown_ids(data_dir: Path) -> None:
    seed(data_dir, new_hold("Q1"))
    result = cli(data_dir, "queue", "reject", "Q1", "--comment", "外部送信不可")
    assert result.exit_code == 0, result.output
    message = with_store(data_dir, lambda s: s.get("Q1"))
    assert message is not None and message.state == "rejected"
    missing = cli(data_dir, "queue", "reject", "NOPE")
    assert missing.exit_code == 1
    assert "no held message NOPE" in missing.output
    assert cli(data_dir, "queue", "show", "NOPE").exit_code == 1


def test_show(data_dir: Path) -> None:
    seed(data_dir, new_hold("Q1"))
    cli(data_dir, "queue", "reject", "Q1", "--comment", "no")
    human = cli(data_dir, "queue", "show", "Q1")
    assert human.exit_code == 0, human.output
    for expected in (
        "state:       rejected",
        "customer-list-external",
        "list.xlsx",
        "40 personal rows",
        "held",
        f"rejected        {cli_actor()} via cli — no",
    ):
        assert expected in human.output
    shown = json.loads(cli(data_dir, "queue", "show", "Q1", "--json").output)
    assert shown["id"] == "Q1" and shown["state"] == "rejected"
    assert [e["event"] for e in shown["history"]] == ["held", "rejected"]


def test_expire(data_dir: Path, tmp_path: Path) -> None:
    seed(
        data_dir,
        new_hold("OLD", expires_in=timedelta(seconds=-1)),
        new_hold("NEW"),
    )
    no_policy = tmp_path / "no-policy"
    result = cli(data_dir, "queue", "expire", "--policy-dir", str(no_policy))
    assert result.exit_code == 0, result.output
    assert "OLD: expired" in result.output and "1 timed-out message(s) expired" in result.output
    seed(data_dir, new_hold("OLD2", expires_in=timedelta(seconds=-1)))
    result = cli(data_dir, "queue", "expire", "--on-expiry", "release")
    assert "OLD2: approved" in result.output
    states = {m.id: m.state for m in with_store(data_dir, lambda s: s.list())}
    assert states == {"OLD": "expired", "OLD2": "approved", "NEW": "held"}


def test_purge(data_dir: Path) -> None:
    seed(data_dir, new_hold("Q1"), new_hold("Q2"))
    cli(data_dir, "queue", "reject", "Q1")
    result = cli(data_dir, "queue", "purge")
    assert "purged the content of 0 message(s) final for more than 30 days" in result.output
    result = cli(data_dir, "queue", "purge", "--retention-days", "0")
    assert result.exit_code == 0, result.output
    assert "purged the content of 1 message(s)" in result.output
    listed = {
        m["id"]: m["purged"] for m in json.loads(cli(data_dir, "queue", "list", "--json").output)
    }
    assert listed == {"Q1": True, "Q2": False}


def test_users(data_dir: Path) -> None:
    added = cli(
        data_dir,
        "users",
        "add",
        "Boss@Dealer.example.jp",
        "--role",
        "approver",
        "--language",
        "ja",
        "--password-stdin",
        input="long enough pw\n",
    )
    assert added.exit_code == 0, added.output
    assert "added approver boss@dealer.example.jp" in added.output
    prompted = cli(
        data_dir,
        "users",
        "add",
        "admin@dealer.example.jp",
        "--role",
        "admin",
        input="s3cret-pass\ns3cret-pass\n",
    )
    assert prompted.exit_code == 0, prompted.output
    listed = json.loads(cli(data_dir, "users", "list", "--json").output)
    assert [(u["email"], u["role"], u["language"]) for u in listed] == [
        ("admin@dealer.example.jp", "admin", None),
        ("boss@dealer.example.jp", "approver", "ja"),
    ]
    assert "hash" not in json.dumps(listed)
    assert (
        with_store(data_dir, lambda s: s.verify_user("admin@dealer.example.jp", "s3cret-pass"))
        is not None
    )

    assert (
        cli(
            data_dir,
            "users",
            "passwd",
            "boss@dealer.example.jp",
            "--password-stdin",
            input="a new password\n",
        ).exit_code
        == 0
    )
    assert (
        with_store(data_dir, lambda s: s.verify_user("boss@dealer.example.jp", "a new password"))
        is not None
    )
    assert cli(data_dir, "users", "disable", "boss@dealer.example.jp").exit_code == 0
    assert (
        with_store(data_dir, lambda s: s.verify_user("boss@dealer.example.jp", "a new password"))
        is None
    )
    table = cli(data_dir, "users", "list").output
    assert "disabled" in table and "active" in table
    trail = with_store(data_dir, lambda s: s.audit_log())
    assert [e.event for e in trail] == [
        "user_disabled",
        "password_changed",
        "user_added",
        "user_added",
    ]
    assert {e.actor for e in trail} == {cli_actor()}


@pytest.mark.parametrize(
    ("args", "input", "message"),
    [
        (["--password-stdin"], "short\n", "at least 8 characters"),
        ([], "one password\nanother one\n", "do not match"),
        (["--password-stdin", "--role", "root"], "long enough pw\n", "'root' is not one of"),
    ],
    ids=["short", "mismatch", "role"],
)
def test_users_add_refuses(data_dir: Path, args: list[str], input: str, message: str) -> None:
    base = ["users", "add", "x@dealer.example.jp", *args]
    if "--role" not in args:
        base += ["--role", "admin"]
    result = cli(data_dir, *base, input=input)
    assert result.exit_code != 0
    assert message in result.output
    assert with_store(data_dir, lambda s: s.users()) == []


def test_duplicate_and_unknown_users(data_dir: Path) -> None:
    args = ["users", "add", "x@dealer.example.jp", "--role", "admin", "--password-stdin"]
    assert cli(data_dir, *args, input="long enough pw\n").exit_code == 0
    again = cli(data_dir, *args, input="long enough pw\n")
    assert again.exit_code == 1 and "exists already" in again.output
    unknown = cli(data_dir, "users", "disable", "nobody@dealer.example.jp")
    assert unknown.exit_code == 1 and "no user nobody@dealer.example.jp" in unknown.output


def test_audit_export(data_dir: Path) -> None:
    seed(data_dir, new_hold("Q1"))
    cli(data_dir, "queue", "approve", "Q1", "--comment", "=1+1")
    exported = cli(data_dir, "audit", "--csv")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [r["event"] for r in rows] == ["held", "approved"]
    assert json.loads(rows[1]["detail"])["comment"] == "=1+1"
    listed = json.loads(cli(data_dir, "audit", "--json", "--message", "Q1").output)
    assert [r["event"] for r in listed] == ["approved", "held"]


def test_database_down_is_a_clear_error(data_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli(
        data_dir,
        "queue",
        "list",
        "--quarantine-url",
        f"postgresql://postgres@127.0.0.1:{port}/test",
    )
    assert result.exit_code == 1
    assert "quarantine database unavailable" in result.output


def test_settings_errors_are_usage_errors(data_dir: Path) -> None:
    result = cli(data_dir, "queue", "list", "--quarantine-url", "mysql://x@y/z")
    assert result.exit_code == 2
    assert "--quarantine-url: quarantine_url: Value error, expected sqlite" in result.output


def test_serve_takes_the_same_settings_options() -> None:
    serve = CliRunner().invoke(main, ["serve", "--help"]).output
    queue = CliRunner().invoke(main, ["queue", "list", "--help"]).output
    users = CliRunner().invoke(main, ["users", "add", "--help"]).output
    for option in ("--config", "--data-dir", "--quarantine-url", "--policy-dir"):
        assert option in serve and option in queue and option in users


def _run(
    *args: str, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DLP_PROXY), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_as_a_real_process_with_settings_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "held.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DLP_PROXY_")},
        "DLP_PROXY_DATA_DIR": str(tmp_path / "var"),
        "DLP_PROXY_QUARANTINE_URL": f"sqlite:///{db}",
    }
    added = _run(
        "users",
        "add",
        "boss@dealer.example.jp",
        "--role",
        "approver",
        "--password-stdin",
        env=env,
        input="long enough pw\n",
    )
    assert added.returncode == 0, added.stderr
    queue = _run("queue", "list", "--json", env=env)
    assert queue.returncode == 0, queue.stderr
    assert json.loads(queue.stdout) == []
    assert db.exists()
    assert (tmp_path / "var" / "quarantine.key").exists()
    assert not (tmp_path / "var" / "quarantine.db").exists()
    listed = CliRunner().invoke(
        main, ["users", "list", "--json"], env={k: env[k] for k in env if "DLP_PROXY" in k}
    )
    assert [u["email"] for u in json.loads(listed.output)] == ["boss@dealer.example.jp"]
