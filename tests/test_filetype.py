from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable

import docx
import pptx
import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from dlp_proxy.inspect import files, filetype
from tests import cfb, legacycraft, packagecraft
from tests.builders import csv_bytes, customers, message, xlsx_bytes, zip_bytes

ROWS = customers(12)
XLSX = xlsx_bytes(ROWS)


def _xlsm() -> bytes:
    """The openpyxl workbook relabelled as macro-enabled, as Excel marks an .xlsm."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(XLSX)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml"
                ).replace(
                    b"application/vnd.openxmlformats-officedocument.sheet.",
                    b"application/vnd.ms-excel.sheet.",
                )
            target.writestr(info, data)
    return out.getvalue()


def _encrypted_xlsx(password: str = "Secret-2024") -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(XLSX)).encrypt(password, out)
    return out.getvalue()


def _docx() -> bytes:
    out = io.BytesIO()
    docx.Document().save(out)
    return out.getvalue()


def _pptx() -> bytes:
    out = io.BytesIO()
    pptx.Presentation().save(out)
    return out.getvalue()


def _ods_made_by_hand() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED
        )
        archive.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def _sfx() -> bytes:
    return b"MZ" + b"\x90" * 4000 + zip_bytes([("list.csv", csv_bytes(ROWS))])


def _cms(content_type: bytes, length: bytes) -> bytes:
    """The start of a CMS ContentInfo: SEQUENCE, its length, the content type OID."""
    return b"\x30" + length + b"\x06" + bytes([len(content_type)]) + content_type + bytes(40)


SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
AUTH_ENVELOPED = bytes.fromhex("2a864886f70d0109100117")

EML = message(attachments=[(XLSX, "application/octet-stream", "a.xlsx")]).as_bytes()
ALWAYS_TABLE: Callable[[bytes], bool] = lambda data: True  # noqa: E731
NEVER_TABLE: Callable[[bytes], bool] = lambda data: False  # noqa: E731

CASES = [
    ("xlsx", XLSX, (), "xlsx", "workbook", None),
    ("xlsx-renamed-dat", XLSX, ("text",), "xlsx", "workbook", None),
    ("xlsm", _xlsm(), (), "xlsm", "workbook", None),
    ("xlsx-truncated", XLSX[: len(XLSX) // 2], (), "xlsx", "zip", "corrupt"),
    ("xlsx-encrypted", _encrypted_xlsx(), ("xlsx",), "ooxml", "workbook", "encrypted"),
    ("ods-by-hand", _ods_made_by_hand(), (), "ods", "workbook", None),
    ("docx", _docx(), (), "docx", "document", None),
    ("pptx", _pptx(), (), "pptx", "document", None),
    (
        "xlsx-parts-at-the-root",
        packagecraft.relocate(XLSX, "xl/", ""),
        (),
        "xlsx",
        "workbook",
        None,
    ),
    (
        "xlsx-backslash-names",
        packagecraft.rename(XLSX, lambda name: name.replace("/", "\\")),
        (),
        "xlsx",
        "workbook",
        None,
    ),
    (
        "docx-parts-in-xl",
        packagecraft.relocate(_docx(), "word/", "xl/"),
        (),
        "docx",
        "document",
        None,
    ),
    (
        "opc-package-that-is-not-office",
        zip_bytes(
            [
                ("[Content_Types].xml", b"<Types/>"),
                (
                    "_rels/.rels",
                    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                    b'relationships"><Relationship Id="R1" Type="http://schemas.microsoft.com/'
                    b'packaging/2010/07/manifest" Target="/x.nuspec"/></Relationships>',
                ),
                ("lib/list.csv", csv_bytes(ROWS)),
            ]
        ),
        (),
        "zip",
        "zip",
        None,
    ),
    (
        "xlsx-without-main-part",
        packagecraft.retarget(XLSX, "_rels/.rels", "xl/workbook.xml", "xl/gone.xml"),
        (),
        "xlsx",
        "workbook",
        "corrupt",
    ),
    ("zip", zip_bytes([("a.csv", csv_bytes(ROWS))]), ("csv",), "zip", "zip", None),
    ("self-extracting-zip", _sfx(), (), "zip", "zip", None),
    ("gzip", gzip.compress(csv_bytes(ROWS)), (), "gzip", "stream", None),
    ("7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 40, ("zip",), "7z", "sevenzip", None),
    ("rar", b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40, (), "rar", "other", "unsupported"),
    ("lzh", b"\x24\x2a-lh5-" + b"\x00" * 40, (), "lzh", "other", "unsupported"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", ("csv",), "pdf", "pdf", None),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", (), "png", "media", None),
    (
        "png-named-csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        ("csv",),
        "png",
        "other",
        "ambiguous",
    ),
    (
        "png-with-zip-at-end",
        b"\x89PNG\r\n\x1a\n" + zip_bytes([("a.csv", b"x")]),
        (),
        "zip",
        "zip",
        None,
    ),
    ("exe", b"MZ\x90\x00" + b"\x00" * 60, (), "exe", "other", "unsupported"),
    (
        "ole-garbage",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600,
        ("xls",),
        "ole",
        "other",
        "corrupt",
    ),
    ("eml-without-name", EML, (), "eml", "message", None),
    ("csv-utf8", csv_bytes(ROWS), (), "csv", "delimited", None),
    ("csv-cp932", csv_bytes(ROWS, encoding="cp932"), (), "csv", "delimited", None),
    ("tsv", csv_bytes(ROWS, delimiter="\t"), (), "tsv", "delimited", None),
    (
        "prose",
        "お世話になっております。\n資料をお送りします。\n".encode(),
        (),
        "text",
        "text",
        None,
    ),
    ("text-with-nul-declared-text", b"hello\x00 world\n", ("text",), "text", "text", None),
    ("html", b"<html><body><p>hi</p></body></html>", (), "html", "html", None),
    ("html-declared", b"hello <b>there</b>", ("html",), "html", "html", None),
    ("noise", bytes(range(256)) * 8, (), "binary", "other", "unsupported"),
    ("empty", b"", ("xlsx",), "empty", "text", None),
    ("cms-der-short-length", _cms(SIGNED_DATA, b"\x40"), (), "pkcs7", "pkcs7", None),
    ("cms-der-long-length", _cms(SIGNED_DATA, b"\x82\x05\xd2"), (), "pkcs7", "pkcs7", None),
    ("cms-ber-indefinite", _cms(SIGNED_DATA, b"\x80"), (), "pkcs7", "pkcs7", None),
    ("cms-auth-enveloped", _cms(AUTH_ENVELOPED, b"\x82\x01\xde"), (), "pkcs7", "pkcs7", None),
    ("cms-pem", b"-----BEGIN CMS-----\nMIIF0g==\n", (), "pkcs7", "pkcs7", None),
    ("word-97", legacycraft.word97([legacycraft.Piece("x\r")]), (), "doc", "legacy", None),
    (
        "word-97-encrypted",
        legacycraft.word97([legacycraft.Piece("x\r")], encrypted=True),
        ("text",),
        "doc",
        "legacy",
        "encrypted",
    ),
    (
        "powerpoint-97",
        cfb.compound_file({"PowerPoint Document": bytes(8), "Current User": bytes(20)}),
        (),
        "ppt",
        "legacy",
        None,
    ),
]


@pytest.mark.parametrize(
    ("data", "hints", "kind", "family", "problem"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_type_comes_from_content(
    data: bytes, hints: tuple[str, ...], kind: str, family: str, problem: str | None
) -> None:
    # Through the seam the `tables` fixture fills: the real tables.looks_delimited once merged.
    found = filetype.sniff(data, hints=hints, looks_delimited=files._looks_delimited)
    assert (found.kind, found.family) == (kind, family)
    assert (found.problem.reason if found.problem else None) == problem


@pytest.mark.parametrize(
    ("hints", "looks_delimited", "kind"),
    [
        (("csv",), NEVER_TABLE, "csv"),
        (("tsv",), NEVER_TABLE, "tsv"),
        ((), NEVER_TABLE, "text"),
        ((), ALWAYS_TABLE, "csv"),
        (("xlsx",), NEVER_TABLE, "text"),
    ],
    ids=[
        "csv-name-wins-over-doubt",
        "tsv-name",
        "no-hint-no-table",
        "table-check",
        "wrong-extension",
    ],
)
def test_hints_only_settle_text(
    hints: tuple[str, ...], looks_delimited: Callable[[bytes], bool], kind: str
) -> None:
    data = b"a;b\n1;2\n"
    assert filetype.sniff(data, hints=hints, looks_delimited=looks_delimited).kind == kind


@pytest.mark.parametrize(
    ("name", "kind", "family", "problem"),
    [
        ("plain.xls", "xls", "workbook", None),
        ("encrypted.xls", "xls", "workbook", "encrypted"),
        ("plain.ods", "ods", "workbook", None),
        ("encrypted.ods", "ods", "workbook", "encrypted"),
    ],
    ids=["xls", "xls-encrypted", "ods", "ods-encrypted"],
)
def test_libreoffice_files(
    office_files: dict[str, bytes], name: str, kind: str, family: str, problem: str | None
) -> None:
    found = filetype.sniff(office_files[name], hints=(), looks_delimited=NEVER_TABLE)
    assert (found.kind, found.family) == (kind, family)
    assert (found.problem.reason if found.problem else None) == problem


@pytest.mark.parametrize(
    ("data", "hinted", "expected"),
    [
        (EML, False, True),
        (b"From sender@example.jp Mon Jan  1 00:00:00 2024\n" + EML, False, True),
        (b"Subject: hello\r\n\r\nbody", False, False),
        (b"Subject: hello\r\n\r\nbody", True, True),
        (csv_bytes(ROWS), True, False),
    ],
    ids=["eml", "mbox-from-line", "one-header", "one-header-hinted", "csv-hinted"],
)
def test_message_recognition(data: bytes, hinted: bool, expected: bool) -> None:
    assert filetype.looks_like_message(data, hinted=hinted) is expected
