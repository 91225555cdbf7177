from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import zipfile
from email import message_from_bytes
from email.message import Message
from email.policy import compat32, default
from pathlib import Path

import pytest
import pyzipper

from dlp_proxy.actions import encrypt, mimetree, rewrite
from dlp_proxy.inspect import mime
from tests import bytecheck, mailcorpus

SAMPLES = {sample.name: sample for sample in mailcorpus.samples()}
TO_ENCRYPT = [name for name, sample in SAMPLES.items() if sample.encrypt]
SEVEN_ZIP = shutil.which("7z") or shutil.which("7zz")  # Debian 12's 7zip package ships 7zz


@pytest.fixture(scope="module")
def seven_zip() -> str:
    if SEVEN_ZIP is None:
        pytest.skip("7-Zip (7z or 7zz) is not installed: run scripts/test-deps as root")
    return SEVEN_ZIP


def run_7z(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    return subprocess.run(
        [tool, *map(str, args), "-sccUTF-8"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


# Passwords ------------------------------------------------------------------------------------


def test_passwords_use_the_alphabet_evenly_and_do_not_repeat() -> None:
    passwords = [encrypt.new_password() for _ in range(300)]
    assert all(len(p) == 16 for p in passwords)
    assert len(set(passwords)) == 300
    used = set("".join(passwords))
    assert used == set(encrypt.UNAMBIGUOUS)  # 4800 draws from 57: every one shows up
    assert not used & set("0O1Il")
    custom = encrypt.new_password(length=40, alphabet="abcdefghij")
    assert len(custom) == 40 and set(custom) <= set("abcdefghij")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": 7}, "length"),
        ({"length": 257}, "length"),
        ({"length": True}, "length"),
        ({"length": 16.0}, "length"),
        ({"alphabet": "abcdefghi"}, "10 different"),
        ({"alphabet": "aabcdefghij"}, "repeats"),
        ({"alphabet": "abcdefghij "}, "printable ASCII"),
        ({"alphabet": "abcdefghijあ"}, "printable ASCII"),
    ],
    ids=["short", "long", "bool", "float", "small-alphabet", "repeats", "space", "non-ascii"],
)
def test_password_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encrypt.new_password(**kwargs)  # type: ignore[arg-type]


# File names -----------------------------------------------------------------------------------

LONG_NAME = "顧客" * 100 + ".xlsx"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.xlsx", "report.xlsx"),
        ("顧客リスト①.xlsx", "顧客リスト①.xlsx"),
        ("見積書 (2024年度).csv", "見積書 (2024年度).csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\sales\\list.csv", "list.csv"),
        ("a\x00b\x1f\x7f.csv", "ab.csv"),
        ("invoice\u202excod.exe", "invoicexcod.exe"),
        ("..", "attachment"),
        ("", "attachment"),
        ("report. ", "report"),
        ("CON.txt", "_CON.txt"),
        ("lpt1", "_lpt1"),
        ('a<b>:c"|?*.csv', "a_b__c____.csv"),
    ],
    ids=[
        "plain",
        "japanese",
        "spaces",
        "traversal",
        "windows-path",
        "controls",
        "bidi-override",
        "dots",
        "empty",
        "trailing-dot-space",
        "device-name",
        "device-name-bare",
        "windows-forbidden",
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert encrypt.safe_filename(name) == expected


def test_long_names_are_cut_keeping_the_extension() -> None:
    safe = encrypt.safe_filename(LONG_NAME)
    assert safe.endswith(".xlsx") and safe.startswith("顧客顧客")
    assert len(safe.encode()) <= 240 and len((safe + ".zip").encode()) <= 255


# The zip --------------------------------------------------------------------------------------


def _records(archive: bytes, signature: bytes, flags_at: int) -> list[tuple[int, int, bytes]]:
    """(flags, method, extra) of every local header or central directory record."""
    out = []
    position = archive.find(signature)
    while position >= 0:
        flags, method = struct.unpack_from("<HH", archive, position + flags_at)
        if signature == b"PK\x01\x02":
            name_len, extra_len = struct.unpack_from("<HH", archive, position + 28)
            extra_at = position + 46 + name_len
        else:
            name_len, extra_len = struct.unpack_from("<HH", archive, position + 26)
            extra_at = position + 30 + name_len
        out.append((flags, method, archive[extra_at : extra_at + extra_len]))
        position = archive.find(signature, position + 4)
    return out


INCOMPRESSIBLE = random.Random(7).randbytes(200_000)  # like a large xlsx, jpeg or pdf


@pytest.mark.parametrize(
    ("name", "data", "method"),
    [
        ("report.xlsx", mailcorpus.workbook(), zipfile.ZIP_DEFLATED),
        ("顧客一覧①.xlsx", mailcorpus.workbook(), zipfile.ZIP_DEFLATED),
        ("写真.jpg", INCOMPRESSIBLE, zipfile.ZIP_STORED),
    ],
    ids=["ascii", "japanese", "incompressible-stored"],
)
def test_zip_is_aes256_ae2_with_a_utf8_name(name: str, data: bytes, method: int) -> None:
    archive = encrypt.aes_zip(data, name, "S3cretPass")
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        ((flags, marker, extra),) = _records(archive, signature, flags_at)
        assert flags & 0x0800, "general purpose bit 11 (UTF-8 name) must be set"
        assert flags & 0x0001, "encrypted"
        assert marker == 99, "AES marker method"
        at = extra.find(b"\x01\x99")
        assert at >= 0, "WinZip AES extra field"
        version, vendor, strength, actual = struct.unpack_from("<H2sBH", extra, at + 4)
        assert (version, vendor, strength, actual) == (2, b"AE", 3, method)
    with pyzipper.AESZipFile(io.BytesIO(archive)) as opened:
        assert opened.namelist() == [name]
        with pytest.raises(RuntimeError, match="requires a password"):
            opened.read(name)
        opened.setpassword(b"wrong-password")
        with pytest.raises(RuntimeError, match="Bad password"):
            opened.read(name)
        opened.setpassword(b"S3cretPass")
        assert opened.read(name) == data
    with zipfile.ZipFile(io.BytesIO(archive)) as plain:  # the stdlib sees it and cannot open it
        assert plain.namelist() == [name]
        with pytest.raises((NotImplementedError, RuntimeError)):
            plain.read(name)


def test_hostile_member_names_are_cleaned() -> None:
    archive = encrypt.aes_zip(b"x", "../../x\u202e.csv", "S3cretPass")
    with pyzipper.AESZipFile(io.BytesIO(archive)) as opened:
        assert opened.namelist() == ["x.csv"]


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty password"):
        encrypt.aes_zip(b"x", "x.csv", "")


@pytest.mark.parametrize(
    ("name", "data", "method"),
    [
        ("report.xlsx", mailcorpus.workbook(), "AES-256 Deflate"),
        ("顧客一覧①.xlsx", mailcorpus.workbook(), "AES-256 Deflate"),
        ("写真.jpg", INCOMPRESSIBLE, "AES-256 Store"),
    ],
    ids=["ascii", "japanese", "stored"],
)
def test_7zip_opens_with_the_password_only(
    name: str, data: bytes, method: str, seven_zip: str, tmp_path: Path
) -> None:
    password = encrypt.new_password()
    path = tmp_path / "archive.zip"
    path.write_bytes(encrypt.aes_zip(data, name, password))
    good = run_7z(seven_zip, "t", f"-p{password}", path)
    assert good.returncode == 0 and "Everything is Ok" in good.stdout, good.stdout + good.stderr
    bad = run_7z(seven_zip, "t", "-pwrong", path)
    assert bad.returncode != 0, bad.stdout
    assert "Wrong password" in bad.stdout + bad.stderr
    listing = run_7z(seven_zip, "l", "-slt", path)
    assert f"Path = {name}" in listing.stdout.splitlines()
    assert f"Method = {method}" in listing.stdout.splitlines()
    out = tmp_path / "out"
    extracted = run_7z(seven_zip, "x", f"-p{password}", f"-o{out}", path)
    assert extracted.returncode == 0, extracted.stdout + extracted.stderr
    assert (out / name).read_bytes() == data


# The MIME entity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["report.xlsx", "顧客一覧①.xlsx", LONG_NAME, "a" * 150 + ".csv"],
    ids=["ascii", "japanese", "long-japanese", "long-ascii"],
)
def test_entity_headers_read_back_in_every_reader(name: str) -> None:
    entity = encrypt.encrypted_entity(b"a,b\r\n", name, "S3cretPass")
    assert b"\n" not in entity.replace(b"\r\n", b"")
    head, _, body = entity.partition(b"\r\n\r\n")
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    for line in head.split(b"\r\n"):
        # A long ASCII name stays one quoted string (old readers know no other form).
        limit = 998 if name.isascii() and name.encode() in line else 78
        assert len(line) <= limit, line
    zip_name = encrypt.safe_filename(name) + ".zip"
    old = message_from_bytes(entity, policy=compat32)
    assert old.get_content_type() == "application/zip"
    assert old["Content-Transfer-Encoding"] == "base64"
    assert mime.filename(old) == zip_name  # how inspection reads it
    assert old.get_filename() == zip_name  # RFC 2231 (filename*) in the standard library
    new = message_from_bytes(entity, policy=default)
    assert new.get_filename() == zip_name
    assert new.get_content_disposition() == "attachment"
    # The RFC 2047 name in Content-Type, for clients that only read that (old Outlook).
    name_only = Message()
    name_only["Content-Type"] = str(old["Content-Type"])
    assert mime.filename(name_only) == zip_name
    payload = old.get_payload(decode=True)
    assert isinstance(payload, bytes)
    with pyzipper.AESZipFile(io.BytesIO(payload)) as opened:
        opened.setpassword(b"S3cretPass")
        assert opened.read(encrypt.safe_filename(name)) == b"a,b\r\n"


