from __future__ import annotations

import base64
import binascii
import quopri
import random
from email.message import EmailMessage

import pytest

from dlp_proxy.actions import mimetree, rewrite
from dlp_proxy.actions.encrypt import encrypt_attachments
from dlp_proxy.inspect import filetype, inspect_message, mime
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


# -- ambiguous structure: every reading walked, none chosen ---------------------------------

LIST = csv_bytes(customers(30))
LIST_B64 = base64.encodebytes(LIST).replace(b"\n", b"\r\n")
NOTE = b"Hello, see you on Monday.\r\n"


def mixed(*parts: bytes, head: bytes = b'Content-Type: multipart/mixed; boundary="B"') -> bytes:
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts) + b"--B--\r\n"
    return raw_message(head, body)


def part(fields: bytes, body: bytes) -> bytes:
    return fields + b"\r\n\r\n" + body


def inner_message(*parts: bytes) -> bytes:
    body = b"".join(b"--J\r\n" + p + b"\r\n" for p in parts) + b"--J--\r\n"
    return raw_message(b'Content-Type: multipart/mixed; boundary="J"', body)


CSV_B64_PART = part(
    b'Content-Type: text/csv; name="list.csv"\r\nContent-Transfer-Encoding: base64', LIST_B64
)

# name: (ambiguous message, its unambiguous twin, words the detail must hold). Each ambiguous
# message hides the list from the reading the email package takes; the twin holds a note.
AMBIGUOUS = {
    "two-content-types": (
        mixed(
            part(
                b'Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary="I"',
                b"--I\r\n" + CSV_B64_PART + b"\r\n--I--",
            )
        ),
        mixed(part(b"Content-Type: text/plain", NOTE)),
        "2 Content-Type fields",
    ),
    "two-transfer-encodings": (
        mixed(
            part(
                b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n"
                b"Content-Transfer-Encoding: base64",
                LIST_B64,
            )
        ),
        mixed(part(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit", NOTE)),
        "2 Content-Transfer-Encoding fields",
    ),
    "two-different-dispositions": (
        mixed(
            part(
                b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                b"Content-Disposition: attachment; filename=note.txt\r\n"
                b"Content-Disposition: attachment; filename=list.csv",
                LIST_B64,
            )
        ),
        mixed(
            part(
                b"Content-Type: text/plain\r\n"
                b"Content-Disposition: attachment; filename=note.txt\r\n"
                b"Content-Disposition: attachment;  filename=note.txt",
                NOTE,
            )
        ),
        "2 different Content-Disposition fields",
    ),
    "boundary-twice": (
        mixed(CSV_B64_PART, head=b'Content-Type: multipart/mixed; boundary="A"; boundary="B"'),
        mixed(part(b"Content-Type: text/plain", NOTE)),
        "boundary parameter of Content-Type given more than once",
    ),
    "boundary-twice-rfc2231": (
        mixed(
            CSV_B64_PART,
            head=b"Content-Type: multipart/mixed; boundary*=us-ascii''A; boundary=\"B\"",
        ),
        mixed(
            part(b"Content-Type: text/plain", NOTE),
            head=b'Content-Type: multipart/mixed; boundary*0="B"',
        ),
        "boundary parameter of Content-Type given more than once",
    ),
    "boundary-segment-twice": (
        mixed(
            CSV_B64_PART,
            head=b'Content-Type: multipart/mixed; boundary*0="B"; boundary*0="A"',
        ),
        mixed(
            part(b"Content-Type: text/plain", NOTE),
            head=b'Content-Type: multipart/mixed; boundary*0="B"; boundary*1=""',
        ),
        "boundary parameter of Content-Type given more than once",
    ),
    "boundary-of-the-enclosing-multipart": (
        mixed(part(b'Content-Type: multipart/mixed; boundary="B"', b"--B\r\n" + CSV_B64_PART)),
        mixed(
            part(
                b'Content-Type: multipart/mixed; boundary="C"',
                b"--C\r\n" + part(b"Content-Type: text/plain", NOTE) + b"\r\n--C--",
            )
        ),
        "boundary of Content-Type reused from an enclosing multipart",
    ),
    "base64-that-is-not": (
        mixed(part(b"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64", LIST)),
        mixed(
            part(
                b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64",
                base64.encodebytes(NOTE),
            )
        ),
        "declared base64, but",
    ),
    "unknown-transfer-encoding": (
        mixed(part(b"Content-Type: text/csv\r\nContent-Transfer-Encoding: x-gzip64", LIST)),
        mixed(part(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit", NOTE)),
        "Content-Transfer-Encoding x-gzip64 is not a standard encoding",
    ),
    "uuencode": (
        mixed(
            part(
                b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode",
                b"begin 644 list.csv\r\n"
                + b"".join(
                    binascii.b2a_uu(LIST[i : i + 45]).replace(b"\n", b"\r\n")
                    for i in range(0, len(LIST), 45)
                )
                + b"`\r\nend\r\n",
            )
        ),
        mixed(part(b"Content-Type: text/plain", NOTE)),
        "Content-Transfer-Encoding x-uuencode is not a standard encoding",
    ),
    "message-partial": (
        mixed(
            part(
                b'Content-Type: message/partial; id="x@corp.example"; number=1; total=2',
                inner_message(CSV_B64_PART)[:-400],
            )
        ),
        mixed(part(b"Content-Type: message/rfc822", inner_message(part(b"", NOTE)))),
        "message/partial (fragment 1 of 2)",
    ),
}


@pytest.mark.parametrize("shape", AMBIGUOUS.values(), ids=list(AMBIGUOUS))
def test_ambiguous_structure_is_unscannable_and_every_reading_is_read(
    shape: tuple[bytes, bytes, str],
) -> None:
    ambiguous, twin, detail = shape
    found = inspect_message(ambiguous).attachments
    flagged = [a for a in found if a.unscannable == "ambiguous"]
    assert flagged, found
    assert all(detail in (a.detail or "") for a in flagged), flagged
    if "partial" not in detail:  # a fragment carries only part of the list
        assert sum(a.personal_rows for a in found) >= 29, found
    assert [a for a in inspect_message(twin).attachments if a.unscannable] == []


def test_a_multipart_ambiguity_is_listed_as_a_record_of_its_own() -> None:
    top = mixed(CSV_B64_PART, head=b'Content-Type: multipart/mixed; boundary="A"; boundary="B"')
    record, listed = inspect_message(top).attachments
    assert (record.path, record.type, record.section, record.status) == (
        "message",
        "multipart",
        None,
        "unscannable",
    )
    assert (listed.path, listed.unscannable, listed.personal_rows) == ("list.csv", None, 30)
    nested = mixed(
        part(b"Content-Type: text/plain", NOTE),
        part(
            b"Content-Type: multipart/alternative; boundary=\"I\"; boundary*=''J",
            b"--I\r\n" + part(b"Content-Type: text/plain", NOTE) + b"\r\n--I--",
        ),
    )
    [record] = inspect_message(nested).attachments
    assert (record.path, record.type, record.unscannable) == ("part 2", "multipart", "ambiguous")


def test_two_readings_of_a_part_share_its_path_and_section() -> None:
    raw = mixed(part(b"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64", LIST))
    decoded, written = inspect_message(raw).attachments
    assert decoded.path == written.path == "part 1"
    assert decoded.section == written.section == "1"
    assert "read as base64; invalid characters in base64" in (decoded.detail or "")
    assert written.detail and written.detail.endswith("read as written")
    assert (decoded.personal_rows, written.personal_rows) == (0, 30)


def test_slightly_damaged_base64_is_still_corrupt_not_ambiguous() -> None:
    damaged = LIST_B64.replace(b"\r\n", b"!\r\n", 3)
    [attachment] = inspect_message(
        mixed(part(b"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64", damaged))
    ).attachments
    assert attachment.unscannable == "corrupt"
    assert attachment.personal_rows >= 29


# -- attached messages with a transfer encoding ---------------------------------------------

FORWARDED = inner_message(part(b"Content-Type: text/plain", NOTE), CSV_B64_PART)


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        (b"base64", base64.encodebytes(FORWARDED).replace(b"\n", b"\r\n")),
        (b"quoted-printable", quopri.encodestring(FORWARDED)),
    ],
    ids=["base64", "quoted-printable"],
)
def test_an_attached_message_with_a_transfer_encoding_is_decoded_and_walked(
    encoding: bytes, encoded: bytes
) -> None:
    raw = mixed(
        part(b"Content-Type: text/plain", NOTE),
        part(
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: " + encoding + b"\r\n"
            b'Content-Disposition: attachment; filename="fwd.eml"',
            encoded,
        ),
    )
    forwarded, listed = inspect_message(raw).attachments
    # RFC 2046 forbids the encoding, but a program that does not decode it shows only
    # encoded text: the decoded reading is the one that can show the list, and it is read.
    assert (forwarded.path, forwarded.type, forwarded.status) == ("fwd.eml", "eml", "read")
    assert (listed.path, listed.personal_rows, listed.section) == ("fwd.eml/list.csv", 30, "2.2")
    # Rewriting never touches a section inside it: the structure is refused whole.
    tree = mimetree.verified(raw)
    assert not tree.rewritable and "message/rfc822 with Content-Transfer-Encoding" in (
        tree.problem or ""
    )
    with pytest.raises(rewrite.NotRewritable):
        encrypt_attachments(raw, ["2.2"], "password-1", filenames={})


def test_a_multipart_sent_base64_is_decoded_and_read() -> None:
    raw = raw_message(
        b'Content-Type: multipart/mixed; boundary="I"\r\nContent-Transfer-Encoding: base64',
        base64.encodebytes(b"--I\r\n" + CSV_B64_PART + b"\r\n--I--\r\n"),
    )
    [listed] = inspect_message(raw).attachments
    assert (listed.status, listed.personal_rows) == ("read", 30)
    unknown = raw.replace(b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: x-foo")
    assert "ambiguous" in {a.unscannable for a in inspect_message(unknown).attachments}


# -- delivery reports: header fields read as text -------------------------------------------

REPORT_TEXT = part(
    b"Content-Type: text/plain; charset=us-ascii", b"Your message was not delivered."
)
DELIVERY_STATUS = part(
    b"Content-Type: message/delivery-status",
    b"Reporting-MTA: dns; mta.corp.example\r\nArrival-Date: Mon, 1 Apr 2024 09:00:00 +0900\r\n"
    b"\r\nFinal-Recipient: rfc822; nobody@corp.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@corp.example>: Recipient address rejected",
)
RETURNED_HEADERS = (
    b"Return-Path: <sales@corp.example>\r\nFrom: sales@corp.example\r\n"
    b"To: nobody@corp.example\r\nSubject: list\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="J"\r\n'
)


def report(*parts: bytes, kind: bytes = b"delivery-status") -> bytes:
    head = b"Content-Type: multipart/report; report-type=" + kind + b'; boundary="B"'
    return mixed(*parts, head=head)


@pytest.mark.parametrize(
    "raw",
    [
        report(
            REPORT_TEXT,
            DELIVERY_STATUS,
            part(b"Content-Type: text/rfc822-headers", RETURNED_HEADERS),
        ),
        report(
            REPORT_TEXT,
            part(
                b"Content-Type: message/global-delivery-status",
                b"Reporting-MTA: dns; mta.corp.example\r\n\r\nFinal-Recipient: utf-8; "
                + "山田@corp.example".encode()
                + b"\r\nAction: failed\r\nStatus: 5.1.1",
            ),
            part(b"Content-Type: message/global-headers", RETURNED_HEADERS),
        ),
        report(
            REPORT_TEXT,
            part(
                b"Content-Type: message/disposition-notification",
                b"Reporting-UA: mua.corp.example\r\nFinal-Recipient: rfc822; a@corp.example\r\n"
                b"Disposition: manual-action/MDN-sent-manually; displayed",
            ),
            kind=b"disposition-notification",
        ),
    ],
    ids=["rfc3464-headers-returned", "rfc6533-global", "rfc8098-mdn"],
)
def test_delivery_reports_are_header_fields_read_as_text(raw: bytes) -> None:
    assert inspect_message(raw).attachments == ()


def test_a_delivery_report_returning_the_message_inspects_its_attachments() -> None:
    returned = inner_message(part(b"Content-Type: text/plain", NOTE), CSV_B64_PART)
    raw = report(REPORT_TEXT, DELIVERY_STATUS, part(b"Content-Type: message/rfc822", returned))
    forwarded, listed = inspect_message(raw).attachments
    assert (forwarded.path, forwarded.unscannable) == ("part 3", None)
    assert (listed.path, listed.personal_rows) == ("part 3/list.csv", 30)


def test_returned_headers_with_a_body_are_walked_as_a_message() -> None:
    body = RETURNED_HEADERS + b"\r\n--J\r\n" + CSV_B64_PART + b"\r\n--J--\r\n"
    raw = report(REPORT_TEXT, DELIVERY_STATUS, part(b"Content-Type: text/rfc822-headers", body))
    listed = inspect_message(raw).attachments
    assert [(a.path, a.personal_rows) for a in listed] == [
        ("part 3", 0),
        ("part 3/list.csv", 30),
    ]


def test_a_header_block_type_holding_a_mime_body_is_ambiguous_and_walked() -> None:
    raw = report(REPORT_TEXT, part(b"Content-Type: message/global-delivery-status", FORWARDED))
    record, *inside = inspect_message(raw).attachments
    assert (record.path, record.type, record.unscannable) == ("part 2", "eml", "ambiguous")
    assert "holds a MIME body" in (record.detail or "")
    assert sum(a.personal_rows for a in inside) == 30


def test_attached_messages_count_towards_the_nesting_bound() -> None:
    inner = raw_message(b"Content-Type: text/csv", LIST)
    for level in range(200):
        inner = (
            mixed(part(b"Content-Type: message/rfc822", inner))
            .replace(b'"B"', b'"B%d"' % level)
            .replace(b"--B", b"--B%d" % level)
        )
    parts = list(mime.walk(inner))
    assert parts[-1].damage is not None and parts[-1].damage.reason == "limit"
    assert max(p.depth for p in parts) <= mime.MAX_MIME_DEPTH // 2


def test_a_parameter_bomb_is_a_limit_not_hours_of_parsing() -> None:
    """The email package's parameter parser is quadratic in semicolons: a Content-Type of
    80,000 parameters (240 KB) takes it seconds, a few megabytes of them hours."""
    bomb = b"; a" * 80_000
    raw = raw_message(b'Content-Type: multipart/mixed; boundary="B"' + bomb, b"--B--\r\n")
    [attachment] = inspect_message(raw).attachments
    assert (attachment.path, attachment.unscannable) == ("message", "limit")
    assert attachment.detail == (
        "80,001 parameters in 1 Content-Type and Content-Disposition field(s): too many to parse"
    )
    assert "too many to parse" in (mimetree.parse(raw).problem or "")
    # Long names with RFC 2231 continuations, in many parts, are far from the bound.
    name = "".join(f";\r\n filename*{i}*=%E9%A1%A7%E5%AE%A2%E3%83%AA" for i in range(40))
    parts = [
        part(b"Content-Type: text/plain\r\nContent-Disposition: attachment" + name.encode(), NOTE)
    ]
    assert mime.oversized_fields(mixed(*(parts * 300))) is None


def test_huge_header_blocks_are_read_as_any_text() -> None:
    """Checked line by line only up to a megabyte; past that, text like any other."""
    fields = b"X-Field: value\r\n" * 100_000
    assert filetype.header_fields_only(fields[:100_000])
    assert not filetype.header_fields_only(fields)
    raw = report(REPORT_TEXT, part(b"Content-Type: text/rfc822-headers", fields))
    assert inspect_message(raw).attachments == ()
