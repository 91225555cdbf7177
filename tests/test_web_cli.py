"""``dlp-proxy users token EMAIL``: a bearer token for the JSON API, from the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from dlp_proxy.cli import main
from dlp_proxy.config import load_settings
from dlp_proxy.quarantine.from_settings import open_quarantine
from dlp_proxy.web.apitokens import read_api_token
from dlp_proxy.web.secret import load_secret


def _prepare(data_dir: Path) -> None:
    async def setup() -> None:
        store = await open_quarantine(load_settings(environ={}, flags={"data_dir": data_dir}))
        try:
            await store.add_user("boss@dealer.example.jp", password="p" * 12, role="approver")
            await store.add_user("gone@dealer.example.jp", password="p" * 12, role="approver")
            await store.disable_user("gone@dealer.example.jp")
        finally:
            await store.close()

    asyncio.run(setup())


def test_users_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    _prepare(data_dir)
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["users", "token", "Boss@Dealer.example.jp", "--days", "7", "--data-dir", str(data_dir)],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    secret = load_secret(load_settings(environ={}, flags={"data_dir": data_dir}))
    claims = read_api_token(secret, token)
    assert claims is not None and claims.email == "boss@dealer.example.jp"

    async def issued() -> list[str]:
        store = await open_quarantine(load_settings(environ={}, flags={"data_dir": data_dir}))
        try:
            records = await store.audit_log(event="api_token_issued")
        finally:
            await store.close()
        return [r.detail["email"] for r in records if r.actor.startswith("cli:")]

    assert asyncio.run(issued()) == ["boss@dealer.example.jp"]
    assert token not in repr(asyncio.run(issued()))

    for email, message in (
        ("nobody@dealer.example.jp", "no user nobody@dealer.example.jp"),
        ("gone@dealer.example.jp", "user gone@dealer.example.jp is disabled"),
    ):
        refused = runner.invoke(main, ["users", "token", email, "--data-dir", str(data_dir)])
        assert refused.exit_code == 1 and message in refused.output


def test_users_token_needs_an_existing_quarantine(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["users", "token", "a@b.example", "--data-dir", str(tmp_path / "empty")]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
