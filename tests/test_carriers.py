"""Carriers of attachments: 7z archives, TNEF winmail.dat, Outlook .msg, S/MIME, OpenPGP and
uuencoded text. A customer list inside each is found, harmless twins are read without
findings, encrypted variants are *encrypted*, damaged ones *corrupt* (what was readable still
counted), bombs *limit* without the memory to expand them."""

from __future__ import annotations

import base64
import functools
import io
import tracemalloc
from collections.abc import Callable

import compressed_rtf
import py7zr
import pytest
import tnefparse
from py7zr import archiveinfo

from dlp_proxy.inspect import Limits, inspect_file, inspect_message, sevenzip
from dlp_proxy.inspect.model import Attachment
from tests import carriers, cfb, mailcorpus
from tests.builders import csv_bytes, customers, message, xlsx_bytes

ROWS = customers(24)
CSV = csv_bytes(ROWS)
XLSX = xlsx_bytes(ROWS)
NOTES = "打ち合わせのメモです。\n来週もよろしくお願いします。\n".encode()

Summary = list[tuple[str, str, int, str | None]]


def summary(attachments: tuple[Attachment, ...]) -> Summary:
    return [(a.path, a.type, a.personal_rows, a.unscannable) for a in attachments]


def built(build: Callable[[], bytes]) -> bytes:
    """The builder's output; a skip naming the program when one it runs is missing."""
    try:
        return build()
    except carriers.MissingTool as missing:
        pytest.skip(str(missing))


def check(attachments: tuple[Attachment, ...], expected: Summary) -> None:
    assert summary(attachments) == expected
    assert all(a.detail for a in attachments if a.unscannable), [a.detail for a in attachments]


# --- 7z ------------------------------------------------------------------------------------

LIST_7Z = [("顧客.xlsx", XLSX), ("export/list.csv", CSV), ("empty.txt", b"")]


@functools.cache
def seven(**options: object) -> bytes:
    return carriers.seven_zip_bytes(LIST_7Z, **options)  # type: ignore[arg-type]


FOUND_7Z = [
    ("a.7z", "7z", 0, None),
    ("a.7z/empty.txt", "empty", 0, None),
    ("a.7z/export/list.csv", "csv", len(ROWS), None),
    ("a.7z/顧客.xlsx", "xlsx", len(ROWS), None),
]


def _locked(reason: str) -> Summary:
    return [
        ("a.7z", "7z", 0, None),
        ("a.7z/empty.txt", "empty", 0, None),
        ("a.7z/export/list.csv", "csv", 0, reason),
        ("a.7z/顧客.xlsx", "xlsx", 0, reason),
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, FOUND_7Z),
        ({"solid": False}, FOUND_7Z),
        ({"method": "LZMA"}, FOUND_7Z),
        ({"method": "PPMd"}, FOUND_7Z),
        ({"method": "BZip2"}, FOUND_7Z),
        ({"method": "Copy"}, FOUND_7Z),
        ({"password": "pw-2024"}, _locked("encrypted")),
        ({"password": "pw-2024", "encrypt_headers": True}, [("a.7z", "7z", 0, "encrypted")]),
        ({"method": "Deflate"}, _locked("unsupported")),
        ({"method": "Deflate64"}, _locked("unsupported")),
    ],
    ids=[
        "solid-lzma2",
        "one-block-per-file",
        "lzma",
        "ppmd",
        "bzip2",
        "stored",
        "encrypted-content",
        "encrypted-names",
        "deflate-not-opened",
        "deflate64-not-opened",
    ],
)
def test_seven_zip_members(options: dict[str, object], expected: Summary) -> None:
    check(inspect_file(built(lambda: seven(**options)), "a.7z"), expected)


def test_seven_zip_harmless_twin_has_no_findings() -> None:
    data = built(lambda: carriers.seven_zip_bytes([("notes.txt", NOTES), ("memo.csv", b"a,b\n")]))
    attachments = inspect_file(data, "a.7z")
    assert [(a.status, a.personal_rows) for a in attachments] == [("read", 0)] * 3


def test_seven_zip_bcj2_is_unsupported_for_its_members() -> None:
    data = built(lambda: carriers.seven_zip_bytes([("list.csv", CSV)], method="BCJ2"))
    [archive, member] = inspect_file(data, "a.7z")
    assert (archive.unscannable, member.unscannable) == (None, "unsupported")
    assert member.detail == "7z compression method BCJ2 is not opened"