# Encrypting attachments inside real messages ---------------------------------------------------


def _leaves(raw: bytes) -> list[tuple[list[tuple[str, str]], bytes]]:
    """Header fields and raw body of every leaf, as the email package reads them."""
    out = []

    def visit(part: Message) -> None:
        payload = part._payload  # type: ignore[attr-defined]
        content_type = part.get_content_type()
        if isinstance(payload, list):
            if content_type.startswith("multipart/") or content_type == "message/rfc822":
                for inner in payload:
                    visit(inner)
        else:
            items = [(key, str(value)) for key, value in part.raw_items()]
            out.append((items, payload.encode("ascii", "surrogateescape")))

    visit(message_from_bytes(raw, policy=compat32))
    return out


@pytest.mark.parametrize("name", TO_ENCRYPT, ids=TO_ENCRYPT)
def test_encrypting_changes_only_the_chosen_parts(name: str) -> None:
    sample = SAMPLES[name]
    raw = sample.raw
    sections = [section for section, _ in sample.encrypt]
    password = encrypt.new_password()
    out, done = encrypt.encrypt_attachments(raw, sections, password, filenames={})
    tree = mimetree.parse(raw)
    leaves = tree.leaves()
    chosen = [leaves.index(rewrite.target(tree, section)) for section in sections]

    # Byte for byte outside the replaced ranges.
    bytecheck.assert_only_leaves_changed(raw, out, sections)

    # Every other leaf, read by the email package, has the same header fields and raw body.
    before, after = _leaves(raw), _leaves(out)
    assert len(before) == len(after)
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        if index not in chosen:
            assert old == new
    assert [leaf.section for leaf in mimetree.parse(out).leaves()] == [
        leaf.section for leaf in leaves
    ]

    # Each chosen part is now a zip: right name, opens with the password and not without.
    walked = {part.path: part for part in mime.walk(out) if not part.message}
    originals = {part.path: part for part in mime.walk(raw) if not part.message}
    for (section, filename), record in zip(sample.encrypt, done, strict=True):
        assert record.section == section and record.filename == filename
        assert record.zip_name == filename + ".zip"
        (part,) = [p for path, p in walked.items() if path.rsplit("/", 1)[-1] == record.zip_name]
        assert part.content_type == "application/zip" and len(part.data) == record.zip_size
        (original,) = [p for path, p in originals.items() if path.endswith(filename)] or [
            p for path, p in originals.items() if path.endswith(f"part {section}")
        ]
        assert record.size == len(original.data)
        with pyzipper.AESZipFile(io.BytesIO(part.data)) as opened:
            assert opened.namelist() == [filename]
            with pytest.raises(RuntimeError):
                opened.read(filename)
            opened.setpassword(password.encode())
            assert opened.read(filename) == original.data


