"""The actions through the running proxy: encrypt, Bcc, tag, block with notices, signed mail."""

from __future__ import annotations

import asyncio
import email
import io
import re
import shutil
from email.message import EmailMessage, Message
from email.policy import SMTP, default
from pathlib import Path

import aiosmtplib
import pytest
import pyzipper

from tests.builders import customers, pdf_bytes, xlsx_bytes
from tests.conftest import ProxyFactory, Received, Sink, via_proxy
from tests.mailcorpus import smime_signed
from tests.test_relay import send

INTERNAL = "example.co.jp"
SENDER = f"tanaka@{INTERNAL}"
PARTNER = "buyer@partner.example"
SEVEN_ZIP = shutil.which("7z") or shutil.which("7zz")
XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REASON = "reason: {ja: 個人データを含む添付ファイル, en: Attachments with personal data}"


def policy(tmp_path: Path, rules: str, extra: str = "") -> Path:
    directory = tmp_path / "policy"
    directory.mkdir(exist_ok=True)
    (directory / "policy.yaml").write_text(
        f"internal_domains: [{INTERNAL}]\n"
        "notices: {from: dlp@example.co.jp, admins: [security@example.co.jp]}\n"
        f"{extra}rules:\n{rules}",
        encoding="utf-8",
    )
    return directory


def rule(
    action: str, *, when: str = "{personal_rows: 1, external_recipients: 1}", more: str = ""
) -> str:
    return f"  - name: r-{action}\n    {REASON}\n    when: {when}\n    action: {action}\n{more}"


def customer_mail(*, to: str = PARTNER, cc: list[str] | None = None, rows: int = 12) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = "お見積りの件"
    message.set_content("いつもお世話になっております。\n添付をご確認ください。\n")
    message.add_alternative("<p>いつもお世話になっております。</p>", subtype="html")
    message.add_attachment(
        xlsx_bytes(customers(rows)),
        maintype="application",
        subtype=XLSX,
        filename="顧客リスト①.xlsx",
    )
    message.add_attachment(
        pdf_bytes(), maintype="application", subtype="pdf", filename="brochure.pdf"
    )
    return message.as_bytes(policy=SMTP)


def parsed(received: Received) -> Message:
    return email.message_from_bytes(received.content, policy=default)


def notices(sink: Sink, kind: str) -> list[Message]:
    return [m for m in map(parsed, sink.messages) if m["X-DLP-Notice"] == kind]


def relayed(sink: Sink) -> list[Received]:
    return [r for r in sink.messages if b"\nX-DLP-Notice:" not in r.content.split(b"\r\n\r\n")[0]]


def password_in(notice: Message) -> str:
    body = notice.get_body(("plain",))
    assert body is not None
    match = re.search(r"(?:■ パスワード|Password)\s*\n\s+(\S+)", body.get_content())
    assert match, body.get_content()
    return match.group(1)


