from __future__ import annotations

import ctypes
import io
import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import pyzipper
from click.testing import CliRunner

from dlp_proxy.cli import main
from tests.builders import csv_bytes, customers, message, xlsx_bytes, zip_bytes

ROWS = customers(15)
DLP_PROXY = Path(sys.executable).with_name("dlp-proxy")
CONTRACT_ATTACHMENT_KEYS = {
    "path",
    "type",
    "personal_rows",
    "persons",
    "columns",
    "status",
    "unscannable",
}


def _aes_zip() -> bytes:
    out = io.BytesIO()
    with pyzipper.AESZipFile(out, "w", encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"pw-2024")
        archive.writestr("secret.csv", csv_bytes(ROWS))
    return out.getvalue()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A directory as an admin would point the command at: mail, files, nesting, no names."""
    (tmp_path / "mail").mkdir()
    (tmp_path / "files" / "deeper").mkdir(parents=True)
    mail = message(attachments=[(xlsx_bytes(ROWS), "application/octet-stream", "report.dat")])
    (tmp_path / "mail" / "out.eml").write_bytes(mail.as_bytes())
    (tmp_path / "mail" / "1700000000.M1P2.host").write_bytes(mail.as_bytes())  # Maildir: no suffix
    (tmp_path / "files" / "list.csv").write_bytes(csv_bytes(ROWS, encoding="cp932"))
    (tmp_path / "files" / "deeper" / "both.zip").write_bytes(
        zip_bytes([("inner.csv", csv_bytes(ROWS)), ("locked.zip", _aes_zip())])
    )
    (tmp_path / "files" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return tmp_path


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["scan", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_json_contract_over_a_directory(corpus: Path) -> None:
    code, out, err = _invoke(str(corpus), "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    by_source = {
        Path(f["source"]).relative_to(corpus).as_posix(): f["attachments"]
        for f in document["files"]
    }
    assert sorted(by_source) == [
        "files/deeper/both.zip",
        "files/list.csv",
        "files/photo.png",
        "mail/1700000000.M1P2.host",
        "mail/out.eml",
    ]
    for attachments in by_source.values():
        for attachment in attachments:
            assert attachment.keys() >= CONTRACT_ATTACHMENT_KEYS
            for column in attachment["columns"]:
                assert {"sheet", "header", "kind"} <= column.keys()
    summary = {
        source: [(a["path"], a["type"], a["personal_rows"], a["unscannable"]) for a in attachments]
        for source, attachments in by_source.items()
    }
    assert summary["mail/out.eml"] == [("report.dat", "xlsx", len(ROWS), None)]
    assert summary["mail/1700000000.M1P2.host"] == summary["mail/out.eml"]
    assert summary["files/list.csv"] == [("list.csv", "csv", len(ROWS), None)]
    assert summary["files/photo.png"] == [("photo.png", "png", 0, None)]
    assert summary["files/deeper/both.zip"] == [
        ("both.zip", "zip", 0, None),
        ("both.zip/inner.csv", "csv", len(ROWS), None),
        ("both.zip/locked.zip", "zip", 0, None),
        ("both.zip/locked.zip/secret.csv", "csv", 0, "encrypted"),
    ]
    assert document["errors"] == []
    status = {
        a["path"]: (a["status"], a["read_as"])
        for attachments in by_source.values()
        for a in attachments
    }
    assert status["photo.png"] == ("not-applicable", "not-applicable")
    assert status["both.zip"] == ("read", "container")
    assert status["both.zip/inner.csv"] == ("read", "table")
    assert status["both.zip/locked.zip/secret.csv"] == ("unscannable", None)


def test_table_is_readable_and_escapes_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    hostile = "list\x1b[2J.csv"
    path.write_bytes(message(attachments=[(csv_bytes(ROWS), "text/csv", hostile)]).as_bytes())
    code, out, _ = _invoke(str(path))
    assert code == 0
    assert "\x1b" not in out
    assert "list\\x1b[2J.csv" in out
    assert str(len(ROWS)) in out
    assert "Scanning" not in out  # no progress bar off a terminal
    assert out.rstrip().endswith("1 unscannable") is False
    assert f"{len(ROWS)} personal rows in 1 attachment(s); 0 unscannable" in out


def test_unscannable_is_still_exit_0(tmp_path: Path) -> None:
    path = tmp_path / "locked.zip"
    path.write_bytes(_aes_zip())
    code, out, _ = _invoke(str(path))
    assert code == 0
    assert "unscannable: encrypted (password-protected zip member)" in out


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _dangling(tmp_path: Path) -> Path:
    path = tmp_path / "dangling.csv"
    path.symlink_to(tmp_path / "gone.csv")
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing.eml", "no such file or directory"),
        (_fifo, "not a regular file"),
        (_dangling, "broken symbolic link"),
    ],
    ids=["missing", "fifo", "dangling-symlink"],
)
def test_unreadable_path_is_exit_2_after_the_rest(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    good = tmp_path / "list.csv"
    good.write_bytes(csv_bytes(ROWS))
    bad = make(tmp_path)
    code, out, err = _invoke(str(bad), str(good), "--json")
    assert code == 2
    assert err.strip() == f"dlp-proxy scan: cannot read {bad}: {reason}"
    document = json.loads(out)
    assert [f["source"] for f in document["files"]] == [str(good)]
    assert document["errors"] == [{"source": str(bad), "error": reason}]


def test_no_path_is_a_usage_error() -> None:
    code, _, err = _invoke()
    assert code == 2
    assert "Missing argument 'PATHS...'" in err


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


def _without_file_override() -> None:
    """In the child: drop root's power to read any file, so mode 000 means what it says."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_real_process_exit_codes_and_json(tmp_path: Path) -> None:
    """The installed console script, as an admin runs it; permission denied as a normal user."""
    locked = tmp_path / "locked.zip"
    locked.write_bytes(_aes_zip())
    ok = subprocess.run(
        [str(DLP_PROXY), "scan", str(locked), "--json"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    [file] = json.loads(ok.stdout)["files"]
    assert file["attachments"][1].keys() >= CONTRACT_ATTACHMENT_KEYS
    assert [a["unscannable"] for a in file["attachments"]] == [None, "encrypted"]

    secret = tmp_path / "secret.csv"
    secret.write_bytes(csv_bytes(ROWS))
    secret.chmod(0)
    denied = subprocess.run(
        [str(DLP_PROXY), "scan", str(secret), str(locked)],
        capture_output=True,
        timeout=120,
        check=False,
        preexec_fn=_without_file_override if os.geteuid() == 0 else None,
    )
    assert denied.returncode == 2, denied.stderr
    assert (
        denied.stderr.decode().strip() == f"dlp-proxy scan: cannot read {secret}: Permission denied"
    )
    assert b"locked.zip" in denied.stdout


def test_progress_bar_on_a_terminal(corpus: Path) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(DLP_PROXY), "scan", str(corpus)],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = output.decode()
    assert "Scanning" in text
    assert "5 file(s) read, 0 unreadable" in text
