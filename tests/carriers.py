"""Real carriers of attachments for tests and corpora: 7z archives made by 7-Zip, S/MIME made
by cryptography, OpenSSL and asn1crypto, OpenPGP made by gpg, uuencoded text, and the formats
no tool on the test machine writes (TNEF winmail.dat, Outlook .msg), written here from their
specifications (MS-OXTNEF, MS-OXMSG).

Every builder returns bytes. Builders that need a program raise ``MissingTool`` when it is not
installed; tests turn that into a skip that names the program.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import functools
import os
import random
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import compressed_rtf
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from tests import cfb
from tests.certs import email_address, self_signed

# File times inside archives, pinned so that a builder's output depends only on its arguments.
FIXED_MTIME = 1_711_962_000  # 2024-04-01 09:00 UTC


class MissingTool(RuntimeError):
    """A program a builder runs is not installed."""


def _run(args: Sequence[str], *, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        list(args), cwd=cwd, input=stdin, capture_output=True, check=False, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return done.stdout


# --- 7z ------------------------------------------------------------------------------------


def seven_zip_tool() -> str:
    """The 7-Zip command line program (Debian 12 ships it as 7zz, later releases as 7z)."""
    found = shutil.which("7zz") or shutil.which("7z")
    if found is None:
        raise MissingTool("7-Zip (7zz or 7z) is not installed")
    return found


def seven_zip_bytes(
    files: Sequence[tuple[str, bytes]],
    *,
    password: str | None = None,
    encrypt_headers: bool = False,
    solid: bool = True,
    method: str | None = None,
    compress_headers: bool = True,
) -> bytes:
    """A 7z archive of ``files`` (name, content; names may contain ``/``) made by 7-Zip.

    ``password`` encrypts contents (AES-256), ``encrypt_headers`` the names too (``-mhe=on``);
    ``method`` is 7-Zip's ``-m0`` (``LZMA2``, ``PPMd``, ``Deflate``, ``BZip2``...);
    ``solid=False`` puts every file in a block of its own; ``compress_headers=False`` leaves
    the header block plain (``-mhc=off``), so tests can patch it.
    """
    tool = seven_zip_tool()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "in"
        root.mkdir()
        tops: list[str] = []
        for name, data in files:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
            top = name.split("/", 1)[0]
            if top not in tops:
                tops.append(top)
        for directory in sorted(root.rglob("*"), reverse=True):
            if directory.is_dir():
                os.utime(directory, (FIXED_MTIME, FIXED_MTIME))
        archive = Path(scratch) / "out.7z"
        args = [tool, "a", "-bso0", "-bsp0", "-y", f"-ms={'on' if solid else 'off'}"]
        if method is not None:
            args.append(f"-m0={method}")
        if password is not None:
            args.append(f"-p{password}")
            if encrypt_headers:
                args.append("-mhe=on")
        if not compress_headers:
            args.append("-mhc=off")
        _run([*args, str(archive), "--", *tops], cwd=root)
        return archive.read_bytes()


def seven_zip_number(value: int) -> bytes:
    """A number as 7z headers write it (7zFormat.txt, "UINT64"): the count of leading one bits
    of the first byte says how many little-endian bytes follow."""
    for extra in range(8):
        if value < 1 << (7 * (extra + 1)):
            high = value >> (8 * extra)
            first = (0xFF00 >> extra) & 0xFF | high
            return bytes([first]) + (value & ((1 << (8 * extra)) - 1)).to_bytes(extra, "little")
    return b"\xff" + value.to_bytes(8, "little")


def seven_zip_declare(archive: bytes, *, actual: int, declared: int) -> bytes:
    """The archive with every size ``actual`` in its plain header (made with
    ``compress_headers=False``) replaced by ``declared``: an archive whose sizes lie, as a
    hostile sender writes it. Both sizes must take the same number of bytes in the header."""
    return seven_zip_patch_header(archive, seven_zip_number(actual), seven_zip_number(declared))


def seven_zip_patch_header(archive: bytes, old: bytes, new: bytes) -> bytes:
    """The archive with ``old`` replaced by ``new`` (of the same length) in its plain header,
    and the header CRCs made right again."""
    if len(old) != len(new):
        raise ValueError("replacement of a different length")
    next_offset, next_size = struct.unpack_from("<QQ", archive, 12)
    start = 32 + next_offset
    header = archive[start : start + next_size]
    if header[:1] != b"\x01" or old not in header:
        raise ValueError("no plain header holding those bytes")
    header = header.replace(old, new)
    start_header = struct.pack("<QQI", next_offset, next_size, zlib.crc32(header))
    signature = archive[:8] + struct.pack("<I", zlib.crc32(start_header)) + start_header
    return signature + archive[32:start] + header + archive[start + next_size :]


# --- MIME --------------------------------------------------------------------------------------

HEADERS = (
    b"From: sales@dealer.example.jp\r\nTo: customer@example.com\r\n"
    b"Subject: =?UTF-8?B?6LOH5paZ?=\r\nMIME-Version: 1.0\r\n"
)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def mime_entity(
    *, body: str = "資料をお送りします。\n", attachments: Sequence[tuple[str, bytes]] = ()
) -> bytes:
    """A MIME entity with no message headers (what S/MIME signs, encrypts or compresses):
    a text body and the attachments (name, content) base64-encoded."""
    entity = MIMEMultipart(boundary="=_carrier_part")
    del entity["MIME-Version"]
    entity.attach(MIMEText(body, "plain", "utf-8"))
    for name, data in attachments:
        part = MIMEApplication(data)
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
        entity.attach(part)
    return crlf(entity.as_bytes())


def message_with(head: bytes, body: bytes) -> bytes:
    """A message: our fixed headers, then ``head`` (Content-Type and kin) and ``body``."""
    return HEADERS + crlf(head).rstrip(b"\r\n") + b"\r\n\r\n" + body


def attached(
    name: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    *,
    body: str = "添付します。",
) -> bytes:
    """A message with a text body and one base64 attachment."""
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    part = (
        f'Content-Type: {content_type}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'
    ).encode() + encoded
    text = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode() + b"\r\n"
    return message_with(
        b'Content-Type: multipart/mixed; boundary="c1"',
        b"--c1\r\n" + text + b"--c1\r\n" + part + b"\r\n--c1--\r\n",
    )


# --- S/MIME (CMS) -----------------------------------------------------------------------------


@functools.cache
def smime_identity() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The sender's key and self-signed certificate."""
    return self_signed(email_address("sales@dealer.example.jp"))


