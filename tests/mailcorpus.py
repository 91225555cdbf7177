"""Messages for the rewriting tests: built with the email package, signed with cryptography,
and written by hand where real mailers do what the email package never would."""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from tests.builders import csv_bytes, customers, xlsx_bytes
from tests.certs import email_address, self_signed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CIRCLED_ONE = b"\x1b$B\x2d\x21\x1b(B"  # ① as Windows writes it in ISO-2022-JP (NEC row 13)
JIS_NAME = "顧客一覧".encode("iso2022_jp") + CIRCLED_ONE + b".xlsx"  # 顧客一覧①.xlsx
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@dataclass(frozen=True)
class Sample:
    """A message, the sections to encrypt in it with their file names as inspection decodes
    them, and what ``signature`` must say about it."""

    name: str
    raw: bytes
    encrypt: tuple[tuple[str, str], ...] = ()
    signed: str | None = None


def crlf(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def encoded_word(data: bytes, charset: str = "ISO-2022-JP") -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


@functools.cache
def workbook() -> bytes:
    return xlsx_bytes(customers(30))


@functools.cache
def customer_csv() -> bytes:
    return csv_bytes(customers(12, seed=5))


def _email_package_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sales@dealer.example.jp"
    msg["To"] = "customer@example.com, 山田 太郎 <yamada@dealer.example.jp>"
    msg["Subject"] = "見積書の送付"
    msg.set_content("お世話になっております。\n資料を添付します。\n")
    return msg


def email_mixed() -> bytes:
    msg = _email_package_message()
    msg.add_attachment(
        workbook(),
        maintype="application",
        subtype=XLSX.split("/")[1],
        filename="顧客リスト_2024年度.xlsx",
    )
    msg.add_attachment(customer_csv(), maintype="text", subtype="csv", filename="list.csv")
    return msg.as_bytes(policy=SMTP)


def email_alternative_related() -> bytes:
    msg = _email_package_message()
    msg.add_alternative(
        '<html><body><p>資料です</p><img src="cid:logo@dealer.example.jp"></body></html>',
        subtype="html",
    )
    html = msg.get_payload()[1]
    assert isinstance(html, EmailMessage)
    html.add_related(
        PNG,
        maintype="image",
        subtype="png",
        cid="<logo@dealer.example.jp>",
        disposition="inline",
        filename="logo.png",
    )
    msg.add_attachment(
        workbook(), maintype="application", subtype=XLSX.split("/")[1], filename="契約者一覧.xlsx"
    )
    return msg.as_bytes(policy=SMTP)


def email_forwarded() -> bytes:
    inner = EmailMessage()
    inner["From"] = "honsha@dealer.example.jp"
    inner["To"] = "sales@dealer.example.jp"
    inner["Subject"] = "顧客データ"
    inner.set_content("本社からの資料です。\n")
    inner.add_attachment(customer_csv(), maintype="text", subtype="csv", filename="顧客.csv")
    outer = _email_package_message()
    outer.add_attachment(inner)
    outer.add_attachment(
        workbook(), maintype="application", subtype=XLSX.split("/")[1], filename="追加分.xlsx"
    )
    return outer.as_bytes(policy=SMTP)


def raw_iso2022jp() -> bytes:
    """Written the way older Japanese mailers write: ISO-2022-JP text and an encoded-word name
    in both parameters, a preamble and an epilogue."""
    return crlf(
        b"From: " + encoded_word("営業部".encode("iso2022_jp")) + b" <sales@dealer.example.jp>\n"
        b"To: customer@example.com\n"
        b"Subject: " + encoded_word("資料".encode("iso2022_jp")) + b"\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="----=_NextPart_000_0001"\n'
        b"\n"
        b"This is a multi-part message in MIME format.\n"
        b"\n"
        b"------=_NextPart_000_0001\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\n"
        b"Content-Transfer-Encoding: 7bit\n"
        b"\n" + "お世話になっております。".encode("iso2022_jp") + b"\n"
        b"\n"
        b"------=_NextPart_000_0001\n"
        b'Content-Type: application/vnd.ms-excel; name="' + encoded_word(JIS_NAME) + b'"\n'
        b"Content-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="' + encoded_word(JIS_NAME) + b'"\n'
        b"\n" + b64(workbook()) + b"\n"
        b"------=_NextPart_000_0001--\n"
        b"\n"
        b"epilogue: ignored by readers\n"
    )


def raw_rfc2231() -> bytes:
    """A Shift_JIS CSV named in RFC 2231 continuations, quoted-printable text beside it."""
    name = "見積書_2024年度_顧客.csv".encode()
    encoded = "".join(f"%{byte:02X}" for byte in name)
    return crlf(
        b"From: sales@dealer.example.jp\n"
        b"To: customer@example.com\n"
        b"Subject: csv\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed;\n"
        b'\tboundary="=_b2231"\n'
        b"\n"
        b"--=_b2231\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n"
        b"\n"
        b"=E3=81=8A=E4=B8=96=E8=A9=B1=E3=81=AB=E3=81=AA=E3=81=A3=E3=81=A6=E3=81=8A=\n"
        b"=E3=82=8A=E3=81=BE=E3=81=99=E3=80=82\n"
        b"--=_b2231\n"
        b"Content-Type: text/csv; charset=Shift_JIS\n"
        b"Content-Disposition: attachment;\n"
        b" filename*0*=UTF-8''" + encoded[:45].encode() + b";\n"
        b" filename*1*=" + encoded[45:].encode() + b"\n"
        b"Content-Transfer-Encoding: base64\n"
        b"\n" + b64(csv_bytes(customers(8, seed=9), encoding="cp932")) + b"--=_b2231--\n"
    )


def raw_quoted_printable_attachment() -> bytes:
    data = "氏名,電話\r\n山田,03-1234-5678\r\n".encode()
    qp = binascii.b2a_qp(data, istext=False)  # line breaks as =0D=0A: the bytes survive exactly
    return crlf(
        b"From: sales@dealer.example.jp\nTo: customer@example.com\nSubject: qp\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=qpb\n\n"
        b"--qpb\nContent-Type: text/plain\n\nsee attached\n"
        b"--qpb\nContent-Type: text/csv; charset=utf-8; name=list.csv\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n" + qp + b"\n--qpb--\n"
    )


def raw_nested(*, padding: bytes = b"  \t") -> bytes:
    """multipart/mixed inside multipart/mixed, each with a preamble and an epilogue, and
    transport padding after some delimiters."""
    return crlf(
        b"From: sales@dealer.example.jp\nTo: customer@example.com\nSubject: nested\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n"
        b"outer preamble\n"
        b"--outer" + padding + b"\n"
        b"Content-Type: text/plain; charset=us-ascii\n\nfirst text\n"
        b"--outer\n"
        b'Content-Type: multipart/mixed; boundary="inner"\n\n'
        b"inner preamble\n"
        b"--inner\n"
        b"Content-Type: text/plain\n\ninner text\n\n"
        b"--inner" + padding + b"\n"
        b"Content-Type: application/octet-stream; name=data.xlsx\n"
        b"Content-Transfer-Encoding: base64\n\n" + b64(workbook()) + b"--inner--" + padding + b"\n"
        b"inner epilogue\n"
        b"--outer\n"
        b"Content-Type: text/csv; name=last.csv\nContent-Transfer-Encoding: base64\n\n"
        + b64(customer_csv())
        + b"\n--outer--\nouter epilogue\n"
    )


def raw_related() -> bytes:
    """An HTML mail with an inline image referenced by cid:, and an attachment."""
    return crlf(
        b"From: sales@dealer.example.jp\nTo: customer@example.com\nSubject: html\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=m\n\n"
        b'--m\nContent-Type: multipart/related; boundary=r; type="multipart/alternative"\n\n'
        b"--r\nContent-Type: multipart/alternative; boundary=a\n\n"
        b"--a\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + "ロゴ付きの案内です。".encode()
        + b"\n--a\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        b'<html><body><img src="cid:logo.png@01D9"><p>' + "案内".encode() + b"</p></body></html>\n"
        b"--a--\n"
        b"--r\nContent-Type: image/png; name=logo.png\nContent-Transfer-Encoding: base64\n"
        b"Content-ID: <logo.png@01D9>\nContent-Disposition: inline; filename=logo.png\n\n"
        + b64(PNG)
        + b"--r--\n"
        b'--m\nContent-Type: application/vnd.ms-excel; name="customers.xlsx"\n'
        b"Content-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="customers.xlsx"\n\n'
        + b64(workbook())
        + b"--m--\n"
    )


def raw_forwarded_single() -> bytes:
    """A forwarded message whose own body is the attachment (no multipart inside)."""
    return crlf(
        b"From: sales@dealer.example.jp\nTo: customer@example.com\nSubject: Fw: list\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=f\n\n"
        b"--f\nContent-Type: text/plain\n\nforwarding\n"
        b"--f\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        b"From: honsha@dealer.example.jp\nTo: sales@dealer.example.jp\nSubject: list\n"
        b"Date: Mon, 1 Apr 2024 09:00:00 +0900\nMIME-Version: 1.0\n"
        b"Content-Type: text/csv; name=inner.csv\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment; filename=inner.csv\n\n"
        + b64(customer_csv())
        + b"\n--f--\n"
    )


def raw_single_part() -> bytes:
    """The whole message body is the spreadsheet; no multipart at all."""
    return crlf(
        b"From: sales@dealer.example.jp\nTo: customer@example.com\nSubject: only a file\n"
        b"Date: Mon, 1 Apr 2024 09:00:00 +0900\nMessage-ID: <single@dealer.example.jp>\n"
        b"MIME-Version: 1.0\nContent-Type: " + XLSX.encode() + b"; name=only.xlsx\n"
        b"Content-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment; filename=only.xlsx\n"
        b"X-Mailer: hand\n\n" + b64(workbook())
    )


def raw_digest() -> bytes:
    return crlf(
        b"From: list@dealer.example.jp\nTo: sales@dealer.example.jp\nSubject: digest\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/digest; boundary=d\n\n"
        b"--d\n\nFrom: a@example.com\nSubject: one\n\nfirst message\n"
        b"--d\n\nFrom: b@example.com\nSubject: two\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=dd\n\n"
        b"--dd\nContent-Type: text/plain\n\nsecond\n"
        b"--dd\nContent-Type: text/csv; name=two.csv\nContent-Transfer-Encoding: base64\n\n"
        + b64(customer_csv())
        + b"--dd--\n"
        b"--d--\n"
    )


def raw_report() -> bytes:
    """A bounce: the delivery-status part has no leaves for inspection; the returned
    message's body is part 3."""
    return crlf(
        b"From: MAILER-DAEMON@dealer.example.jp\nTo: sales@dealer.example.jp\nSubject: bounce\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=rep\n\n"
        b"--rep\nContent-Type: text/plain\n\nundeliverable\n"
        b"--rep\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.dealer.example.jp\n\n"
        b"Final-Recipient: rfc822; nobody@example.com\nAction: failed\nStatus: 5.1.1\n"
        b"--rep\nContent-Type: message/rfc822\n\n"
        b"From: sales@dealer.example.jp\nTo: nobody@example.com\nSubject: hi\n\nhello\n"
        b"--rep--\n"
    )


def raw_top_level_message() -> bytes:
    return crlf(
        b"From: sales@dealer.example.jp\nTo: customer@example.com\nSubject: wrapped\n"
        b"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n"
        b"From: honsha@dealer.example.jp\nSubject: inner\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=w\n\n"
        b"--w\nContent-Type: text/plain\n\ninner text\n"
        b"--w\nContent-Type: text/csv; name=w.csv\n\na,b\n1,2\n"
        b"--w--\n"
    )


def raw_odd_parts() -> bytes:
    """Parts with no header fields, with headers and no body, a bare CR inside text, and a
    last part with no line break before the closing delimiter's."""
    return (
        b"From: sales@dealer.example.jp\r\nTo: customer@example.com\r\nSubject: odd\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
        b"--o\r\n\r\nno header fields here\r\n"
        b"--o\r\nContent-Type: text/plain\r\n"
        b"--o\r\nContent-Type: text/plain\r\n\r\nline one\rline two\r\n"
        b"--o\r\nContent-Type: text/csv; name=x.csv\r\n\r\na,b\r\n--o--"
    )


# Signed and encrypted ------------------------------------------------------------------------


@functools.cache
def _certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return self_signed(email_address("sales@dealer.example.jp"))


def certificate_pem() -> bytes:
    return _certificate()[1].public_bytes(serialization.Encoding.PEM)


TOP_HEADERS = (
    b"From: sales@dealer.example.jp\r\n"
    b"To: customer@example.com, other@example.net\r\n"
    b"Cc: boss@dealer.example.jp, partner@example.org\r\n"
    b"Subject: signed\r\n"
)


def smime_signed() -> bytes:
    """A real S/MIME detached signature (cryptography) over a multipart/mixed with a workbook."""
    key, certificate = _certificate()
    content = crlf(
        b"Content-Type: multipart/mixed; boundary=s\n\n"
        b"--s\nContent-Type: text/plain\n\nsigned text\n"
        b"--s\nContent-Type: application/vnd.ms-excel; name=signed.xlsx\n"
        b"Content-Transfer-Encoding: base64\n\n" + b64(workbook()) + b"--s--\n"
    )
    signed = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    )
    return TOP_HEADERS + crlf(signed)


