from __future__ import annotations

import base64
import random
from email.message import EmailMessage

import pytest

from dlp_proxy.inspect import inspect_message, mime
from tests.builders import csv_bytes, customers, message, raw_message, xlsx_bytes, zip_bytes

CIRCLED_ONE = b"\x1b$B\x2d\x21\x1b(B"  # ① as Windows writes it in ISO-2022-JP
NAME_ISO2022 = "顧客".encode("iso2022_jp") + CIRCLED_ONE + b".csv"


def _encoded_word(data: bytes, charset: str = "ISO-2022-JP") -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


def _single_part(header: bytes) -> bytes:
    if not header.startswith(b"Content-Type:"):
        header = b"Content-Type: text/csv\r\n" + header
    return raw_message(
        b"Content-Transfer-Encoding: base64\r\n" + header,
        base64.b64encode(b"a,b\r\n1,2\r\n") + b"\r\n",
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            b"Content-Disposition: attachment; filename*=UTF-8''%E9%A1%A7%E5%AE%A2.csv",
            "顧客.csv",
        ),
        (
            b"Content-Disposition: attachment;\r\n filename*0*=ISO-2022-JP''"
            + "".join(f"%{byte:02X}" for byte in NAME_ISO2022[:8]).encode()
            + b";\r\n filename*1*="
            + "".join(f"%{byte:02X}" for byte in NAME_ISO2022[8:]).encode(),
            "顧客①.csv",
        ),
        (
            b'Content-Disposition: attachment; filename="' + _encoded_word(NAME_ISO2022) + b'"',
            "顧客①.csv",
        ),
        (
            b'Content-Disposition: attachment; filename="'
            + _encoded_word(NAME_ISO2022[:9])
            + b"\r\n "
            + _encoded_word(NAME_ISO2022[9:])
            + b'"',
            "顧客①.csv",
        ),
        (
            b'Content-Disposition: attachment; filename="' + "顧客①.csv".encode("cp932") + b'"',
            "顧客①.csv",
        ),
        (b'Content-Disposition: attachment; filename="' + "顧客①.csv".encode() + b'"', "顧客①.csv"),
        (b'Content-Disposition: attachment; filename="' + NAME_ISO2022 + b'"', "顧客①.csv"),
        (
            b'Content-Type: text/csv; name="'
            + _encoded_word("㈱売上.csv".encode("cp932"), "Shift_JIS")
            + b'"',
            "㈱売上.csv",
        ),
        (
            b'Content-Disposition: attachment; filename="C:\\\\Users\\\\sato\\\\list.csv"',
            "list.csv",
        ),
        (b"Content-Disposition: attachment; filename*=x-bogus''%93%8C.csv", "東.csv"),
        (
            b'Content-Disposition: attachment; filename="=?ISO-2022-JP?B?!!!?=.csv"',
            "=?ISO-2022-JP?B?!!!?=.csv",
        ),
        (b"Content-Disposition: attachment", None),
    ],
    ids=[
        "rfc2231-utf8",
        "rfc2231-iso2022jp-continued-nec",
        "encoded-word-iso2022jp-nec",
        "encoded-word-folded-split",
        "raw-cp932-bytes",
        "raw-utf8-bytes",
        "raw-iso2022jp-bytes",
        "content-type-name-sjis-word",
        "windows-path-stripped",
        "rfc2231-unknown-charset",
        "broken-encoded-word",
        "no-name",
    ],
)
def test_filename_decoding(header: bytes, expected: str | None) -> None:
    raw = _single_part(header)
    [part] = list(mime.walk(raw))
    assert part.named is (expected is not None)
    assert part.path == (expected or "part 1")
    assert part.data == b"a,b\r\n1,2\r\n"


def test_email_package_rfc2231_name_round_trips() -> None:
    msg = message(attachments=[(b"x", "application/octet-stream", "顧客リスト（2024年）①.xlsx")])
    paths = [part.path for part in mime.walk(msg.as_bytes())]
    assert paths == ["part 1", "顧客リスト（2024年）①.xlsx"]


def test_nested_messages_are_walked_with_paths() -> None:
    inner = message(attachments=[(csv_bytes(customers(3)), "text/csv", "list.csv")])
    outer = EmailMessage()
    outer["Subject"] = "Fwd"
    outer.set_content("see below")
    outer.add_attachment(inner, filename="fwd.eml")
    parts = list(mime.walk(outer.as_bytes()))
    assert [(p.path, p.message, p.depth) for p in parts] == [
        ("part 1", False, 0),
        ("fwd.eml", True, 0),
        ("fwd.eml/part 2.1", False, 1),
        ("fwd.eml/list.csv", False, 1),
    ]
    assert parts[-1].data == csv_bytes(customers(3))


BODY = (
    b"--XYZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b'--XYZ\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename="a.csv"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(csv_bytes(customers(4)))
    + b"--XYZ--\r\n"
)


@pytest.mark.parametrize(
    "head",
    [b"Content-Type: multipart/mixed", b'Content-Type: multipart/mixed; boundary="ABC"'],
    ids=["missing-boundary", "wrong-boundary"],
)
def test_lost_boundary_is_recovered(head: bytes) -> None:
    inspection = inspect_message(raw_message(head, BODY))
    [attachment] = inspection.attachments
    assert (attachment.path, attachment.type, attachment.unscannable) == ("a.csv", "csv", None)
    assert attachment.personal_rows == 4


def test_unsplittable_multipart_is_scanned_whole_and_marked() -> None:
    body = csv_bytes(customers(5))
    inspection = inspect_message(raw_message(b"Content-Type: multipart/mixed", body))
    [attachment] = inspection.attachments
    assert attachment.unscannable == "corrupt"
    assert "boundary" in (attachment.detail or "")
    assert attachment.personal_rows == 5  # what could be read still counts