def smime_signed(content: bytes, *, detached: bool = False, pem: bool = False) -> bytes:
    """A CMS signed-data over ``content`` (cryptography): opaque (the content inside, DER or
    PEM-armoured), or with ``detached`` only the signature, as in smime.p7s."""
    key, certificate = smime_identity()
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(encoding, options)
    )


def smime_enveloped(content: bytes) -> bytes:
    """A CMS enveloped-data (AES, RSA key transport) to the sender's certificate (cryptography)."""
    _, certificate = smime_identity()
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(content)
        .add_recipient(certificate)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def smime_compressed(content: bytes) -> bytes:
    """An RFC 3274 compressed-data (zlib), written with asn1crypto: the OpenSSL on the test
    machine is built without zlib, so ``openssl cms -compress`` cannot make one."""
    info = cms.ContentInfo(
        {
            "content_type": "compressed_data",
            "content": cms.CompressedData(
                {
                    "version": "v0",
                    "compression_algorithm": {"algorithm": "zlib"},
                    "encap_content_info": {
                        "content_type": "data",
                        "content": zlib.compress(content),
                    },
                }
            ),
        }
    )
    return bytes(info.dump())


def cms_signed_data(content: bytes) -> bytes:
    """A CMS signed-data holding ``content`` with no signer (asn1crypto): the same bytes on
    every run, for fuzz seeds; tests of behaviour use ``smime_signed``."""
    info = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": cms.SignedData(
                {
                    "version": "v1",
                    "digest_algorithms": [],
                    "encap_content_info": {"content_type": "data", "content": content},
                    "signer_infos": [],
                }
            ),
        }
    )
    return bytes(info.dump())


