"""STARTTLS is offered when a certificate is configured, and mail flows over it."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from dlp_proxy.cli import main
from tests.certs import common_name, self_signed
from tests.conftest import ProxyFactory, Sink, via_proxy
from tests.test_relay import message


def write_certificate(directory: Path) -> tuple[Path, Path]:
    key, cert = self_signed(common_name("proxy.test"))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_starttls_offered_and_used(
    start_proxy: ProxyFactory, sink: Sink, tmp_path: Path
) -> None:
    cert, key = write_certificate(tmp_path)
    proxy = await start_proxy(next_hop=via_proxy(sink), tls_cert=cert, tls_key=key)
    client = aiosmtplib.SMTP(
        hostname=proxy.address[0], port=proxy.address[1], start_tls=False, validate_certs=False
    )
    await client.connect()
    await client.ehlo()
    assert "starttls" in client.esmtp_extensions
    await client.starttls()
    await client.ehlo()
    assert "auth" not in client.esmtp_extensions  # no AUTH: access is by network, not password
    raw = message()
    errors, _ = await client.sendmail("s@example.jp", ["r@example.com"], raw)
    client.close()
    assert errors == {}
    assert b"with ESMTPS id" in sink.messages[0].content
    assert sink.messages[0].content.endswith(raw)


def test_unreadable_certificate_is_a_start_up_error(tmp_path: Path) -> None:
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate")
    result = CliRunner().invoke(
        main, ["serve", "--listen", "127.0.0.1:0", "--tls-cert", str(bad), "--tls-key", str(bad)]
    )
    assert result.exit_code == 1


@pytest.mark.parametrize("missing", ["--tls-cert", "--tls-key"])
def test_certificate_and_key_come_together(tmp_path: Path, missing: str) -> None:
    result = CliRunner().invoke(main, ["serve", missing, str(tmp_path / "x.pem")])
    assert result.exit_code == 2
    assert "tls_cert and tls_key must be given together" in result.output
