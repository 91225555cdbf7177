from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
import pyzipper

from dlp_proxy.inspect import Attachment, Limits, inspect_file
from tests import zipcraft
from tests.builders import csv_bytes, customers, xlsx_bytes, zip_bytes

ROWS = customers(20)
CSV = csv_bytes(ROWS)
XLSX = xlsx_bytes(ROWS)


def _summary(attachments: tuple[Attachment, ...]) -> list[tuple[str, str, int, str | None]]:
    return [(a.path, a.type, a.personal_rows, a.unscannable) for a in attachments]


def test_nested_members_have_paths_and_containers_carry_no_rows() -> None:
    inner = zip_bytes([("inner.csv", CSV), ("notes.txt", "メモ".encode())])
    outer = zip_bytes([("inner.zip", inner), ("顧客.xlsx", XLSX), ("dir/", b"")])
    assert _summary(inspect_file(outer, "outer.zip")) == [
        ("outer.zip", "zip", 0, None),
        ("outer.zip/inner.zip", "zip", 0, None),
        ("outer.zip/inner.zip/inner.csv", "csv", len(ROWS), None),
        ("outer.zip/inner.zip/notes.txt", "text", 0, None),
        ("outer.zip/顧客.xlsx", "xlsx", len(ROWS), None),
    ]


def _aes_zip() -> bytes:
    out = io.BytesIO()
    with pyzipper.AESZipFile(
        out, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(b"pass-2024")
        archive.writestr("secret.csv", CSV)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("open.csv", CSV)
    return out.getvalue()


def test_encrypted_members_are_findings_and_the_rest_is_scanned(tmp_path: Path) -> None:
    aes = _aes_zip()
    crypto = zipcraft.zipcrypto(tmp_path, "list.csv", CSV, "pass-2024")
    attachments = inspect_file(zip_bytes([("aes.zip", aes), ("crypto.zip", crypto)]), "both.zip")
    assert _summary(attachments) == [
        ("both.zip", "zip", 0, None),
        ("both.zip/aes.zip", "zip", 0, None),
        ("both.zip/aes.zip/secret.csv", "csv", 0, "encrypted"),
        ("both.zip/aes.zip/open.csv", "csv", len(ROWS), None),
        ("both.zip/crypto.zip", "zip", 0, None),
        ("both.zip/crypto.zip/list.csv", "csv", 0, "encrypted"),
    ]


def _unicode_path_zip() -> bytes:
    info = zipfile.ZipInfo("list.csv")
    utf8 = "顧客①.csv".encode()
    body = b"\x01" + struct.pack("<I", zlib.crc32(b"list.csv")) + utf8
    info.extra = struct.pack("<HH", 0x7075, len(body)) + body
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(info, CSV)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            zipcraft.rename_raw(
                zip_bytes([("XXXXXXXXXX", CSV)]), "XXXXXXXXXX", "顧客①.csv".encode("cp932")
            ),
            "顧客①.csv",
        ),
        (
            zipcraft.rename_raw(
                zip_bytes([("XXXXXXXXXXXXX", CSV)]), "XXXXXXXXXXXXX", "顧客①.csv".encode()
            ),
            "顧客①.csv",
        ),
        (zip_bytes([("顧客①.csv", CSV)]), "顧客①.csv"),
        (_unicode_path_zip(), "顧客①.csv"),
    ],
    ids=["cp932-no-flag", "utf8-no-flag", "utf8-flag", "info-zip-unicode-path"],
)
def test_member_names_are_decoded(data: bytes, expected: str) -> None:
    attachments = inspect_file(data, "a.zip")
    assert [a.path for a in attachments] == ["a.zip", f"a.zip/{expected}"]
    assert attachments[1].personal_rows == len(ROWS)


def test_type_by_content_inside_archives() -> None:
    data = zip_bytes([("report.dat", XLSX), ("export", CSV), ("photo.csv", b"\x89PNG\r\n\x1a\n")])
    assert _summary(inspect_file(data, "a.zip"))[1:] == [
        ("a.zip/report.dat", "xlsx", len(ROWS), None),
        ("a.zip/export", "csv", len(ROWS), None),
        ("a.zip/photo.csv", "png", 0, "ambiguous"),
    ]