def smime_openssl(content: bytes, *, operation: str) -> bytes:
    """A CMS structure made by ``openssl cms`` (DER): ``sign-streamed`` (signed-data in BER
    with indefinite lengths, as -stream writes it), ``encrypt-gcm`` (AES-GCM: OpenSSL writes
    authenticated-enveloped-data) or ``encrypted-data`` (a shared AES key)."""
    tool = shutil.which("openssl")
    if tool is None:
        raise MissingTool("openssl is not installed")
    key, certificate = smime_identity()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        args = {
            "sign-streamed": [
                "-sign",
                "-nodetach",
                "-stream",
                "-binary",
                "-signer",
                "cert.pem",
                "-inkey",
                "key.pem",
            ],
            "encrypt-gcm": ["-encrypt", "-binary", "-aes-256-gcm", "cert.pem"],
            "encrypted-data": [
                "-EncryptedData_encrypt",
                "-binary",
                "-aes-128-cbc",
                "-secretkey",
                "000102030405060708090a0b0c0d0e0f",
            ],
        }[operation]
        return _run([tool, "cms", "-outform", "DER", *args], cwd=folder, stdin=content)


def smime_message(structure: bytes, *, smime_type: str, name: str = "smime.p7m") -> bytes:
    """A whole message whose body is one application/pkcs7-mime part (RFC 8551)."""
    head = (
        f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="{name}"\n'
        "Content-Transfer-Encoding: base64\n"
        f'Content-Disposition: attachment; filename="{name}"'
    )
    return message_with(head.encode(), base64.encodebytes(structure).replace(b"\n", b"\r\n"))


def smime_multipart_signed(content: bytes) -> bytes:
    """A whole multipart/signed message: ``content`` (a MIME entity) and its smime.p7s."""
    signature = base64.encodebytes(smime_signed(content, detached=True)).replace(b"\n", b"\r\n")
    return message_with(
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        b'micalg=sha-256; boundary="sig"',
        b"--sig\r\n" + content + b"\r\n--sig\r\n"
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n'
        + signature
        + b"\r\n--sig--\r\n",
    )


# --- Outlook .msg (MS-OXMSG) -----------------------------------------------------------------

PT_LONG, PT_OBJECT, PT_STRING8, PT_UNICODE, PT_BINARY = 0x0003, 0x000D, 0x001E, 0x001F, 0x0102
# Property flags: readable and writable (MS-OXMSG 2.4.2.1).
_FLAGS = 0x00000006
MsgAttachment = tuple[str, bytes | None] | tuple[str, "bytes | cfb.Tree | None", int]


def msg_bytes(
    *,
    body: str | None = "お世話になっております。\n",
    html: bytes | None = None,
    rtf: bytes | None = None,
    attachments: Sequence[MsgAttachment] = (),
    embedded: Sequence[tuple[str, cfb.Tree]] = (),
    subject: str = "資料",
    codepage: int | None = None,
) -> bytes:
    """An Outlook .msg file, written as MS-OXMSG lays it out in an OLE compound file.

    ``attachments`` are (name, content) or (name, content, attach method): content None
    leaves out the data stream; method 6 stores an OLE object storage, the content wrapped as
    the Windows Packager does (Ole10Native) or, given a storage tree ({"Package": xlsx},
    {"Workbook": ...}), that tree; method 2 makes it an attachment by reference.
    ``embedded`` are (display name, ``msg_tree(..., top=False)``) attached as messages
    (method 5). ``codepage`` writes the bodies and names as 8-bit strings (PT_STRING8) in
    that Windows code page instead of UTF-16.
    """
    tree = msg_tree(
        body=body,
        html=html,
        rtf=rtf,
        attachments=attachments,
        embedded=embedded,
        subject=subject,
        codepage=codepage,
    )
    return cfb.compound_file(tree)


