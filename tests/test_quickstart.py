"""The README's quick start, as a new user runs it: serve, add a user, send, approve, find."""

from __future__ import annotations

import asyncio
import email
import json
import sys
from email.policy import default
from pathlib import Path

import httpx

from tests.test_service import serve

REPO = Path(__file__).resolve().parent.parent


async def cli(*args: str, cwd: Path, stdin: bytes | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dlp_proxy",
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    assert process.returncode == 0, (args, out.decode(), err.decode())
    return out.decode()


async def test_quick_start(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "var")]
    async with serve(
        tmp_path, "--listen", "127.0.0.1:0", "--policy-dir", str(REPO / "policies")
    ) as proxy:
        (listening,) = await proxy.wait_for("listening")
        smtp, web = listening["address"], listening["web"]
        await cli(
            "users",
            "add",
            "admin@example.co.jp",
            "--role",
            "admin",
            "--password-stdin",
            *data,
            cwd=tmp_path,
            stdin=b"Passw0rd-for-the-quick-start\n",
        )
        sent = await cli(
            "send", str(REPO / "examples" / "customer-list.eml"), "--server", smtp, cwd=tmp_path
        )
        assert "250 2.0.0 Ok: held for approval as" in sent
        queue_id = sent.strip().rsplit(" ", 1)[-1]
        listed = json.loads(await cli("queue", "list", "--json", *data, cwd=tmp_path))
        assert [m["id"] for m in listed] == [queue_id]
        assert listed[0]["rules"] == ["personal-data-to-external"]

        token = (await cli("users", "token", "admin@example.co.jp", *data, cwd=tmp_path)).strip()
        async with httpx.AsyncClient(base_url=web) as client:
            answer = await client.post(
                f"/api/v1/messages/{queue_id}/approve",
                json={"comment": "OK"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200, answer.text
        outbox = tmp_path / "var" / "outbox"
        async with asyncio.timeout(20):
            while len(list(outbox.glob("*.eml"))) < 3:
                await asyncio.sleep(0.1)
    kinds = {}
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        kinds[message["X-DLP-Notice"]] = message
    assert set(kinds) == {"encrypted", "released", None}
    released = kinds[None]
    assert {p.get_filename() for p in released.iter_attachments()} == {"顧客リスト.xlsx.zip"}