def _damaged_second_block() -> bytes:
    """Three files in blocks of their own; bytes in the middle of the second one flipped."""
    data = bytearray(
        carriers.seven_zip_bytes(
            [("a.csv", CSV), ("b.xlsx", XLSX), ("c.csv", CSV.replace(b",", b"\t"))], solid=False
        )
    )
    with py7zr.SevenZipFile(io.BytesIO(bytes(data))) as archive:
        streams = archive.header.main_streams
        names = [f.filename for f in archive.files]
        second = names.index("b.xlsx")
        start = archive.afterheader + streams.packinfo.packpositions[second]
        length = streams.packinfo.packsizes[second]
    for offset in range(start + length // 3, start + length // 3 + 16):
        data[offset] ^= 0x55
    return bytes(data)


def test_seven_zip_damaged_block_costs_only_its_members() -> None:
    attachments = inspect_file(built(_damaged_second_block), "a.7z")
    by_path = {a.path: (a.personal_rows, a.unscannable) for a in attachments}
    assert by_path["a.7z/a.csv"] == (len(ROWS), None)
    assert by_path["a.7z/c.csv"] == (len(ROWS), None)
    assert by_path["a.7z/b.xlsx"] == (0, "corrupt")


def test_seven_zip_truncated_or_garbage_is_corrupt() -> None:
    whole = built(seven)
    for data in (whole[:-40], whole[: len(whole) // 2], b"7z\xbc\xaf\x27\x1c" + bytes(200)):
        [archive] = inspect_file(data, "a.7z")
        assert (archive.type, archive.unscannable) == ("7z", "corrupt")


BOMB = 200 << 20


@pytest.mark.parametrize(
    ("files", "options", "limits", "expected"),
    [
        (
            [("zeros.csv", BOMB)],
            {},
            Limits(),
            [("a.7z", None), ("a.7z/zeros.csv", "limit")],
        ),
        (
            [("zeros.csv", 20 << 20), ("list.csv", None)],
            {"solid": False},
            Limits(),
            [("a.7z", None), ("a.7z/list.csv", None), ("a.7z/zeros.csv", "limit")],
        ),
        (
            [("a.csv", None), ("b.csv", None), ("c.csv", None)],
            {},
            Limits(max_members=2),
            [("a.7z", "limit"), ("a.7z/a.csv", None), ("a.7z/b.csv", None)],
        ),
        (
            [(f"{i:03}.bin", 1 << 20) for i in range(100)],
            {},
            Limits(),
            [("a.7z", "limit")],
        ),
        (
            [("a.csv", None), ("b.tsv", None), ("c.txt", None)],
            {},
            Limits(max_total_bytes=2 * len(CSV) + 10),
            [("a.7z", "limit"), ("a.7z/a.csv", None), ("a.7z/b.tsv", None)],
        ),
        (
            [("a.csv", None)],
            {},
            Limits(max_seconds=-1.0),
            [("a.7z", "limit")],
        ),
    ],
    ids=[
        "declares-over-member-limit",
        "ratio-bomb-beside-a-list",
        "member-count",
        "many-members-expanding-too-far",
        "total-bytes",
        "deadline",
    ],
)
def test_seven_zip_limits(
    files: list[tuple[str, int | None]],
    options: dict[str, object],
    limits: Limits,
    expected: list[tuple[str, str | None]],
) -> None:
    content = [(name, CSV if size is None else bytes(size)) for name, size in files]
    data = built(lambda: carriers.seven_zip_bytes(content, **options))  # type: ignore[arg-type]
    attachments = inspect_file(data, "a.7z", limits=limits)
    assert [(a.path, a.unscannable) for a in attachments] == expected
    assert all(a.detail for a in attachments if a.unscannable)


def test_seven_zip_member_after_a_refused_one_in_a_solid_block_is_not_expanded() -> None:
    data = built(
        lambda: carriers.seven_zip_bytes([("a.bin", bytes(BOMB)), ("b.csv", CSV)], method="LZMA2")
    )
    attachments = inspect_file(data, "a.7z")
    assert [(a.path, a.unscannable) for a in attachments] == [
        ("a.7z", None),
        ("a.7z/a.bin", "limit"),
        ("a.7z/b.csv", "limit"),
    ]
    assert "solid block" in (attachments[2].detail or "")


def test_seven_zip_with_lying_sizes_is_corrupt_and_never_expanded_past_them() -> None:
    """The header says 3 MiB; the LZMA2 stream holds 128 MiB of zeros. py7zr is asked for no
    more than the declared size, so the member fails its CRC with memory to spare."""
    actual = 128 << 20
    honest = built(
        lambda: carriers.seven_zip_bytes([("zeros.csv", bytes(actual))], compress_headers=False)
    )
    lying = carriers.seven_zip_declare(honest, actual=actual, declared=3 << 20)
    tracemalloc.start()
    try:
        attachments = inspect_file(lying, "a.7z", limits=Limits(max_ratio=100_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(a.path, a.unscannable) for a in attachments] == [
        ("a.7z", None),
        ("a.7z/zeros.csv", "corrupt"),
    ]
    assert peak < 64 << 20, peak


def test_seven_zip_headers_listing_too_much_are_refused_by_py7zr_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our lowered limits are the ones py7zr consults while it reads the header."""
    assert archiveinfo.MAX_NUMFILES == sevenzip.MAX_ENTRIES
    assert archiveinfo.MAX_HEADER_SIZE == sevenzip.MAX_HEADER_BYTES
    data = built(lambda: carriers.seven_zip_bytes([(f"{i}.txt", b"x") for i in range(40)]))
    monkeypatch.setattr(archiveinfo, "MAX_NUMFILES", 30)
    [archive] = inspect_file(data, "a.7z")
    assert archive.unscannable == "limit"
    monkeypatch.setattr(archiveinfo, "MAX_NUMFILES", sevenzip.MAX_ENTRIES)
    monkeypatch.setattr(archiveinfo, "MAX_HEADER_SIZE", 64)
    [archive] = inspect_file(data, "a.7z")
    assert archive.unscannable == "limit"


def test_seven_zip_in_a_message() -> None:
    raw = message(
        attachments=[(built(seven), "application/x-7z-compressed", "backup.7z")]
    ).as_bytes()
    inspection = inspect_message(raw)
    assert [(a.path, a.personal_rows) for a in inspection.attachments] == [
        ("backup.7z", 0),
        ("backup.7z/empty.txt", 0),
        ("backup.7z/export/list.csv", len(ROWS)),
        ("backup.7z/顧客.xlsx", len(ROWS)),
    ]


def test_seven_zip_block_asking_for_a_huge_dictionary_is_not_decoded() -> None:
    plain = built(lambda: carriers.seven_zip_bytes([("list.csv", CSV)], compress_headers=False))
    coder = plain.index(b"\x21\x21\x01", 32)  # LZMA2: id 0x21, one property byte
    patched = carriers.seven_zip_patch_header(
        plain,
        plain[coder : coder + 4],
        b"\x21\x21\x01\x28",  # a 4 GiB dictionary
    )
    [_, member] = inspect_file(patched, "a.7z")
    assert member.unscannable == "limit"
    assert "decoder memory" in (member.detail or "")


# --- S/MIME ----------------------------------------------------------------------------------

ENTITY = carriers.mime_entity(attachments=[("顧客.xlsx", XLSX)])
HARMLESS = carriers.mime_entity(body="来週の会議の件です。\n", attachments=[("memo.txt", NOTES)])
Status = list[tuple[str, str, int, str]]


def statuses(attachments: tuple[Attachment, ...]) -> Status:
    return [(a.path, a.type, a.personal_rows, a.unscannable or a.status) for a in attachments]


def _p7z_inside_signed() -> bytes:
    """Compressed, then signed: the signed content is an application/pkcs7-mime entity."""
    compressed = carriers.smime_compressed(ENTITY)
    entity = (
        b"Content-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(compressed).replace(b"\n", b"\r\n")
    )
    return carriers.smime_message(carriers.smime_signed(entity), smime_type="signed-data")


SMIME_CASES: list[tuple[str, Callable[[], bytes], Status]] = [
    (
        "opaque-signed",
        lambda: carriers.smime_message(carriers.smime_signed(ENTITY), smime_type="signed-data"),
        [
            ("smime.p7m", "pkcs7", 0, "read"),
            ("smime.p7m/顧客.xlsx", "xlsx", len(ROWS), "read"),
        ],
    ),
    (
        "opaque-signed-ber-streamed-by-openssl",
        lambda: carriers.smime_message(
            carriers.smime_openssl(ENTITY, operation="sign-streamed"), smime_type="signed-data"
        ),
        [
            ("smime.p7m", "pkcs7", 0, "read"),
            ("smime.p7m/顧客.xlsx", "xlsx", len(ROWS), "read"),
        ],
    ),
    (
        "opaque-signed-harmless",
        lambda: carriers.smime_message(carriers.smime_signed(HARMLESS), smime_type="signed-data"),
        [("smime.p7m", "pkcs7", 0, "read"), ("smime.p7m/memo.txt", "text", 0, "read")],
    ),
    (
        "signed-text-quoting-a-pem-certificate",
        lambda: carriers.smime_message(
            carriers.smime_signed(
                b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
                b"Content-Type: text/plain\r\n\r\nMy certificate:\r\n"
                b"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n"
                b"--q\r\nContent-Type: text/csv; name=l.csv\r\n\r\n" + CSV + b"\r\n--q--\r\n"
            ),
            smime_type="signed-data",
        ),
        [("smime.p7m", "pkcs7", 0, "read"), ("smime.p7m/l.csv", "csv", len(ROWS), "read")],
    ),
    (
        "detached-signature",
        lambda: carriers.smime_multipart_signed(ENTITY),
        [("顧客.xlsx", "xlsx", len(ROWS), "read"), ("smime.p7s", "pkcs7", 0, "not-applicable")],
    ),
    (
        "pem-armoured-file",
        lambda: carriers.attached("signed.p7m", carriers.smime_signed(ENTITY, pem=True)),
        [("signed.p7m", "pkcs7", 0, "read"), ("signed.p7m/顧客.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "signed-file-not-mime",
        lambda: carriers.attached("list.csv.p7m", carriers.smime_signed(CSV)),
        [("list.csv.p7m", "pkcs7", 0, "read"), ("list.csv.p7m/list.csv", "csv", len(ROWS), "read")],
    ),
    (
        "compressed",
        lambda: carriers.smime_message(
            carriers.smime_compressed(ENTITY), smime_type="compressed-data"
        ),
        [("smime.p7m", "pkcs7", 0, "read"), ("smime.p7m/顧客.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "compressed-then-signed",
        _p7z_inside_signed,
        [
            ("smime.p7m", "pkcs7", 0, "read"),
            ("smime.p7m/smime.p7z", "pkcs7", 0, "read"),
            ("smime.p7m/smime.p7z/顧客.xlsx", "xlsx", len(ROWS), "read"),
        ],
    ),
    (
        "enveloped",
        lambda: carriers.smime_message(
            carriers.smime_enveloped(ENTITY), smime_type="enveloped-data"
        ),
        [("smime.p7m", "pkcs7", 0, "encrypted")],
    ),
    (
        "authenticated-enveloped-by-openssl",
        lambda: carriers.smime_message(
            carriers.smime_openssl(ENTITY, operation="encrypt-gcm"),
            smime_type="authEnveloped-data",
        ),
        [("smime.p7m", "pkcs7", 0, "encrypted")],
    ),
    (
        "encrypted-data-by-openssl",
        lambda: carriers.attached(
            "x.p7m", carriers.smime_openssl(ENTITY, operation="encrypted-data")
        ),
        [("x.p7m", "pkcs7", 0, "encrypted")],
    ),
    (
        "truncated",
        lambda: carriers.attached("cut.p7m", carriers.smime_signed(ENTITY)[:-300]),
        [("cut.p7m", "pkcs7", 0, "corrupt")],
    ),
    (
        "garbage-after-the-oid",
        lambda: carriers.attached("g.p7m", carriers.smime_signed(ENTITY)[:40] + bytes(range(256))),
        [("g.p7m", "pkcs7", 0, "corrupt")],
    ),
    (
        "compression-bomb",
        lambda: carriers.smime_message(
            carriers.smime_compressed(bytes(300 << 20)), smime_type="compressed-data"
        ),
        [("smime.p7m", "pkcs7", 0, "limit")],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"),
    [case[1:] for case in SMIME_CASES],
    ids=[case[0] for case in SMIME_CASES],
)
def test_smime(build: Callable[[], bytes], expected: Status) -> None:
    attachments = inspect_message(built(build)).attachments
    assert statuses(attachments) == expected
    assert all(a.detail for a in attachments if a.unscannable)


# --- Outlook .msg ----------------------------------------------------------------------------


def _nested_msg(levels: int) -> bytes:
    inner = carriers.msg_tree(attachments=[("list.csv", CSV)], top=False)
    for level in range(levels):
        inner = carriers.msg_tree(embedded=[(f"m{level}", inner)], top=False)
    return carriers.msg_bytes(embedded=[("top", inner)])


def _msg_cut_in_third_attachment() -> bytes:
    whole = carriers.msg_bytes(attachments=[("a.csv", CSV), ("顧客.xlsx", XLSX), ("b.tsv", CSV)])
    return whole[: len(whole) * 3 // 4]


def _msg_with_lower_case_stream_names() -> bytes:
    """Some writers spell the hex of __substg1.0_ names in lower case."""

    def lower(tree: cfb.Tree) -> dict[str, bytes | cfb.Tree]:
        return {
            (name[:12] + name[12:].lower() if name.startswith("__substg1.0_") else name): (
                value if isinstance(value, bytes) else lower(value)
            )
            for name, value in tree.items()
        }

    tree = carriers.msg_tree(body=CSV.decode(), attachments=[("顧客.xlsx", XLSX)])
    return cfb.compound_file(lower(tree))


MSG_CASES: list[tuple[str, Callable[[], bytes], Status]] = [
    (
        "attachment",
        lambda: carriers.msg_bytes(attachments=[("顧客.xlsx", XLSX)]),
        [("r.msg", "msg", 0, "read"), ("r.msg/顧客.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "list-pasted-in-the-body",
        lambda: carriers.msg_bytes(body=CSV.decode()),
        [("r.msg", "msg", len(ROWS), "read")],
    ),
    (
        "stream-names-in-lower-case",
        _msg_with_lower_case_stream_names,
        [("r.msg", "msg", len(ROWS), "read"), ("r.msg/顧客.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "8-bit-body-and-names-in-cp932",
        lambda: carriers.msg_bytes(
            body=CSV.decode(), codepage=932, attachments=[("顧客一覧.xlsx", XLSX)]
        ),
        [("r.msg", "msg", len(ROWS), "read"), ("r.msg/顧客一覧.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "html-body",
        lambda: carriers.msg_bytes(body=None, html=b"<html><body><p>Hello</p></body></html>"),
        [("r.msg", "msg", 0, "read"), ("r.msg/body.html", "html", 0, "read")],
    ),
    (
        "embedded-message",
        lambda: carriers.msg_bytes(
            embedded=[("転送: 顧客", carriers.msg_tree(attachments=[("l.csv", CSV)], top=False))]
        ),
        [
            ("r.msg", "msg", 0, "read"),
            ("r.msg/転送: 顧客.msg", "msg", 0, "read"),
            ("r.msg/転送: 顧客.msg/l.csv", "csv", len(ROWS), "read"),
        ],
    ),
    (
        "harmless",
        lambda: carriers.msg_bytes(attachments=[("memo.txt", NOTES)]),
        [("r.msg", "msg", 0, "read"), ("r.msg/memo.txt", "text", 0, "read")],
    ),
    (
        "attachment-data-stream-missing",
        lambda: carriers.msg_bytes(attachments=[("顧客.xlsx", None), ("b.csv", CSV)]),
        [
            ("r.msg", "msg", 0, "read"),
            ("r.msg/顧客.xlsx", "xlsx", 0, "corrupt"),
            ("r.msg/b.csv", "csv", len(ROWS), "read"),
        ],
    ),
    (
        "file-packaged-as-an-ole-object",
        lambda: carriers.msg_bytes(attachments=[("顧客.csv", CSV, 6)]),
        [("r.msg", "msg", 0, "read"), ("r.msg/顧客.csv", "csv", len(ROWS), "read")],
    ),
    (
        "workbook-embedded-as-an-ooxml-object",
        lambda: carriers.msg_bytes(attachments=[("Book1", {"Package": XLSX}, 6)]),
        [("r.msg", "msg", 0, "read"), ("r.msg/Book1", "xlsx", len(ROWS), "read")],
    ),
    (
        "ole-object-of-another-kind",
        lambda: carriers.msg_bytes(attachments=[("Book1", {"Workbook": b"\x09\x08" * 8}, 6)]),
        [("r.msg", "msg", 0, "read"), ("r.msg/Book1", "unknown", 0, "unsupported")],
    ),
    (
        "attached-by-reference",
        lambda: carriers.msg_bytes(attachments=[("顧客.xlsx", b"", 2)]),
        [("r.msg", "msg", 0, "read"), ("r.msg/顧客.xlsx", "xlsx", 0, "unsupported")],
    ),
    (
        "truncated-in-an-attachment",
        _msg_cut_in_third_attachment,
        [
            ("r.msg", "msg", 0, "read"),
            ("r.msg/a.csv", "csv", len(ROWS), "read"),
            ("r.msg/顧客.xlsx", "xlsx", 0, "corrupt"),
            ("r.msg/b.tsv", "tsv", len(ROWS), "read"),
        ],
    ),
    (
        "embedded-deeper-than-the-limit",
        lambda: _nested_msg(6),
        [
            ("r.msg", "msg", 0, "read"),
            ("r.msg/top.msg", "msg", 0, "read"),
            ("r.msg/top.msg/m5.msg", "msg", 0, "read"),
            ("r.msg/top.msg/m5.msg/m4.msg", "msg", 0, "read"),
            ("r.msg/top.msg/m5.msg/m4.msg/m3.msg", "msg", 0, "read"),
            ("r.msg/top.msg/m5.msg/m4.msg/m3.msg/m2.msg", "msg", 0, "limit"),
        ],
    ),
    (
        "garbage-after-the-ole-signature",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8,
        [("r.msg", "ole", 0, "corrupt")],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [case[1:] for case in MSG_CASES], ids=[case[0] for case in MSG_CASES]
)
def test_outlook_msg(build: Callable[[], bytes], expected: Status) -> None:
    attachments = inspect_file(built(build), "r.msg")
    assert statuses(attachments) == expected
    assert all(a.detail for a in attachments if a.unscannable)


def test_outlook_msg_rtf_body_goes_to_the_rtf_reader_decompressed() -> None:
    rtf = b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Arial;}} \\f0 Hello \\par }"
    [msg, body] = inspect_file(carriers.msg_bytes(body=None, rtf=rtf), "r.msg")
    assert (msg.status, body.path, body.type, body.size) == (
        "read",
        "r.msg/body.rtf",
        "rtf",
        len(rtf),
    )


def test_outlook_msg_with_a_corrupt_rtf_body_says_so() -> None:
    data = carriers.msg_bytes(rtf=b"{\\rtf1 hello}")
    compressed = compressed_rtf.compress(b"{\\rtf1 hello}")
    broken = data.replace(compressed[16:24], bytes(8))  # the compressed bytes, not the CRC
    [msg] = inspect_file(broken, "r.msg")
    assert (msg.unscannable, msg.detail) == (
        "corrupt",
        "RTF body: compressed RTF unreadable (Exception)",
    )


def test_outlook_msg_in_a_message() -> None:
    raw = carriers.attached(
        "fwd.msg",
        carriers.msg_bytes(attachments=[("顧客.xlsx", XLSX)]),
        "application/vnd.ms-outlook",
    )
    assert [(a.path, a.personal_rows) for a in inspect_message(raw).attachments] == [
        ("fwd.msg", 0),
        ("fwd.msg/顧客.xlsx", len(ROWS)),
    ]


# --- TNEF (winmail.dat) ----------------------------------------------------------------------


def _tnef_cut_in_last_attachment() -> bytes:
    """Cut after the header and the first 12 rows of the last attachment."""
    whole = carriers.tnef_bytes(attachments=[("顧客.xlsx", XLSX), ("b.csv", CSV)])
    kept = len(b"\r\n".join(CSV.split(b"\r\n")[:13]))
    return whole[: whole.rindex(CSV[:100]) + kept]


def _tnef_flipped_byte_in_first_attachment() -> bytes:
    data = bytearray(carriers.tnef_bytes(attachments=[("a.csv", CSV), ("顧客.xlsx", XLSX)]))
    data[data.index(CSV[-200:]) + 20] ^= 0x01
    return bytes(data)


def _tnef_property_count_of_four_billion() -> bytes:
    properties = carriers.mapi_properties(
        [(0x1000, carriers.PT_UNICODE, "本文\x00".encode("utf-16-le"))], count=0xFFFFFFFF
    )
    return carriers.tnef_stream(
        [
            carriers.tnef_attribute(carriers.LEVEL_MESSAGE, carriers.ATT_MSG_PROPS, properties),
            *carriers.tnef_attachment("l.csv", CSV),
        ]
    )


def _tnef_lying_length() -> bytes:
    return carriers.tnef_stream(
        [
            *carriers.tnef_attachment("l.csv", CSV),
            carriers.tnef_attribute(
                carriers.LEVEL_ATTACHMENT, carriers.ATT_ATTACH_DATA, CSV, length=1 << 30
            ),
        ]
    )


def _tnef_ole_object() -> bytes:
    """An OLE object attachment (method 6): attAttachData holds its storage as a compound
    file (here an Outlook message), PidTagAttachDataObject names its interface."""
    storage = carriers.msg_bytes(attachments=[("l.csv", CSV)])
    properties = carriers.mapi_properties(
        [
            (0x3705, carriers.PT_LONG, 6),
            (0x3701, carriers.PT_OBJECT, bytes.fromhex("0b030200000000000000000000000046")),
        ]
    )
    level = carriers.LEVEL_ATTACHMENT
    return carriers.tnef_stream(
        [
            *carriers.tnef_attachment("Object", None),
            carriers.tnef_attribute(level, carriers.ATT_ATTACH_DATA, storage),
            carriers.tnef_attribute(level, carriers.ATT_ATTACHMENT, properties),
        ]
    )


def _nested_tnef(levels: int) -> bytes:
    stream = carriers.tnef_bytes(attachments=[("l.csv", CSV)])
    for level in range(levels):
        stream = carriers.tnef_bytes(embedded=[(f"m{level}", stream)])
    return stream


TNEF_CASES: list[tuple[str, Callable[[], bytes], Status]] = [
    (
        "attachments",
        lambda: carriers.tnef_bytes(attachments=[("顧客.xlsx", XLSX), ("list.csv", CSV)]),
        [
            ("winmail.dat", "tnef", 0, "read"),
            ("winmail.dat/顧客.xlsx", "xlsx", len(ROWS), "read"),
            ("winmail.dat/list.csv", "csv", len(ROWS), "read"),
        ],
    ),
    (
        "list-pasted-in-the-body",
        lambda: carriers.tnef_bytes(body=CSV.decode()),
        [("winmail.dat", "tnef", len(ROWS), "read")],
    ),
    (
        "legacy-body-in-cp932",
        lambda: carriers.tnef_bytes(body=CSV.decode(), legacy_body=True),
        [("winmail.dat", "tnef", len(ROWS), "read")],
    ),
    (
        "html-body",
        lambda: carriers.tnef_bytes(body=None, html=b"<html><body>Hello</body></html>"),
        [("winmail.dat", "tnef", 0, "read"), ("winmail.dat/body.html", "html", 0, "read")],
    ),
    (
        "attached-message",
        lambda: carriers.tnef_bytes(
            embedded=[("転送", carriers.tnef_bytes(attachments=[("l.csv", CSV)]))]
        ),
        [
            ("winmail.dat", "tnef", 0, "read"),
            ("winmail.dat/転送.msg", "tnef", 0, "read"),
            ("winmail.dat/転送.msg/l.csv", "csv", len(ROWS), "read"),
        ],
    ),
    (
        "harmless",
        lambda: carriers.tnef_bytes(attachments=[("memo.txt", NOTES)]),
        [("winmail.dat", "tnef", 0, "read"), ("winmail.dat/memo.txt", "text", 0, "read")],
    ),
    (
        "cut-in-the-last-attachment",
        _tnef_cut_in_last_attachment,
        [
            ("winmail.dat", "tnef", 0, "corrupt"),
            ("winmail.dat/顧客.xlsx", "xlsx", len(ROWS), "read"),
            ("winmail.dat/b.csv", "csv", 12, "corrupt"),
        ],
    ),
    (
        "checksum-mismatch",
        _tnef_flipped_byte_in_first_attachment,
        [
            ("winmail.dat", "tnef", 0, "read"),
            ("winmail.dat/a.csv", "csv", len(ROWS), "corrupt"),
            ("winmail.dat/顧客.xlsx", "xlsx", len(ROWS), "read"),
        ],
    ),
    (
        "property-count-of-four-billion",
        _tnef_property_count_of_four_billion,
        [("winmail.dat", "tnef", 0, "corrupt"), ("winmail.dat/l.csv", "csv", len(ROWS), "read")],
    ),
    (
        "attribute-length-past-the-end",
        _tnef_lying_length,
        [("winmail.dat", "tnef", 0, "corrupt"), ("winmail.dat/l.csv", "csv", len(ROWS), "corrupt")],
    ),
    (
        "ole-object-with-its-compound-file",
        _tnef_ole_object,
        [
            ("winmail.dat", "tnef", 0, "read"),
            ("winmail.dat/Object", "msg", 0, "read"),
            ("winmail.dat/Object/l.csv", "csv", len(ROWS), "read"),
        ],
    ),
    (
        "attachment-without-data",
        lambda: carriers.tnef_stream(carriers.tnef_attachment("顧客.xlsx", None)),
        [("winmail.dat", "tnef", 0, "read"), ("winmail.dat/顧客.xlsx", "xlsx", 0, "corrupt")],
    ),
    (
        "signature-then-garbage",
        lambda: b"\x78\x9f\x3e\x22\x00\x00" + bytes(range(7)),
        [("winmail.dat", "tnef", 0, "corrupt")],
    ),
    (
        "attached-messages-deeper-than-the-limit",
        lambda: _nested_tnef(6),
        [
            ("winmail.dat", "tnef", 0, "read"),
            ("winmail.dat/m5.msg", "tnef", 0, "read"),
            ("winmail.dat/m5.msg/m4.msg", "tnef", 0, "read"),
            ("winmail.dat/m5.msg/m4.msg/m3.msg", "tnef", 0, "read"),
            ("winmail.dat/m5.msg/m4.msg/m3.msg/m2.msg", "tnef", 0, "read"),
            ("winmail.dat/m5.msg/m4.msg/m3.msg/m2.msg/m1.msg", "tnef", 0, "limit"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [case[1:] for case in TNEF_CASES], ids=[case[0] for case in TNEF_CASES]
)
def test_tnef(build: Callable[[], bytes], expected: Status) -> None:
    attachments = inspect_file(build(), "winmail.dat")
    assert statuses(attachments) == expected
    assert all(a.detail for a in attachments if a.unscannable)


def test_tnef_builder_agrees_with_tnefparse() -> None:
    """An independent reader of MS-OXTNEF sees what our builder meant to write."""
    stream = carriers.tnef_bytes(
        attachments=[("list.xlsx", XLSX), ("list.csv", CSV)],
        body="Hello",
        codepage=1252,
        subject="Customers",
    )
    parsed = tnefparse.TNEF(stream)
    assert [(a.long_filename(), a.data) for a in parsed.attachments] == [
        ("list.xlsx", XLSX),
        ("list.csv", CSV),
    ]
    assert parsed.body == "Hello"


def test_tnef_in_a_message() -> None:
    stream = carriers.tnef_bytes(attachments=[("顧客.xlsx", XLSX)])
    raw = carriers.attached("winmail.dat", stream, "application/ms-tnef")
    assert [(a.path, a.personal_rows) for a in inspect_message(raw).attachments] == [
        ("winmail.dat", 0),
        ("winmail.dat/顧客.xlsx", len(ROWS)),
    ]


# --- OpenPGP ----------------------------------------------------------------------------------


def _pgp_key_attachment() -> bytes:
    return carriers.attached("key.asc", carriers.pgp_public_key(), "application/pgp-keys")


def _armour_damaged() -> bytes:
    armored = carriers.pgp_signed(CSV)
    lines = armored.split(b"\n")
    lines[4] = b"!!" + lines[4][2:]
    return carriers.attached("list.csv.asc", b"\n".join(lines))


PGP_CASES: list[tuple[str, Callable[[], bytes], Status]] = [
    (
        "pgp-mime-encrypted-to-a-key",
        lambda: carriers.pgp_mime_encrypted(carriers.pgp_encrypted(CSV)),
        [("encrypted.asc", "pgp", 0, "encrypted")],
    ),
    (
        "pgp-mime-encrypted-with-a-passphrase",
        lambda: carriers.pgp_mime_encrypted(carriers.pgp_encrypted(CSV, symmetric=True)),
        [("encrypted.asc", "pgp", 0, "encrypted")],
    ),
    (
        "binary-encrypted-file",
        lambda: carriers.attached("list.csv.gpg", carriers.pgp_encrypted(CSV, armor=False)),
        [("list.csv.gpg", "pgp", 0, "encrypted")],
    ),
    (
        "binary-encrypted-file-without-a-telling-name",
        lambda: carriers.attached("data.bin", carriers.pgp_encrypted(CSV, armor=False)),
        [("data.bin", "pgp", 0, "encrypted")],
    ),
    (
        "signed-armoured-file",
        lambda: carriers.attached("list.csv.asc", carriers.pgp_signed(CSV)),
        [("list.csv.asc", "pgp", 0, "read"), ("list.csv.asc/list.csv", "csv", len(ROWS), "read")],
    ),
    (
        "signed-binary-file",
        lambda: carriers.attached("list.csv.gpg", carriers.pgp_signed(CSV, armor=False)),
        [("list.csv.gpg", "pgp", 0, "read"), ("list.csv.gpg/list.csv", "csv", len(ROWS), "read")],
    ),
    (
        "signed-harmless",
        lambda: carriers.attached("memo.txt.asc", carriers.pgp_signed(NOTES, name="memo.txt")),
        [("memo.txt.asc", "pgp", 0, "read"), ("memo.txt.asc/memo.txt", "text", 0, "read")],
    ),
    (
        "encrypted-block-in-a-body-and-a-list-after-it",
        lambda: carriers.text_message(
            b"Hello,\n\n" + carriers.pgp_encrypted(NOTES) + b"\nThe list:\n" + CSV
        ),
        [("part 1", "csv", len(ROWS), "encrypted")],
    ),
    (
        "signed-block-in-a-body",
        lambda: carriers.text_message(b"Hello,\n\n" + carriers.pgp_signed(CSV) + b"\nRegards\n"),
        [("part 1", "text", 0, "read"), ("part 1/list.csv", "csv", len(ROWS), "read")],
    ),
    (
        "clear-signed-list",
        lambda: carriers.text_message(
            carriers.pgp_signed(b"-- export --\n" + CSV + b"-- end --\n", clear=True)
        ),
        [("part 1", "csv", len(ROWS), "read")],
    ),
    (
        "public-key-attached",
        _pgp_key_attachment,
        [("key.asc", "text", 0, "read")],
    ),
    (
        "armour-with-bad-base64",
        _armour_damaged,
        [("list.csv.asc", "pgp", 0, "corrupt")],
    ),
    (
        "signed-binary-cut-short",
        lambda: carriers.attached("l.gpg", carriers.pgp_signed(CSV * 20, armor=False)[:-200]),
        [("l.gpg", "pgp", 0, "corrupt")],
    ),
    (
        "signed-compression-bomb",
        lambda: carriers.attached(
            "z.gpg", carriers.pgp_signed(bytes(100 << 20), armor=False, name="zeros.csv")
        ),
        [("z.gpg", "pgp", 0, "limit")],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [case[1:] for case in PGP_CASES], ids=[case[0] for case in PGP_CASES]
)
def test_openpgp(build: Callable[[], bytes], expected: Status) -> None:
    attachments = inspect_message(built(build)).attachments
    assert statuses(attachments) == expected
    assert all(a.detail for a in attachments if a.unscannable)


def test_pgp_signed_multipart_reads_the_content_and_the_signature_as_text() -> None:
    raw = mailcorpus.pgp_signed()
    assert statuses(inspect_message(raw).attachments) == [
        ("s.csv", "csv", 12, "read"),
        ("signature.asc", "text", 0, "read"),
    ]


# --- uuencode ---------------------------------------------------------------------------------


def _uu_line_damaged() -> bytes:
    lines = carriers.uuencoded("l.csv", CSV).split(b"\n")
    lines[5] = lines[5][:30] + b"\x7f\x7f\x7f" + lines[5][33:]
    return carriers.text_message(b"Hello\n" + b"\n".join(lines) + b"Regards\n")


def _uu_trailing_garbage() -> bytes:
    """Characters after each full line, as some encoders add (uudecode ignores them)."""
    lines = carriers.uuencoded("l.csv", CSV).split(b"\n")
    lines = [line + b"XYZ" if line.startswith(b"M") else line for line in lines]
    return carriers.text_message(b"Hello\n" + b"\n".join(lines))


def _uu_cut() -> bytes:
    block = carriers.uuencoded("l.csv", CSV)
    return carriers.text_message(b"Hello\n" + block[: len(block) // 2] + b"\n\nRegards\n")


UU_CASES: list[tuple[str, Callable[[], bytes], Status]] = [
    (
        "workbook-in-a-body",
        lambda: carriers.text_message(
            b"Hello,\nplease find it below.\n\n" + carriers.uuencoded("顧客.xlsx", XLSX) + b"Bye\n"
        ),
        [("part 1", "csv", 0, "read"), ("part 1/顧客.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "in-a-part-typed-csv",
        lambda: carriers.attached("list.csv", CSV + carriers.uuencoded("b.xlsx", XLSX), "text/csv"),
        [("list.csv", "csv", len(ROWS), "read"), ("list.csv/b.xlsx", "xlsx", len(ROWS), "read")],
    ),
    (
        "in-a-text-attachment",
        lambda: carriers.text_message(carriers.uuencoded("l.csv", CSV), name="notes.txt"),
        [("notes.txt", "csv", 0, "read"), ("notes.txt/l.csv", "csv", len(ROWS), "read")],
    ),
    (
        "harmless",
        lambda: carriers.text_message(b"Hi\n" + carriers.uuencoded("memo.txt", NOTES)),
        [("part 1", "text", 0, "read"), ("part 1/memo.txt", "text", 0, "read")],
    ),
    (
        "trailing-garbage-on-its-lines",
        _uu_trailing_garbage,
        [("part 1", "csv", 0, "read"), ("part 1/l.csv", "csv", len(ROWS), "read")],
    ),
    (
        "without-its-end",
        _uu_cut,
        [("part 1", "csv", 0, "read"), ("part 1/l.csv", "csv", 12, "corrupt")],  # half the rows
    ),
    (
        "a-line-that-does-not-decode",
        _uu_line_damaged,
        # the 45 bytes lost are inside one address: that row keeps its name, phone and email
        [("part 1", "csv", 0, "read"), ("part 1/l.csv", "csv", len(ROWS), "corrupt")],
    ),
    (
        "the-word-begin-in-prose",
        lambda: carriers.text_message(b"We begin 644 tests tomorrow.\nSee you then.\n"),
        [],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [case[1:] for case in UU_CASES], ids=[case[0] for case in UU_CASES]
)
def test_uuencoded(build: Callable[[], bytes], expected: Status) -> None:
    attachments = inspect_message(build()).attachments
    assert statuses(attachments) == expected
    assert all(a.detail for a in attachments if a.unscannable)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda files: carriers.msg_bytes(attachments=files), "r.msg"),
        (lambda files: carriers.tnef_bytes(attachments=files), "winmail.dat"),
    ],
    ids=["msg", "tnef"],
)
def test_attachments_count_against_the_member_limit(
    build: Callable[[list[tuple[str, bytes]]], bytes], name: str
) -> None:
    files = [(f"{i}.csv", CSV + str(i).encode()) for i in range(5)]
    attachments = inspect_file(build(files), name, limits=Limits(max_members=3))
    assert [(a.path, a.personal_rows, a.unscannable) for a in attachments] == [
        (name, 0, "limit"),
        (f"{name}/0.csv", len(ROWS), None),
        (f"{name}/1.csv", len(ROWS), None),
        (f"{name}/2.csv", len(ROWS), None),
    ]


@pytest.mark.parametrize("solid", [True, False], ids=["solid", "one-block-per-file"])
def test_seven_zip_expanded_batch_by_batch(monkeypatch: pytest.MonkeyPatch, solid: bool) -> None:
    """With batches of one block, every block is expanded by a fresh py7zr pass."""
    monkeypatch.setattr(sevenzip, "_BATCH_BYTES", 1)
    files = [("a.csv", CSV), ("b.txt", NOTES), ("c.tsv", CSV.replace(b",", b"\t"))]
    data = built(lambda: carriers.seven_zip_bytes(files, solid=solid))
    assert [(a.path, a.personal_rows, a.unscannable) for a in inspect_file(data, "a.7z")] == [
        ("a.7z", 0, None),
        ("a.7z/a.csv", len(ROWS), None),
        ("a.7z/b.txt", 0, None),
        ("a.7z/c.tsv", len(ROWS), None),
    ]


@pytest.mark.parametrize(
    ("build", "name", "kind"),
    [
        (lambda body: carriers.msg_bytes(body=body), "r.msg", "msg"),
        (lambda body: carriers.tnef_bytes(body=body), "winmail.dat", "tnef"),
    ],
    ids=["msg", "tnef"],
)
def test_bodies_of_outlook_files_are_read_like_mail_bodies(
    build: Callable[[str], bytes], name: str, kind: str
) -> None:
    """A uuencoded file and an encrypted PGP block in the plain body; a list far down it."""
    carrying = "Hello\n" + carriers.uuencoded("顧客.xlsx", XLSX).decode() + "Bye\n"
    assert summary(inspect_file(build(carrying), name)) == [
        (name, kind, 0, None),
        (f"{name}/顧客.xlsx", "xlsx", len(ROWS), None),
    ]
    sealed = "Hi\n" + carriers.armored(carriers.openpgp_encrypted()).decode()
    [body] = inspect_file(build(sealed), name)
    assert body.unscannable == "encrypted"
    far_down = "本日はお世話になりました。\n" * 4000 + CSV.decode()
    [body] = inspect_file(build(far_down), name)
    assert body.personal_rows == len(ROWS)