def msg_tree(
    *,
    body: str | None = "お世話になっております。\n",
    html: bytes | None = None,
    rtf: bytes | None = None,
    attachments: Sequence[MsgAttachment] = (),
    embedded: Sequence[tuple[str, cfb.Tree]] = (),
    subject: str = "資料",
    codepage: int | None = None,
    top: bool = True,
) -> dict[str, bytes | cfb.Tree]:
    """The storages and streams of a message (see ``msg_bytes``); ``top=False`` for one
    embedded in another (a shorter properties header, no named-property mapping)."""
    streams: dict[str, bytes | cfb.Tree] = {}
    fixed: list[tuple[int, int, int]] = []
    variable: list[tuple[int, int, bytes]] = []
    _msg_string(variable, 0x001A, "IPM.Note", codepage)
    _msg_string(variable, 0x0037, subject, codepage)
    if body is not None:
        _msg_string(variable, 0x1000, body, codepage)
    if html is not None:
        variable.append((0x1013, PT_BINARY, html))
    if rtf is not None:
        variable.append((0x1009, PT_BINARY, compressed_rtf.compress(rtf)))
    if codepage is not None:
        fixed.append((0x3FFD, PT_LONG, codepage))
    items: list[tuple[str, bytes | cfb.Tree | None, int]] = []
    for spec in attachments:
        name, data = spec[0], spec[1]
        items.append((name, data, spec[2] if len(spec) == 3 else 1))
    for name, message in embedded:
        items.append((name, message, 5))
    for number, (name, content, method) in enumerate(items):
        streams[f"__attach_version1.0_#{number:08X}"] = _msg_attachment(
            number, name, content, method, codepage
        )
    header = struct.pack("<8xIIII8x", 1, len(items), 1, len(items)) if top else bytes(24)
    recipient = _msg_recipient(codepage)
    if top:
        streams["__nameid_version1.0"] = {
            "__substg1.0_00020102": b"",
            "__substg1.0_00030102": b"",
            "__substg1.0_00040102": b"",
        }
    streams["__recip_version1.0_#00000000"] = recipient
    _msg_properties(streams, header, fixed, variable)
    return streams


def _msg_string(
    variable: list[tuple[int, int, bytes]], prop: int, text: str, codepage: int | None
) -> None:
    if codepage is None:
        variable.append((prop, PT_UNICODE, text.encode("utf-16-le")))
    else:
        variable.append((prop, PT_STRING8, text.encode(f"cp{codepage}")))


def _msg_properties(
    storage: dict[str, bytes | cfb.Tree],
    header: bytes,
    fixed: list[tuple[int, int, int]],
    variable: list[tuple[int, int, bytes]],
) -> None:
    """The storage's __properties_version1.0 stream and one __substg1.0_ stream for each
    variable-length value (strings are sized with their terminator, as Outlook does)."""
    entries = [struct.pack("<IIQ", prop << 16 | kind, _FLAGS, value) for prop, kind, value in fixed]
    for prop, kind, data in variable:
        terminator = {PT_UNICODE: 2, PT_STRING8: 1}.get(kind, 0)
        size = 0xFFFFFFFF if kind == PT_OBJECT else len(data) + terminator
        entries.append(struct.pack("<IIII", prop << 16 | kind, _FLAGS, size, 0))
        if kind != PT_OBJECT:
            storage[f"__substg1.0_{prop:04X}{kind:04X}"] = data
    storage["__properties_version1.0"] = header + b"".join(entries)


def _msg_recipient(codepage: int | None) -> dict[str, bytes | cfb.Tree]:
    storage: dict[str, bytes | cfb.Tree] = {}
    variable: list[tuple[int, int, bytes]] = []
    _msg_string(variable, 0x3001, "Customer", codepage)
    _msg_string(variable, 0x3003, "customer@example.com", codepage)
    _msg_properties(storage, bytes(8), [(0x0C15, PT_LONG, 1)], variable)
    return storage


def _msg_attachment(
    number: int,
    name: str,
    content: bytes | cfb.Tree | None,
    method: int,
    codepage: int | None,
) -> dict[str, bytes | cfb.Tree]:
    storage: dict[str, bytes | cfb.Tree] = {}
    variable: list[tuple[int, int, bytes]] = []
    _msg_string(variable, 0x3001, name, codepage)
    if method != 5:
        _msg_string(variable, 0x3707, name, codepage)
    if isinstance(content, bytes):
        if method == 6:
            storage["__substg1.0_3701000D"] = {"\x01Ole10Native": _ole10native(name, content)}
            variable.append((0x3701, PT_OBJECT, b""))
        else:
            variable.append((0x3701, PT_BINARY, content))
    elif content is not None:
        storage["__substg1.0_3701000D"] = content
        variable.append((0x3701, PT_OBJECT, b""))
    fixed = [(0x3705, PT_LONG, method), (0x0E21, PT_LONG, number), (0x370B, PT_LONG, 0xFFFFFFFF)]
    _msg_properties(storage, bytes(8), fixed, variable)
    return storage