def test_report_body_without_a_name_gets_one() -> None:
    raw = SAMPLES["report"].raw
    _, done = encrypt.encrypt_attachments(raw, ["3"], "S3cretPass", filenames={})
    assert done[0].filename == "attachment-3"  # no name in the headers, none given


def test_names_from_inspection_win_over_the_headers() -> None:
    raw = SAMPLES["iso2022jp-name"].raw
    out, done = encrypt.encrypt_attachments(raw, ["2"], "S3cretPass", filenames={"2": "別名.xlsx"})
    assert done[0].zip_name == "別名.xlsx.zip"
    assert any(part.path == "別名.xlsx.zip" for part in mime.walk(out))


def test_whole_message_body_keeps_the_message_fields() -> None:
    raw = SAMPLES["single-part"].raw
    out, _ = encrypt.encrypt_attachments(raw, ["1"], "S3cretPass", filenames={})
    before, after = message_from_bytes(raw), message_from_bytes(out)
    for field in ("From", "To", "Subject", "Date", "Message-ID", "X-Mailer", "MIME-Version"):
        assert after.get_all(field) == before.get_all(field)
    assert after.get_content_type() == "application/zip"
    head = out.partition(b"\r\n\r\n")[0]
    assert raw.partition(b"\r\n\r\n")[0].split(b"\r\nContent-")[0] in head
    assert after.get_all("Content-Type") is not None and len(after.get_all("Content-Type")) == 1