def smime_enveloped() -> bytes:
    _, certificate = _certificate()
    content = crlf(b"Content-Type: text/plain\n\nsecret\n")
    enveloped = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(content)
        .add_recipient(certificate)
        .encrypt(serialization.Encoding.SMIME, [])
    )
    return TOP_HEADERS + crlf(enveloped)


PGP_SIGNATURE = (
    b"-----BEGIN PGP SIGNATURE-----\n\n"
    b"iHUEARYKAB0WIQTq7hX0b1Jm0wH3mK3C1m1Qn8bZHwUCZgqAAAAKCRDC1m1Qn8bZ\n"
    b"H2wRAP9q2vM7m8mYtC1GSbQyq1mF0m5A0lO0uBk0bQ1c3hX8uwD/bK0h1v3kq3Yx\n"
    b"=Zx1Q\n"
    b"-----END PGP SIGNATURE-----\n"
)


def pgp_signed() -> bytes:
    """PGP/MIME (RFC 3156) by hand: the signature bytes are not checked by anything here."""
    return TOP_HEADERS + crlf(
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/signed; micalg=pgp-sha256;\n"
        b' protocol="application/pgp-signature"; boundary="pgp-s"\n\n'
        b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\n"
        b"--pgp-s\nContent-Type: multipart/mixed; boundary=pgp-m\n\n"
        b"--pgp-m\nContent-Type: text/plain\n\nsigned\n"
        b"--pgp-m\nContent-Type: text/csv; name=s.csv\nContent-Transfer-Encoding: base64\n\n"
        + b64(customer_csv())
        + b"--pgp-m--\n\n"
        b"--pgp-s\nContent-Type: application/pgp-signature; name=signature.asc\n\n"
        + PGP_SIGNATURE
        + b"\n--pgp-s--\n"
    )