def _ole10native(name: str, data: bytes) -> bytes:
    """A file wrapped by the Windows Packager, as OLE embeds a file it has no program for."""
    label = name.encode("cp932", "replace") + b"\x00"
    path = b"C:\\Temp\\" + label
    body = (
        b"\x02\x00"
        + label
        + path
        + struct.pack("<HH", 0, 3)
        + struct.pack("<I", len(path))
        + path
        + struct.pack("<I", len(data))
        + data
    )
    return struct.pack("<I", len(body)) + body


# --- TNEF (MS-OXTNEF) ------------------------------------------------------------------------

TNEF_SIGNATURE = 0x223E9F78
IID_IMESSAGE = bytes.fromhex("0703020000000000c000000000000046")
# Attribute ids: the attribute type in the high 16 bits, the id in the low 16 bits.
ATT_TNEF_VERSION = 0x00089006
ATT_OEM_CODEPAGE = 0x00069007
ATT_MESSAGE_CLASS = 0x00078008
ATT_SUBJECT = 0x00018004
ATT_BODY = 0x0002800C
ATT_MSG_PROPS = 0x00069003
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
ATT_ATTACHMENT = 0x00069005
LEVEL_MESSAGE, LEVEL_ATTACHMENT = 0x01, 0x02
MapiProperty = tuple[int, int, bytes | int]  # property id, type, value