def test_forwarded_single_part_keeps_the_forwarded_headers() -> None:
    raw = SAMPLES["forwarded-single-part"].raw
    out, _ = encrypt.encrypt_attachments(raw, ["2"], "S3cretPass", filenames={})
    forwarded = message_from_bytes(out).get_payload()[1]
    assert forwarded.get_content_type() == "message/rfc822"
    inner = forwarded.get_payload()[0]
    assert inner["Subject"] == "list" and inner["From"] == "honsha@dealer.example.jp"
    assert inner.get_content_type() == "application/zip"


def test_bare_lf_message_stays_bare_lf() -> None:
    raw = SAMPLES["nested-bare-lf"].raw
    out, _ = encrypt.encrypt_attachments(raw, ["2.2"], "S3cretPass", filenames={})
    assert b"\r" not in out


@pytest.mark.parametrize("name", ["smime-signed", "pgp-signed"], ids=["smime-signed", "pgp-signed"])
def test_parts_under_a_signature_are_refused(name: str) -> None:
    raw = SAMPLES[name].raw
    tree = mimetree.parse(raw)
    attachment = tree.leaves()[1]
    with pytest.raises(rewrite.NotRewritable, match="inside multipart/signed"):
        encrypt.encrypt_attachments(raw, [attachment.section], "S3cretPass", filenames={})


@pytest.mark.parametrize(
    ("raw", "sections", "error", "match"),
    [
        (mailcorpus.email_mixed(), ["9"], rewrite.NotRewritable, "no part 9"),
        (mailcorpus.email_mixed(), ["2", "2"], ValueError, "twice"),
        (mailcorpus.email_mixed()[:4000], ["2"], rewrite.NotRewritable, "structure"),
        (
            mailcorpus.email_mixed().replace(
                b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: x-uuencode"
            ),
            ["2"],
            rewrite.NotRewritable,
            "cannot be decoded exactly",
        ),
    ],
    ids=["unknown-section", "repeated", "truncated", "unknown-encoding"],
)
def test_refusals(raw: bytes, sections: list[str], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        encrypt.encrypt_attachments(raw, sections, "S3cretPass", filenames={})


def test_damaged_base64_is_not_zipped_from_a_guess() -> None:
    raw = mailcorpus.raw_nested()
    damaged = raw.replace(b"--inner--", b"AB==CD\r\n--inner--", 1)
    with pytest.raises(rewrite.NotRewritable, match="cannot be decoded exactly"):
        encrypt.encrypt_attachments(damaged, ["2.2"], "S3cretPass", filenames={})


@pytest.mark.parametrize(
    "name",
    ["iso2022jp-name", "rfc2231-continuation", "related-inline-image", "email-forwarded-inner"],
    ids=["iso2022jp-name", "rfc2231-continuation", "related-inline-image", "forwarded"],
)
def test_7zip_opens_the_zip_taken_from_the_mail(name: str, seven_zip: str, tmp_path: Path) -> None:
    sample = SAMPLES[name]
    section, filename = sample.encrypt[0]
    password = encrypt.new_password()
    out, done = encrypt.encrypt_attachments(sample.raw, [section], password, filenames={})
    (part,) = [p for p in mime.walk(out) if p.path.endswith(done[0].zip_name)]
    path = tmp_path / "from-mail.zip"
    path.write_bytes(part.data)
    assert run_7z(seven_zip, "t", f"-p{password}", path).returncode == 0
    assert run_7z(seven_zip, "t", "-pwrong", path).returncode != 0
    assert f"Path = {filename}" in run_7z(seven_zip, "l", "-slt", path).stdout.splitlines()
