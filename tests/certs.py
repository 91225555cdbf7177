"""Self-signed certificates made at test time (STARTTLS, S/MIME)."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed(attribute: x509.NameAttribute) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An RSA key and a certificate for ``attribute`` (a common name, an email), valid 30 days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([attribute])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def common_name(name: str) -> x509.NameAttribute:
    return x509.NameAttribute(NameOID.COMMON_NAME, name)


def email_address(address: str) -> x509.NameAttribute:
    return x509.NameAttribute(NameOID.EMAIL_ADDRESS, address)