def test_streams_and_tar() -> None:
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("export/list.csv")
        info.size = len(CSV)
        archive.addfile(info, io.BytesIO(CSV))
    data = zip_bytes(
        [("list.csv.gz", gzip.compress(CSV)), ("backup.tgz", gzip.compress(tar.getvalue()))]
    )
    assert _summary(inspect_file(data, "a.zip")) == [
        ("a.zip", "zip", 0, None),
        ("a.zip/list.csv.gz", "gzip", 0, None),
        ("a.zip/list.csv.gz/list.csv", "csv", len(ROWS), None),
        ("a.zip/backup.tgz", "gzip", 0, None),
        ("a.zip/backup.tgz/backup.tar", "tar", 0, None),
        ("a.zip/backup.tgz/backup.tar/export/list.csv", "csv", len(ROWS), None),
    ]


SMALL = Limits(max_member_bytes=len(CSV) - 1)


def _nest(data: bytes, times: int) -> bytes:
    for level in range(times):
        data = zip_bytes([(f"level{level}.zip" if level else "list.csv", data)])
    return data


BOMB_BYTES = 100 << 20


@pytest.mark.parametrize(
    ("data", "limits", "expected"),
    [
        (
            zipcraft.zeros_member("zeros.csv", BOMB_BYTES),
            Limits(),
            [("a.zip", None), ("a.zip/zeros.csv", "limit")],
        ),
        (zip_bytes([("list.csv", CSV)]), SMALL, [("a.zip", None), ("a.zip/list.csv", "limit")]),
        (
            zip_bytes([(f"{i}.csv", bytes(1 << 20)) for i in range(100)]),
            Limits(),
            [("a.zip", "limit")],
        ),
        (gzip.compress(bytes(BOMB_BYTES)), Limits(), [("a.zip", "limit")]),
        (
            zipcraft.patch_sizes(zipcraft.zeros_member("zeros.csv", 50 << 20), file_size=1000),
            Limits(),
            [("a.zip", None), ("a.zip/zeros.csv", "corrupt")],
        ),
        (
            zipcraft.patch_sizes(zip_bytes([("list.csv", CSV)]), file_size=1 << 31),
            Limits(),
            [("a.zip", None), ("a.zip/list.csv", "limit")],
        ),
        (
            zipcraft.overlapping(zipcraft.zeros_member("zeros.csv", 2 << 20), 3000),
            Limits(),
            [("a.zip", "limit")],
        ),
        (
            zipcraft.patch_method(zip_bytes([("list.csv", CSV)]), 9),
            Limits(),
            [("a.zip", None), ("a.zip/list.csv", "unsupported")],
        ),
        (
            _nest(CSV, 4),
            Limits(max_depth=2),
            [("a.zip", None), ("a.zip/level3.zip", None), ("a.zip/level3.zip/level2.zip", "limit")],
        ),
        (
            zip_bytes([("a.csv", CSV), ("b.csv", CSV), ("c.csv", CSV)]),
            Limits(max_total_bytes=2 * len(CSV) + 10),
            [("a.zip", "limit"), ("a.zip/a.csv", None), ("a.zip/b.csv", None)],
        ),
        (
            zip_bytes([(f"{i}.txt", b"x") for i in range(50)]),
            Limits(max_members=3),
            [
                ("a.zip", "limit"),
                ("a.zip/0.txt", None),
                ("a.zip/1.txt", None),
                ("a.zip/2.txt", None),
            ],
        ),
        (zip_bytes([("list.csv", CSV)]), Limits(max_seconds=-1.0), [("a.zip", "limit")]),
        (zip_bytes([("list.csv", CSV)])[:-30], Limits(), [("a.zip", "corrupt")]),
        (b"PK\x03\x04" + bytes(range(256)) * 4, Limits(), [("a.zip", "corrupt")]),
    ],
    ids=[
        "ratio-bomb",
        "member-over-size",
        "many-small-high-ratio-members",
        "gzip-bomb",
        "declared-size-lies-low",
        "declared-size-huge",
        "overlapping-entries",
        "unsupported-method",
        "too-deep",
        "total-bytes",
        "member-count",
        "deadline",
        "truncated-directory",
        "garbage-after-magic",
    ],
)
def test_limits_and_damage_are_findings(
    data: bytes, limits: Limits, expected: list[tuple[str, str | None]]
) -> None:
    attachments = inspect_file(data, "a.zip", limits=limits)
    assert [(a.path, a.unscannable) for a in attachments] == expected
    assert all(a.detail for a in attachments if a.unscannable)