def tnef_bytes(
    *,
    attachments: Sequence[tuple[str, bytes]] = (),
    body: str | None = "お世話になっております。\n",
    html: bytes | None = None,
    rtf: bytes | None = None,
    embedded: Sequence[tuple[str, bytes]] = (),
    legacy_body: bool = False,
    codepage: int = 932,
    subject: str = "資料",
) -> bytes:
    """A TNEF stream (winmail.dat) as Outlook writes it for a rich-text message.

    ``body`` goes into PidTagBody (UTF-16) in the message's property list, or with
    ``legacy_body`` into the older attBody attribute in ``codepage``; ``html`` and ``rtf``
    into PidTagBodyHtml and PidTagRtfCompressed. ``attachments`` (name, content) are attached
    by value (attAttachData); ``embedded`` (name, a TNEF stream from this function) are
    attached messages (PidTagAttachDataObject holding IID_IMessage and the stream).
    """
    attributes = [
        tnef_attribute(LEVEL_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000)),
        tnef_attribute(LEVEL_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", codepage, 0)),
        tnef_attribute(LEVEL_MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00"),
        tnef_attribute(LEVEL_MESSAGE, ATT_SUBJECT, subject.encode(f"cp{codepage}") + b"\x00"),
    ]
    properties: list[MapiProperty] = [(0x3FDE, PT_LONG, codepage)]
    if body is not None and legacy_body:
        attributes.append(tnef_attribute(LEVEL_MESSAGE, ATT_BODY, body.encode(f"cp{codepage}")))
    elif body is not None:
        properties.append((0x1000, PT_UNICODE, (body + "\x00").encode("utf-16-le")))
    if html is not None:
        properties.append((0x1013, PT_BINARY, html))
    if rtf is not None:
        properties.append((0x1009, PT_BINARY, compressed_rtf.compress(rtf)))
    attributes.append(tnef_attribute(LEVEL_MESSAGE, ATT_MSG_PROPS, mapi_properties(properties)))
    for number, (name, data) in enumerate(attachments):
        attributes += tnef_attachment(name, data, number=number, codepage=codepage)
    for number, (name, stream) in enumerate(embedded, len(attachments)):
        attributes += tnef_attachment(name, None, number=number, codepage=codepage, message=stream)
    return tnef_stream(attributes)


def tnef_stream(attributes: Sequence[bytes], *, key: int = 0x1234) -> bytes:
    """A TNEF stream: the signature, the legacy key, then the attributes as given."""
    return struct.pack("<IH", TNEF_SIGNATURE, key) + b"".join(attributes)


def tnef_attribute(
    level: int, identifier: int, value: bytes, *, length: int | None = None
) -> bytes:
    """One TNEF attribute with its checksum; ``length`` overrides the length field (a hostile
    stream that lies about it)."""
    declared = len(value) if length is None else length
    checksum = sum(value) & 0xFFFF
    return struct.pack("<BII", level, identifier, declared) + value + struct.pack("<H", checksum)


def tnef_attachment(
    name: str,
    data: bytes | None,
    *,
    number: int = 0,
    codepage: int = 932,
    message: bytes | None = None,
) -> list[bytes]:
    """The attributes of one attachment: by value (``data``), or an attached message (a TNEF
    ``message`` stream), or with neither (no data: a damaged attachment)."""
    rendering = struct.pack("<HIIHHI", 1, 0xFFFFFFFF, 0, 0, 0, 0)
    title = name.encode(f"cp{codepage}", "replace") + b"\x00"
    attributes = [
        tnef_attribute(LEVEL_ATTACHMENT, ATT_ATTACH_REND_DATA, rendering),
        tnef_attribute(LEVEL_ATTACHMENT, ATT_ATTACH_TITLE, title),
    ]
    if data is not None:
        attributes.append(tnef_attribute(LEVEL_ATTACHMENT, ATT_ATTACH_DATA, data))
    unicode_name = (name + "\x00").encode("utf-16-le")
    properties: list[MapiProperty] = [
        (0x3001, PT_UNICODE, unicode_name),
        (0x0E21, PT_LONG, number),
    ]
    if message is not None:
        properties += [(0x3705, PT_LONG, 5), (0x3701, PT_OBJECT, IID_IMESSAGE + message)]
    else:
        properties += [(0x3705, PT_LONG, 1), (0x3707, PT_UNICODE, unicode_name)]
    attributes.append(tnef_attribute(LEVEL_ATTACHMENT, ATT_ATTACHMENT, mapi_properties(properties)))
    return attributes


def mapi_properties(properties: Sequence[MapiProperty], *, count: int | None = None) -> bytes:
    """A TNEF property list (MS-OXTNEF 2.1.3.4); ``count`` overrides the count field."""
    out = struct.pack("<I", len(properties) if count is None else count)
    for prop, kind, value in properties:
        out += struct.pack("<HH", kind, prop)
        if isinstance(value, int):
            out += struct.pack("<I", value)
        else:
            out += struct.pack("<II", 1, len(value)) + value + bytes(-len(value) % 4)
    return out


# --- OpenPGP (gpg) and uuencode --------------------------------------------------------------

_GNUPG: dict[str, Path] = {}


def _gpg(*args: str, stdin: bytes = b"") -> bytes:
    """Run gpg in a key ring of its own, made on first use (an Ed25519 signing key with a
    Curve25519 encryption subkey, no passphrase) and removed, agent stopped, at exit."""
    tool = shutil.which("gpg")
    if tool is None:
        raise MissingTool("gpg (GnuPG) is not installed")
    if "home" not in _GNUPG:
        home = Path(tempfile.mkdtemp(prefix="dlp-gnupg-"))
        home.chmod(0o700)
        _GNUPG["home"] = home
        atexit.register(_forget_gnupg, home)
        base = [tool, "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback"]
        _run([*base, "--passphrase", "", "--quick-gen-key", PGP_USER, "ed25519", "sign", "never"])
        listing = _run([*base, "--with-colons", "--list-secret-keys", PGP_USER]).decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        _run([*base, "--passphrase", "", "--quick-add-key", fingerprint, "cv25519", "encr"])
    home = _GNUPG["home"]
    base = [tool, "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback"]
    return _run([*base, "--trust-model", "always", *args], stdin=stdin)


def _forget_gnupg(home: Path) -> None:
    gpgconf = shutil.which("gpgconf")
    if gpgconf is not None:
        subprocess.run(
            [gpgconf, "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    shutil.rmtree(home, ignore_errors=True)


PGP_USER = "Sales <sales@dealer.example.jp>"


def pgp_encrypted(
    data: bytes, *, armor: bool = True, symmetric: bool = False, name: str = "list.csv"
) -> bytes:
    """``data`` encrypted by gpg: to our key (a public-key session key packet), or with
    ``symmetric`` to a passphrase (a symmetric-key one); armoured or binary."""
    args = ["--set-filename", name, "--output", "-"]
    args += ["--armor"] if armor else []
    if symmetric:
        args += ["--passphrase", "pw-2024", "--symmetric"]
    else:
        args += ["--recipient", "sales@dealer.example.jp", "--encrypt"]
    return _gpg(*args, stdin=data)


def pgp_signed(
    data: bytes, *, armor: bool = True, clear: bool = False, name: str = "list.csv"
) -> bytes:
    """``data`` signed by gpg: a signed message (compressed, a one-pass signature, the
    literal data: anyone can read it), or with ``clear`` clear-signed text."""
    if clear:
        return _gpg("--clearsign", "--output", "-", stdin=data)
    args = ["--set-filename", name, "--output", "-", "--sign"]
    return _gpg(*(["--armor", *args] if armor else args), stdin=data)


def pgp_public_key() -> bytes:
    """Our public key, armoured (what application/pgp-keys parts carry)."""
    return _gpg("--armor", "--export", "sales@dealer.example.jp")


def pgp_mime_encrypted(armored: bytes) -> bytes:
    """A whole PGP/MIME message (RFC 3156): multipart/encrypted, its version part and the
    armoured message as application/octet-stream."""
    return message_with(
        b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"',
        b"--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        b'--e\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n'
        b'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
        + crlf(armored)
        + b"\r\n--e--\r\n",
    )


def openpgp_packet(tag: int, body: bytes) -> bytes:
    """One OpenPGP packet in the new format (RFC 4880 4.2.2), with a five-byte length."""
    return bytes([0xC0 | tag, 0xFF]) + struct.pack(">I", len(body)) + body


def openpgp_literal(data: bytes, *, name: str = "list.csv", compressed: bool = True) -> bytes:
    """An OpenPGP message of literal data, zlib-compressed unless told otherwise, written
    packet by packet: the same bytes on every run (gpg's carry a time and a fresh
    signature), for fuzz seeds; tests of behaviour use ``pgp_signed``."""
    literal = openpgp_packet(11, b"b" + bytes([len(name)]) + name.encode() + bytes(4) + data)
    if not compressed:
        return literal
    return openpgp_packet(8, b"\x02" + zlib.compress(literal))


def openpgp_encrypted(seed: int = 0) -> bytes:
    """A symmetric-key session key packet and encrypted data of seeded random bytes: shaped
    as gpg --symmetric writes it, the same on every run."""
    rng = random.Random(seed)
    skesk = bytes.fromhex("04090302") + rng.randbytes(8) + b"\x60"  # v4, AES-256, S2K
    return openpgp_packet(3, skesk) + openpgp_packet(18, b"\x01" + rng.randbytes(120))


def armored(data: bytes, *, kind: str = "MESSAGE") -> bytes:
    """OpenPGP armour around ``data`` (the CRC-24 line left out, as readers allow)."""
    body = base64.encodebytes(data)
    return (
        f"-----BEGIN PGP {kind}-----\n\n".encode() + body + f"-----END PGP {kind}-----\n".encode()
    )


def uuencoded(name: str, data: bytes, *, mode: int = 0o644) -> bytes:
    """``data`` as uuencode(1) writes it: begin line, 45-byte lines, a backquote line, end."""
    lines = [f"begin {mode:o} {name}\n".encode()]
    lines += [binascii.b2a_uu(data[i : i + 45], backtick=True) for i in range(0, len(data), 45)]
    return b"".join([*lines, b"`\nend\n"])


def text_message(body: bytes, *, charset: str = "utf-8", name: str | None = None) -> bytes:
    """A single-part text/plain message (a body, or with ``name`` a text attachment)."""
    disposition = f'\nContent-Disposition: attachment; filename="{name}"' if name else ""
    head = f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit"
    return message_with((head + disposition).encode(), crlf(body))