def pgp_encrypted() -> bytes:
    return TOP_HEADERS + crlf(
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=e\n\n'
        b"--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
        b"--e\nContent-Type: application/octet-stream; name=encrypted.asc\n\n"
        b"-----BEGIN PGP MESSAGE-----\n\nhF4DAAAAAAAAAAASAQdAbcdef\n=abcd\n"
        b"-----END PGP MESSAGE-----\n"
        b"--e--\n"
    )


def pgp_inline() -> bytes:
    return TOP_HEADERS + crlf(
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=i\n\n"
        b"--i\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + b64(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhello\n" + PGP_SIGNATURE)
        + b"--i\nContent-Type: text/csv; name=i.csv\n\na,b\n"
        b"--i--\n"
    )


def samples() -> list[Sample]:
    return [
        Sample("email-mixed", email_mixed(), (("2", "顧客リスト_2024年度.xlsx"),)),
        Sample("email-mixed-csv", email_mixed(), (("3", "list.csv"),)),
        Sample(
            "email-alternative-related", email_alternative_related(), (("2", "契約者一覧.xlsx"),)
        ),
        Sample("email-forwarded-inner", email_forwarded(), (("2.2", "顧客.csv"),)),
        Sample(
            "email-forwarded-both", email_forwarded(), (("2.2", "顧客.csv"), ("3", "追加分.xlsx"))
        ),
        Sample("iso2022jp-name", raw_iso2022jp(), (("2", "顧客一覧①.xlsx"),)),
        Sample(
            "iso2022jp-bare-lf", raw_iso2022jp().replace(b"\r\n", b"\n"), (("2", "顧客一覧①.xlsx"),)
        ),
        Sample("rfc2231-continuation", raw_rfc2231(), (("2", "見積書_2024年度_顧客.csv"),)),
        Sample("quoted-printable", raw_quoted_printable_attachment(), (("2", "list.csv"),)),
        Sample("nested-mixed", raw_nested(), (("2.2", "data.xlsx"), ("3", "last.csv"))),
        Sample("nested-bare-lf", raw_nested().replace(b"\r\n", b"\n"), (("2.2", "data.xlsx"),)),
        Sample("related-inline-image", raw_related(), (("2", "customers.xlsx"),)),
        Sample("forwarded-single-part", raw_forwarded_single(), (("2", "inner.csv"),)),
        Sample("single-part", raw_single_part(), (("1", "only.xlsx"),)),
        Sample("digest", raw_digest(), (("2.2", "two.csv"),)),
        Sample("report", raw_report(), (("3", "attachment-3"),)),
        Sample("top-level-message", raw_top_level_message(), (("2", "w.csv"),)),
        Sample("odd-parts", raw_odd_parts(), (("4", "x.csv"),)),
        Sample("smime-signed", smime_signed(), signed="smime"),
        Sample("smime-enveloped", smime_enveloped(), signed="smime"),
        Sample("pgp-signed", pgp_signed(), signed="pgp"),
        Sample("pgp-encrypted", pgp_encrypted(), signed="pgp"),
        Sample("pgp-inline", pgp_inline(), (("2", "i.csv"),), signed="pgp"),
    ]