def _base64_message(payload: bytes, name: str = "list.csv") -> bytes:
    return raw_message(
        b'Content-Type: multipart/mixed; boundary="B"',
        b"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: text/csv\r\n"
        b'Content-Disposition: attachment; filename="' + name.encode() + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"\r\n--B--\r\n",
    )


ROWS = customers(40)


def _cut_to_two_over(encoded: bytes) -> bytes:
    """Cut base64 text mid-group, as a truncated transfer leaves it."""
    core = encoded.rstrip(b"=")
    return core[: len(core) - len(core) % 4 - 2]


@pytest.mark.parametrize(
    ("payload", "unscannable", "detail"),
    [
        (base64.encodebytes(csv_bytes(ROWS)), None, None),
        (
            base64.encodebytes(csv_bytes(ROWS)).replace(b"\n", b"!\n", 3),
            "corrupt",
            "invalid characters",
        ),
        (_cut_to_two_over(base64.b64encode(csv_bytes(ROWS))), "corrupt", "truncated"),
        (
            base64.encodebytes(csv_bytes(ROWS)[:600]) + base64.encodebytes(csv_bytes(ROWS)[600:]),
            None,
            None,
        ),
    ],
    ids=["clean", "junk-characters", "cut-mid-group", "concatenated-blocks"],
)
def test_broken_base64_becomes_a_finding(
    payload: bytes, unscannable: str | None, detail: str | None
) -> None:
    [attachment] = inspect_message(_base64_message(payload)).attachments
    assert attachment.unscannable == unscannable
    assert detail is None or detail in (attachment.detail or "")
    assert attachment.personal_rows >= len(ROWS) - 1  # what decoded is still read


def test_truncated_message_marks_the_cut_attachment() -> None:
    xlsx = xlsx_bytes(customers(30))
    raw = message(attachments=[(xlsx, "application/octet-stream", "顧客.xlsx")]).as_bytes()
    cut = raw[: raw.index(b"filename") + len(xlsx) // 2]
    [attachment] = inspect_message(cut).attachments
    assert (attachment.path, attachment.type, attachment.unscannable) == (
        "顧客.xlsx",
        "xlsx",
        "corrupt",
    )


def test_absurd_nesting_is_a_limit_not_a_crash() -> None:
    depth = 400
    head = b'Content-Type: multipart/mixed; boundary="b0"'
    body = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
        for i in range(depth)
    )
    attachments = inspect_message(raw_message(head, body)).attachments
    assert [a.unscannable for a in attachments] == ["limit"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"Content-Type: ;;;\r\n\r\nbody",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\r\n--",
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"Content-Type: text/csv; charset=bogus\r\n\r\n=ZZ=\r\n",
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
        b"Content-Type: text/plain; charset*=x''\xff\r\n\r\n\xff\xfe",
        bytes(range(256)) * 40,
    ],
    ids=[
        "empty",
        "blank",
        "junk-type",
        "empty-boundary",
        "bad-qp",
        "encoded-rfc822",
        "bad-charset",
        "noise",
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    inspection = inspect_message(raw)
    for attachment in inspection.attachments:
        assert attachment.personal_rows == 0


@pytest.mark.parametrize(
    ("text", "data", "damaged"),
    [
        (b"QUJD", b"ABC", False),
        (b"QUJD\r\nRA==\r\n", b"ABCD", False),
        (b"QUJDRA==QUJD", b"ABCDABC", False),
        (b"QQ=A", b"A", True),
        (b"QQ", b"A", True),
        (b"Q", b"", True),
        (b"QUJDR===", b"ABC", True),
        (b"QU!JD", b"ABC", True),
        (b"", b"", False),
    ],
    ids=[
        "plain",
        "lines",
        "concatenated",
        "data-after-pad",
        "unpadded",
        "one-char",
        "over-padded",
        "junk",
        "empty",
    ],
)
def test_decode_base64_edges(text: bytes, data: bytes, damaged: bool) -> None:
    decoded, damage = mime.decode_base64(text)
    assert decoded == data
    assert (damage is not None) is damaged


def test_decode_base64_never_raises_and_round_trips() -> None:
    rng = random.Random(7)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n !*\xff"
    for _ in range(3000):
        text = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        mime.decode_base64(text)
        original = rng.randbytes(rng.randrange(0, 60))
        assert mime.decode_base64(base64.encodebytes(original)) == (original, None)


def test_mutated_messages_never_raise() -> None:
    """Seeded damage to a real message (bytes flipped, cut, lines dropped or doubled)."""
    inner = zip_bytes([("list.csv", csv_bytes(customers(5)))])
    raw = message(
        attachments=[
            (xlsx_bytes(customers(5)), "application/octet-stream", "顧客①.xlsx"),
            (inner, "application/zip", "a.zip"),
            (csv_bytes(customers(5), encoding="cp932"), "text/csv", "b.csv"),
        ]
    ).as_bytes()
    rng = random.Random(11)
    for _ in range(150):
        damaged = bytearray(raw)
        for _ in range(rng.randrange(1, 20)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        lines = bytes(damaged).split(b"\n")
        for _ in range(rng.randrange(0, 4)):
            index = rng.randrange(len(lines))
            if rng.random() < 0.5:
                del lines[index]
            else:
                lines.insert(index, lines[index])
        mutated = b"\n".join(lines)[: rng.randrange(len(raw) // 2, len(raw) + 1)]
        inspection = inspect_message(mutated)
        assert all(isinstance(a.path, str) and a.path for a in inspection.attachments)