def test_42_zip_shape_is_bounded() -> None:
    """16 copies per level, 5 levels, 4 MiB of zeros at the bottom: 4 TiB if expanded.

    Identical copies are inspected once, so the answer stays small and names the bomb.
    """
    bomb = zipcraft.nested_copies(bytes(4 << 20), "zeros.txt", levels=5)
    attachments = inspect_file(bomb, "42.zip")
    paths = [a.path for a in attachments]
    assert len(paths) == len(set(paths)) < 200
    limited = [a for a in attachments if a.unscannable == "limit"]
    assert limited
    assert all("ratio" in (a.detail or "") for a in limited)
    copies = [a for a in attachments if "same content as" in (a.detail or "")]
    assert copies
    assert {a.unscannable for a in attachments} <= {None, "limit"}


def test_identical_attachments_keep_their_findings() -> None:
    attachments = inspect_file(zip_bytes([("a.csv", CSV), ("b.csv", CSV)]), "x.zip")
    assert _summary(attachments)[1:] == [
        ("x.zip/a.csv", "csv", len(ROWS), None),
        ("x.zip/b.csv", "csv", len(ROWS), None),
    ]
    assert attachments[2].detail == "same content as x.zip/a.csv"


@pytest.mark.parametrize(
    ("data", "kind", "expected"),
    [
        (gzip.compress(CSV[:700]) + gzip.compress(CSV[700:]), "gzip", [None, None]),
        (gzip.compress(CSV) + b"\x00" * 512 + b"trailing junk", "gzip", [None, None]),
        (gzip.compress(CSV)[:-40], "gzip", ["corrupt"]),
        (bz2.compress(CSV), "bzip2", [None, None]),
        (bz2.compress(bytes(20 << 20)), "bzip2", ["limit"]),
        (lzma.compress(CSV), "xz", [None, None]),
        (lzma.compress(CSV)[:-30], "xz", ["corrupt"]),
    ],
    ids=[
        "gzip-concatenated",
        "gzip-trailing-junk",
        "gzip-truncated",
        "bzip2",
        "bzip2-bomb",
        "xz",
        "xz-truncated",
    ],
)
def test_compressed_streams(data: bytes, kind: str, expected: list[str | None]) -> None:
    attachments = inspect_file(data, "list.csv.x")
    assert [a.unscannable for a in attachments] == expected
    assert attachments[0].type == kind
    if len(expected) == 2:
        assert (attachments[1].path, attachments[1].personal_rows) == (
            "list.csv.x/content",
            len(ROWS),
        )


def _docx() -> bytes:
    out = io.BytesIO()
    docx.Document().save(out)
    return out.getvalue()


def _with_member(package: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO(package)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _with_member(_docx(), "word/embeddings/Microsoft_Excel_Worksheet.xlsx", XLSX),
            [
                ("r.docx", "docx", 0, None),
                ("r.docx/word/embeddings/Microsoft_Excel_Worksheet.xlsx", "xlsx", len(ROWS), None),
            ],
        ),
        (
            _with_member(XLSX, "xl/worksheets/sheet9.xml", bytes(20 << 20)),
            [("r.docx", "xlsx", 0, "limit")],
        ),
    ],
    ids=["excel-sheet-embedded-in-word", "compression-bomb-inside-xlsx"],
)
def test_office_packages(data: bytes, expected: list[tuple[str, str, int, str | None]]) -> None:
    assert _summary(inspect_file(data, "r.docx")) == expected