async def seven_zip_test(path: Path, password: str) -> int:
    assert SEVEN_ZIP is not None
    process = await asyncio.create_subprocess_exec(
        SEVEN_ZIP,
        "t",
        f"-p{password}",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait()


def part_bytes(raw: bytes) -> dict[str, bytes]:
    """Each leaf's raw body keyed by its filename or content type, to compare bytes."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = {}
    for part in message.walk():
        if not part.is_multipart():
            key = part.get_filename() or part.get_content_type()
            payload = part.get_payload(decode=False)
            out[str(key)] = payload.encode() if isinstance(payload, str) else payload
    return out


async def test_encrypt_sends_the_password_first_then_the_zipped_copy(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=policy(tmp_path, rule("encrypt"))
    )
    raw = customer_mail()
    errors, _ = await send(proxy.address, raw, sender=SENDER, rcpts=(PARTNER,))
    assert errors == {}
    assert [parsed(m)["X-DLP-Notice"] for m in sink.messages] == ["encrypted", None]
    (notice,) = notices(sink, "encrypted")
    assert notice["To"] == SENDER and sink.messages[0].mail_from == "<>"
    password = password_in(notice)
    (copy,) = relayed(sink)
    assert copy.rcpt_tos == [PARTNER]
    before, after = part_bytes(raw), part_bytes(copy.content)
    assert after["text/plain"] == before["text/plain"]
    assert after["text/html"] == before["text/html"]
    assert after["brochure.pdf"] == before["brochure.pdf"]
    assert "顧客リスト①.xlsx" not in after
    message = parsed(copy)
    (zipped,) = [
        p for p in message.iter_attachments() if p.get_filename() == "顧客リスト①.xlsx.zip"
    ]
    data = zipped.get_payload(decode=True)
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["顧客リスト①.xlsx"]
        with pytest.raises(RuntimeError):
            archive.read("顧客リスト①.xlsx")
        archive.setpassword(password.encode())
        original = email.message_from_bytes(raw, policy=default)
        (sent,) = [p for p in original.iter_attachments() if p.get_filename() == "顧客リスト①.xlsx"]
        assert archive.read("顧客リスト①.xlsx") == sent.get_payload(decode=True)
    if not SEVEN_ZIP:
        pytest.fail("7-Zip is not installed; scripts/test-deps installs it")
    path = tmp_path / "copy.zip"
    path.write_bytes(data)
    assert await seven_zip_test(path, password) == 0
    assert await seven_zip_test(path, "wrong") != 0


async def test_encrypt_all_attachments_when_the_rule_says_so(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path, rule("encrypt", more="    encrypt_attachments: all\n"))
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    await send(proxy.address, customer_mail(), sender=SENDER, rcpts=(PARTNER,))
    (copy,) = relayed(sink)
    names = {p.get_filename() for p in parsed(copy).iter_attachments()}
    assert names == {"顧客リスト①.xlsx.zip", "brochure.pdf.zip"}


async def test_no_password_notice_no_encrypted_copy(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    sink.behaviour.refuse = {SENDER: "452 4.2.2 Mailbox full"}
    proxy = await start_proxy(
        next_hop=via_proxy(sink), policy_dir=policy(tmp_path, rule("encrypt"))
    )
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, customer_mail(), sender=SENDER, rcpts=(PARTNER,))
    assert failure.value.code == 451
    assert sink.messages == []


async def test_bcc_hides_external_addresses_and_everyone_still_receives(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    cc = [f"customer{i}@mail{i % 5}.example" for i in range(29)]
    directory = policy(tmp_path, rule("bcc", when="{external_visible: 10}"))
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    raw = _plain(cc)
    rcpts = (f"boss@{INTERNAL}", *cc)
    errors, _ = await send(proxy.address, raw, sender=SENDER, rcpts=rcpts)
    assert errors == {}
    (copy,) = relayed(sink)
    assert copy.rcpt_tos == list(rcpts)
    head = copy.content.partition(b"\r\n\r\n")[0]
    assert b"customer" not in head
    assert f"To: boss@{INTERNAL}".encode() in head
    assert b"\r\nCc:" not in head
    assert copy.content.endswith(raw.partition(b"\r\n\r\n")[2])  # the body untouched


def _plain(cc: list[str]) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = f"boss@{INTERNAL}"
    message["Cc"] = ", ".join(cc)
    message["Subject"] = "新車発表会のご案内"
    message.set_content("皆様\n\n新車発表会のご案内です。\n")
    return message.as_bytes(policy=SMTP)


async def test_tag_adds_headers_for_downstream(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path, rule("tag", when="{external_recipients: 1}"))
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    raw = _plain([PARTNER])
    await send(proxy.address, raw, sender=SENDER, rcpts=(PARTNER,))
    (copy,) = relayed(sink)
    message = parsed(copy)
    assert message["X-DLP-Decision"] == "tag"
    assert message["X-DLP-Rules"] == "r-tag"
    assert message["X-DLP-Policy"] == proxy.policies.current.policy.version  # type: ignore[union-attr]
    assert copy.content.endswith(raw)


@pytest.mark.parametrize("language", ["ja", "en"])
async def test_block_notices_the_sender_and_admins(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path, language: str
) -> None:
    directory = policy(tmp_path, rule("block"), extra="directory: people.csv\n")
    (directory / "people.csv").write_text(f"email,name,language\n{SENDER},田中 一郎,{language}\n")
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    rows = customers(12)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, customer_mail(), sender=SENDER, rcpts=(PARTNER,))
    assert failure.value.code == 550
    assert relayed(sink) == []
    (blocked,) = notices(sink, "blocked")
    (alert,) = notices(sink, "admin_alert")
    assert blocked["To"].addresses[0].addr_spec == SENDER
    assert alert["To"] == "security@example.co.jp"
    assert blocked["Content-Language"] == language
    text = blocked.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "12" in text and "*" in text  # counts and masked samples
    everything = b"".join(m.content for m in sink.messages).decode("utf-8", "replace")
    for name, _, phone, mail in rows:
        for value in (name, phone, mail):
            assert value not in everything  # never a full cell value
    assert "顧客リスト" not in alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_signed_mail_is_held_rather_than_modified(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path, rule("encrypt"), extra="unmodifiable: hold\n")
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    _, reply = await send(proxy.address, smime_signed(), sender=SENDER, rcpts=(PARTNER,))
    assert "held for approval" in reply
    assert relayed(sink) == []
    assert proxy.quarantine is not None
    (held,) = await proxy.quarantine.list()
    assert "message-cannot-be-modified" in held.rules


async def test_signed_mail_can_be_blocked_rather_than_modified(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path, rule("encrypt"), extra="unmodifiable: block\n")
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await send(proxy.address, smime_signed(), sender=SENDER, rcpts=(PARTNER,))
    assert failure.value.code == 550
    assert "message-cannot-be-modified" in failure.value.message
    assert relayed(sink) == []


async def test_null_sender_cannot_get_a_password(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path, rule("encrypt"), extra="unmodifiable: block\n")
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    client = aiosmtplib.SMTP(hostname=proxy.address[0], port=proxy.address[1], start_tls=False)
    await client.connect()
    await client.ehlo()
    await client.execute_command(b"MAIL", b"FROM:<>")
    await client.execute_command(b"RCPT", f"TO:<{PARTNER}>".encode())
    with pytest.raises(aiosmtplib.SMTPDataError) as failure:
        await client.data(customer_mail())
    client.close()
    assert failure.value.code == 550 and "cannot-be-modified" in failure.value.message


async def test_password_to_recipients_is_an_option_sent_after_the_copy(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    directory = policy(tmp_path, rule("encrypt"))
    text = (directory / "policy.yaml").read_text(encoding="utf-8")
    (directory / "policy.yaml").write_text(
        text.replace(
            "admins: [security@example.co.jp]}", "admins: [], password_to_recipients: true}"
        ),
        encoding="utf-8",
    )
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    await send(proxy.address, customer_mail(), sender=SENDER, rcpts=(PARTNER,))
    kinds = [parsed(m)["X-DLP-Notice"] for m in sink.messages]
    assert kinds == ["encrypted", None, "encrypted_recipient_password"]
    (to_sender,) = notices(sink, "encrypted")
    (to_partner,) = notices(sink, "encrypted_recipient_password")
    assert sink.messages[2].rcpt_tos == [PARTNER]
    assert password_in(to_partner) == password_in(to_sender)


async def test_bcc_can_hide_internal_addresses_too(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    cc = [f"customer{i}@mail{i % 5}.example" for i in range(12)]
    directory = policy(
        tmp_path,
        rule("bcc", when="{external_visible: 10}"),
        extra="bcc: {keep_internal_visible: false}\n",
    )
    proxy = await start_proxy(next_hop=via_proxy(sink), policy_dir=directory)
    await send(proxy.address, _plain(cc), sender=SENDER, rcpts=(f"boss@{INTERNAL}", *cc))
    (copy,) = relayed(sink)
    head = copy.content.partition(b"\r\n\r\n")[0]
    assert b"To: undisclosed-recipients:;" in head and b"boss@" not in head
    assert len(copy.rcpt_tos) == 13
