"""Write the committed hostile corpus and its MANIFEST.yaml; run by hand, output is committed.

    PYTHONPATH=. python tests/hostile/make.py

Deterministic: zip timestamps and openpyxl's dates are pinned, random bytes are seeded. The
replay test (tests/test_hostile_replay.py) reads the committed files, never this script.
LibreOffice (soffice) is needed once for the xls files and a .doc, 7-Zip (7zz or 7z) for the
7z files.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import quopri
import random
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pyzipper
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests import carriers, cfb, legacycraft, packagecraft, zipcraft  # noqa: E402
from tests.corpus import hostile  # noqa: E402

FIXED_TIME = time.mktime((2024, 4, 1, 9, 0, 0, 0, 0, -1))
CSV = (
    "氏名,電話番号,メールアドレス\r\n山田 太郎,090-1234-5678,taro@example.jp\r\n"
    "鈴木 花子,080-2222-3333,hanako@example.jp\r\n東海林 凪,070-4444-5555,nagi@example.co.jp\r\n"
).encode()
HEAD = (
    b"From: sender@corp.example\r\nTo: someone@outside.example\r\n"
    b"Subject: hostile\r\nMIME-Version: 1.0\r\n"
)


@dataclass(frozen=True)
class Entry:
    """One corpus file: what it is, and the class of answer inspection must give it:
    ok, corrupt, limit, encrypted, unsupported or ambiguous (the worst unscannable reason
    found)."""

    name: str
    what: str
    expect: str
    build: Callable[[], bytes]
    smtp: int = 250  # the reply through a proxy with the default policy


ENTRIES: list[Entry] = []


def entry(name: str, what: str, expect: str, *, smtp: int = 250) -> Callable[..., object]:
    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        ENTRIES.append(Entry(name, what, expect, build, smtp))
        return build

    return register


def multipart(parts: list[bytes], boundary: bytes = b"b1", *, close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    end = b"--" + boundary + b"--\r\n" if close else b""
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n' + body + end
    )


def attachment(name: str, data: bytes, content_type: str = "application/octet-stream") -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: {content_type}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'
    ).encode() + encoded


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


# --- messages --------------------------------------------------------------------------------


@entry("broken-boundary.eml", "declares boundary AAA, parts are cut with BBB", "ok")
def _broken_boundary() -> bytes:
    return multipart([attachment("list.csv", CSV, "text/csv")], b"BBB").replace(
        b'boundary="BBB"', b'boundary="AAA"'
    )


@entry("no-boundary.eml", "multipart/mixed without a boundary parameter", "corrupt")
def _no_boundary() -> bytes:
    return HEAD + b"Content-Type: multipart/mixed\r\n\r\nsome text\r\nno parts at all\r\n"


@entry("unterminated-multipart.eml", "no closing boundary; last base64 part cut off", "corrupt")
def _unterminated() -> bytes:
    data = multipart(
        [b"Content-Type: text/plain\r\n\r\nhello", attachment("l.xlsx", hostile.small_xlsx())],
        close=False,
    )
    return data[: len(data) - 300]


@entry("nesting-5000.eml", "5,000 nested multipart/mixed levels", "limit")
def _deep() -> bytes:
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary="
        + str(i).encode()
        + b"\r\n\r\n--"
        + str(i).encode()
        + b"\r\n"
        for i in range(5000)
    )
    closing = b"".join(b"\r\n--" + str(i).encode() + b"--" for i in reversed(range(5000)))
    return HEAD + opening + b"Content-Type: text/plain\r\n\r\ndeep" + closing + b"\r\n"


@entry("rfc822-nesting-300.eml", "300 messages attached inside each other", "limit")
def _rfc822_deep() -> bytes:
    inner = HEAD + b"Content-Type: text/csv\r\n\r\n" + CSV
    for level in range(300):
        inner = multipart([b"Content-Type: message/rfc822\r\n\r\n" + inner], b"m%d" % level)
    return inner


@entry("many-parts.eml", "3,000 tiny parts", "ok")
def _many_parts() -> bytes:
    return multipart([b"Content-Type: text/plain\r\n\r\nx" for _ in range(3000)])


@entry(
    "bad-base64.eml", "base64 attachment with junk characters and a cut-off last group", "corrupt"
)
def _bad_base64() -> bytes:
    encoded = base64.b64encode(CSV)
    mangled = encoded[:20] + b"!!*%" + encoded[20:-3]
    return multipart(
        [
            b'Content-Type: text/csv; name="l.csv"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + mangled
        ]
    )


@entry("bad-qp.eml", "quoted-printable with =ZZ escapes, bare = at line ends, 8-bit bytes", "ok")
def _bad_qp() -> bytes:
    body = quopri.encodestring(CSV).replace(b"=E5", b"=ZZ", 2) + b"=\r\n=\r\n\xff\xfe=4"
    return multipart(
        [
            b'Content-Type: text/csv; name="l.csv"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body
        ]
    )


@entry("bogus-charsets.eml", "unknown charsets in Content-Type, RFC 2231 and RFC 2047 names", "ok")
def _bogus_charsets() -> bytes:
    return multipart(
        [
            b"Content-Type: text/csv; charset=x-klingon\r\n"
            b"Content-Disposition: attachment; filename*=x-nothing''%E5%90%8D.csv\r\n\r\n" + CSV,
            b'Content-Type: text/plain; charset="utf-7"; name="=?x-bogus?B?5ZCN?="\r\n\r\n+AGEA-',
        ]
    )


@entry("nul-in-charset.eml", "a NUL byte inside the charset name (found by fuzzing)", "ok")
def _nul_charset() -> bytes:
    return multipart(
        [
            b'Content-Type: text/csv; charset=\x00"shift_jis"\r\n'
            b'Content-Disposition: attachment; filename="l.csv"\r\n\r\n'
            + CSV.decode().encode("cp932")
        ]
    )


@entry(
    "long-header-line.eml",
    "a 60,000-byte Subject line: under our line limit, passed; the sink's 1,001 refuses it",
    "ok",
    smtp=500,
)
def _long_header() -> bytes:
    return HEAD.replace(b"Subject: hostile", b"Subject: " + b"A" * 60_000) + b"\r\nbody\r\n"


@entry("over-long-line.eml", "a 70,000-byte header line: over --max-line-length", "ok", smtp=500)
def _over_long() -> bytes:
    return HEAD + b"X-Long: " + b"B" * 70_000 + b"\r\n\r\nbody\r\n"


@entry("huge-folded-header.eml", "a 300 KB Subject folded over 5,000 lines", "ok")
def _folded() -> bytes:
    folded = b"\r\n ".join([b"=?UTF-8?B?5pys5pel?="] * 5000)
    return HEAD.replace(b"Subject: hostile", b"Subject: " + folded) + b"\r\nbody\r\n"


@entry("nul-bytes.eml", "NUL bytes in header names, values, boundaries and body", "ok")
def _nuls() -> bytes:
    return multipart(
        [
            b"Content-Type: text/plain\x00\r\nX-\x00: \x00\r\n\r\n\x00\x00body\x00",
            attachment("l\x00.csv", CSV.replace(b",", b"\x00,"), "text/csv"),
        ],
        b"b\x00",
    )


@entry("headers-only.eml", "headers declaring multipart/mixed; no empty line, no body", "corrupt")
def _headers_only() -> bytes:
    return HEAD + b"Content-Type: multipart/mixed; boundary=x\r\n"


@entry("empty-lines.eml", "nothing but empty lines", "ok")
def _empty() -> bytes:
    return b"\r\n" * 50


@entry("binary-garbage.eml", "64 KiB of seeded random bytes", "ok")
def _garbage() -> bytes:
    rng = random.Random(8)
    return bytes(rng.randrange(256) for _ in range(64 << 10)).replace(b"\r\n.\r\n", b"")


@entry("bare-cr.eml", "old Mac line ends (bare CR) throughout", "ok")
def _bare_cr() -> bytes:
    return multipart([attachment("l.csv", CSV, "text/csv")]).replace(b"\r\n", b"\r")


@entry(
    "ambiguous-cte.eml",
    "two Content-Transfer-Encoding headers and one unknown encoding (held)",
    "ambiguous",
)
def _cte() -> bytes:
    return multipart(
        [
            b"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + base64.b64encode(CSV),
            b"Content-Type: text/csv\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\nH4sI",
        ]
    )


def _csv_part(name: str = "list.csv") -> bytes:
    return attachment(name, CSV, "text/csv")


@entry(
    "two-content-types.eml",
    "a part declared text/plain, then multipart holding a list: ambiguous (held)",
    "ambiguous",
)
def _two_content_types() -> bytes:
    inner = b"--in\r\n" + _csv_part() + b"\r\n--in--"
    return multipart(
        [
            b'Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary="in"\r\n\r\n'
            + inner
        ]
    )


@entry(
    "two-boundaries.eml",
    "Content-Type naming boundary twice (plain and RFC 2231): ambiguous (held)",
    "ambiguous",
)
def _two_boundaries() -> bytes:
    return multipart([_csv_part()]).replace(
        b'boundary="b1"', b"boundary=\"b1\"; boundary*=us-ascii''decoy"
    )


@entry(
    "not-base64.eml",
    "a CSV declared base64 but sent as plain text: ambiguous, read both ways (held)",
    "ambiguous",
)
def _not_base64() -> bytes:
    return multipart(
        [
            b'Content-Type: text/csv; name="list.csv"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + CSV
        ]
    )


@entry(
    "encoded-multipart.eml",
    "a multipart sent base64 (RFC 2045 forbids it): decoded and read (held: its list found)",
    "ok",
)
def _encoded_multipart() -> bytes:
    inner = b"--in\r\n" + _csv_part() + b"\r\n--in--\r\n"
    return multipart(
        [
            b'Content-Type: multipart/mixed; boundary="in"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(inner).replace(b"\n", b"\r\n")
        ]
    )


@entry(
    "rfc822-base64.eml",
    "a forwarded message sent base64: decoded, its list found (held)",
    "ok",
)
def _rfc822_base64() -> bytes:
    forwarded = multipart([b"Content-Type: text/plain\r\n\r\nFYI", _csv_part()], b"fw")
    return multipart(
        [
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="fwd.eml"\r\n\r\n'
            + base64.encodebytes(forwarded).replace(b"\n", b"\r\n")
        ]
    )


@entry(
    "message-partial.eml",
    "message/partial, fragment 1 of 2 (mail programs may join fragments): ambiguous (held)",
    "ambiguous",
)
def _partial() -> bytes:
    whole = multipart([_csv_part()], b"whole")
    return multipart(
        [
            b'Content-Type: message/partial; id="frag@corp.example"; number=1; total=2\r\n\r\n'
            + whole[: len(whole) // 2]
        ]
    )


def _folded(value: bytes, width: int = 72) -> bytes:
    """A long header value folded (CRLF and a space) every ``width`` bytes, so that every line
    stays within RFC 5322's limit and the next hop takes it."""
    return b"\r\n ".join(value[i : i + width] for i in range(0, len(value), width))


@entry("group-bomb.eml", "To: 5,000 address groups nested in each other (passed)", "ok")
def _group_bomb() -> bytes:
    groups = _folded(b"g: " * 5000 + b"someone@outside.example" + b";" * 5000)
    return HEAD.replace(b"To: someone@outside.example", b"To: " + groups) + b"\r\nbody\r\n"


@entry("comment-bomb.eml", "Cc: 5,000 comments nested in each other (passed)", "ok")
def _comment_bomb() -> bytes:
    comments = _folded(b"(" * 5000 + b"c" + b")" * 5000)
    cc = b"Cc: " + comments + b" someone@outside.example\r\n"
    return HEAD + cc + b"\r\nbody\r\n"


@entry(
    "encoded-word-bomb.eml",
    "To: 5,000 encoded words holding ':' before one address (passed)",
    "ok",
)
def _encoded_word_bomb() -> bytes:
    words = b"\r\n ".join([b"=?UTF-8?Q?=E5=B1=B1:?="] * 5000)
    to = b"To: " + words + b" <someone@outside.example>"
    return HEAD.replace(b"To: someone@outside.example", to) + b"\r\nbody\r\n"


@entry(
    "encoded-word-filename.eml",
    "an attachment named by 5,000 encoded words (passed)",
    "ok",
)
def _encoded_word_filename() -> bytes:
    name = b"\r\n ".join([b"=?UTF-8?B?5pys?="] * 5000)
    return multipart(
        [
            b"Content-Type: text/plain\r\n"
            b'Content-Disposition: attachment; filename="' + name + b'.txt"\r\n\r\nhello'
        ]
    )


@entry(
    "parameter-bomb.eml",
    "Content-Type with 80,000 parameters (the email package's parser is quadratic) (held)",
    "limit",
)
def _parameter_bomb() -> bytes:
    bomb = _folded(b"; a" * 80_000)
    return multipart([_csv_part()]).replace(b'boundary="b1"', b'boundary="b1"' + bomb, 1)


_REPORT_TEXT = b"Content-Type: text/plain\r\n\r\nYour message could not be delivered."
_DELIVERY_STATUS = (
    b"Content-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mta.corp.example\r\n\r\n"
    b"Final-Recipient: rfc822; someone@outside.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <someone@outside.example>: User unknown"
)


def _report(returned: bytes) -> bytes:
    return multipart([_REPORT_TEXT, _DELIVERY_STATUS, returned], b"rep").replace(
        b"multipart/mixed", b"multipart/report; report-type=delivery-status", 1
    )


@entry("delivery-report.eml", "an RFC 3464 report with the headers returned (passed)", "ok")
def _delivery_report() -> bytes:
    returned = HEAD + b'Content-Type: multipart/mixed; boundary="x"\r\n'
    return _report(b"Content-Type: text/rfc822-headers\r\n\r\n" + returned)


@entry(
    "delivery-report-returned.eml",
    "an RFC 3464 report returning the message and its list (held)",
    "ok",
)
def _delivery_report_returned() -> bytes:
    return _report(b"Content-Type: message/rfc822\r\n\r\n" + multipart([_csv_part()]))


# --- workbooks -------------------------------------------------------------------------------

entry("truncated.xlsx", "first half of an xlsx", "corrupt")(hostile.truncated)
entry("damaged-deflate.xlsx", "bytes flipped inside the deflated sheet", "corrupt")(
    hostile.damaged_deflate
)
entry("not-xml-sheet.xlsx", "sheet part full of binary junk", "ok")(hostile.not_xml_sheet)
entry("billion-laughs.xlsx", "nested XML entities in the sheet", "corrupt")(hostile.billion_laughs)
entry("far-cell.xlsx", "cells A1 and XFD1048576 (calamine aborts unguarded): compacted", "ok")(
    hostile.far_cell
)
entry("wide-and-tall.xlsx", "cells A1, XFD1, A3000: 49 M cells of area, compacted", "ok")(
    hostile.wide_and_tall
)
entry("implicit-columns.xlsx", "20,000 cells without references in row 90,000: compacted", "ok")(
    hostile.implicit_columns
)
entry("diagonal.xlsx", "3,000 cells down a diagonal: 9 M cells even compacted", "limit")(
    hostile.diagonal
)
entry("macro-sheet.xlsx", "an Excel 4.0 macro sheet beside a worksheet", "ok")(
    lambda: packagecraft.macro_sheet(hostile.small_xlsx(), [("氏名", "電話番号")] * 3)
)


@entry("two-main-parts.xlsx", "_rels/.rels declares two officeDocument parts", "ambiguous")
def _two_main_parts() -> bytes:
    return packagecraft.edit(
        hostile.small_xlsx(),
        "_rels/.rels",
        lambda xml: xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/officeDocument" Target="xl/other.xml"/></Relationships>',
        ),
    )


entry("sheet-outside-package.xlsx", "a sheet relationship targets ../../etc/passwd", "corrupt")(
    lambda: packagecraft.retarget(
        hostile.small_xlsx(),
        "xl/_rels/workbook.xml.rels",
        "/xl/worksheets/sheet1.xml",
        "../../../etc/passwd",
    )
)


def _docx_with_body(body: bytes) -> bytes:
    return packagecraft.edit(
        packagecraft.write(
            [
                ("[Content_Types].xml", DOCX_TYPES),
                ("_rels/.rels", DOCX_RELS),
                ("word/document.xml", b""),
            ]
        ),
        "word/document.xml",
        lambda _: body,
    )


DOCX_TYPES = (
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
DOCX_RELS = (
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


@entry("billion-laughs.docx", "nested XML entities in the document body: refused", "corrupt")
def _docx_laughs() -> bytes:
    entities = b'<!ENTITY lol "lol">'
    for level in range(1, 10):
        refs = b"".join(f"&lol{'' if level == 1 else level - 1};".encode() for _ in range(10))
        entities += f'<!ENTITY lol{level} "'.encode() + refs + b'">'
    return _docx_with_body(
        b"<!DOCTYPE w:document [" + entities + b"]><w:document " + W + b"><w:body><w:p><w:r>"
        b"<w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    )


@entry("deep-nesting.docx", "document body nested 20,000 elements deep", "corrupt")
def _docx_deep() -> bytes:
    return _docx_with_body(
        b"<w:document "
        + W
        + b"><w:body>"
        + b"<w:p>" * 20_000
        + b"</w:p>" * 20_000
        + b"</w:body></w:document>"
    )


entry("shared-strings-count.xlsx", "sharedStrings declaring 4 billion entries", "limit")(
    hostile.shared_strings_count
)
entry("lying-member-size.xlsx", "shared strings declare 1,000 bytes, inflate to 16 MiB", "corrupt")(
    lambda: hostile.lying_member_size(16 << 20)
)
entry("inflating-sheet.xlsx", "sheet XML inflating to 40 MiB of padding (ratio bomb)", "limit")(
    lambda: hostile.inflating_sheet(40 << 20)
)
entry("encrypted.xlsx", "password-protected xlsx (EncryptedPackage)", "encrypted")(
    hostile.encrypted_xlsx
)
entry("repeat-bomb.ods", "one ODS value cell repeated 60,000 x 1,000 times", "limit")(
    hostile.ods_repeat_bomb
)
entry("sparse-repeats.ods", "two ODS cells with 60,000 x 1,000 empty ones between", "ok")(
    hostile.ods_sparse_repeats
)
entry("trailing-empty-rows.ods", "what LibreOffice writes: a million empty rows", "ok")(
    hostile.ods_trailing_empty_rows
)
entry("far-cell.xlsb", "xlsb cell at the last row and column", "limit")(hostile.xlsb_far_cell)
entry("huge-column.xlsb", "xlsb column number 4,000,000,000", "limit")(hostile.xlsb_huge_column)


@entry("corrupt-content.ods", "ods whose content.xml is cut in the middle of a cell", "corrupt")
def _corrupt_ods() -> bytes:
    data = hostile.ods("<table:table-row>" + hostile.ODS_CELL * 3 + "</table:table-row>")
    source = zipfile.ZipFile(io.BytesIO(data))
    content = source.read("content.xml")
    members = [(i.filename, source.read(i)) for i in source.infolist()]
    return zip_of(
        [(n, content[: len(content) // 2] if n == "content.xml" else d) for n, d in members]
    )


@entry("garbage.xls", "OLE signature followed by junk", "corrupt")
def _garbage_xls() -> bytes:
    rng = random.Random(5)
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(rng.randrange(256) for _ in range(4096))


def _libreoffice_xls() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "book.xlsx"
        source.write_bytes(hostile.small_xlsx(30))
        target = Path(scratch) / "book.xls"
        subprocess.run(
            [
                "/usr/bin/python3",
                str(ROOT / "tests/tools/lo_convert.py"),
                str(source),
                str(target),
                "MS Excel 97",
                "",
            ],
            check=True,
            timeout=180,
        )
        return target.read_bytes()


entry("far-cell.xls", "xls LabelSst cell moved to row 65,000, column 65,535: compacted", "ok")(
    lambda: hostile.xls_far_cell(_libreoffice_xls())
)
entry("sst-count.xls", "xls shared-string table declaring 2^31 entries", "limit")(
    lambda: hostile.xls_sst_count(_libreoffice_xls())
)
entry("inverted-dimensions.xls", "xls DIMENSIONS with last row before first: reset", "ok")(
    lambda: hostile.xls_inverted_dimensions(_libreoffice_xls())
)


@entry("truncated.xls", "the first 3 KiB of an xls", "corrupt")
def _truncated_xls() -> bytes:
    return _libreoffice_xls()[:3072]


# --- archives and streams -------------------------------------------------------------------


@entry("42-shape.zip", "16 copies per level, 5 levels, 4 MiB of zeros at the bottom", "limit")
def _42() -> bytes:
    return zipcraft.nested_copies(bytes(4 << 20), "zeros.txt", levels=5)


entry("ratio-bomb.zip", "one member: 20 MiB of zeros (ratio ~1000x)", "limit")(
    lambda: zipcraft.zeros_member("zeros.csv", 20 << 20)
)
entry("overlapping.zip", "1,000 directory entries sharing one local file", "limit")(
    lambda: zipcraft.overlapping(zipcraft.zeros_member("zeros.csv", 2 << 20), 1000)
)


@entry("path-traversal.zip", "member names ../../etc/passwd, /abs, C:\\, NUL", "ok")
def _traversal() -> bytes:
    return zip_of(
        [
            ("../../etc/passwd", b"root:x:0:0"),
            ("/abs/list.csv", CSV),
            ("C:\\Windows\\x.csv", CSV + b"\r\n"),
            ("a\x00b.txt", b"x"),
        ]
    )


@entry("encrypted.zip", "AES-encrypted member (WinZip AE-2)", "encrypted")
def _encrypted_zip() -> bytes:
    out = io.BytesIO()
    with pyzipper.AESZipFile(
        out, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(b"secret")
        archive.writestr("list.csv", CSV)
    return out.getvalue()


entry("truncated.zip", "a zip missing its last 30 bytes", "corrupt")(
    lambda: zip_of([("list.csv", CSV)])[:-30]
)
entry("declared-size-huge.zip", "member declaring 2 GiB uncompressed", "limit")(
    lambda: zipcraft.patch_sizes(zip_of([("list.csv", CSV)]), file_size=1 << 31)
)
entry("declared-size-lies.zip", "8 MiB member declaring 1,000 bytes", "corrupt")(
    lambda: zipcraft.patch_sizes(zipcraft.zeros_member("z.csv", 8 << 20), file_size=1000)
)
entry("deflate64.zip", "compression method 9, unsupported", "unsupported")(
    lambda: zipcraft.patch_method(zip_of([("list.csv", CSV)]), 9)
)


@entry("nested-12.zip", "a CSV inside 12 levels of zip", "limit")
def _nested() -> bytes:
    data = CSV
    for level in range(12):
        data = zip_of([(f"level{level}.zip" if level else "list.csv", data)])
    return data


@entry("gzip-bomb.csv.gz", "gzip of 64 MiB of zeros", "limit")
def _gzip_bomb() -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as stream:
        for _ in range(64):
            stream.write(bytes(1 << 20))
    return out.getvalue()


entry("bzip2-bomb.csv.bz2", "bzip2 of 200 MiB of zeros", "limit")(
    lambda: bz2.compress(bytes(200 << 20))
)
entry("truncated.csv.gz", "gzip stream cut short", "corrupt")(
    lambda: gzip.compress(CSV * 20, mtime=0)[:-40]
)


@entry("hostile.tar", "tar with traversal names, a symlink, a device and a lying size", "corrupt")
def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, kind in (
            ("../../etc/x.csv", tarfile.REGTYPE),
            ("link", tarfile.SYMTYPE),
            ("dev", tarfile.CHRTYPE),
        ):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.type = kind
            info.linkname = "/etc/shadow" if kind == tarfile.SYMTYPE else ""
            info.size = len(CSV) if kind == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(CSV) if kind == tarfile.REGTYPE else None)
    data = bytearray(out.getvalue())
    data[124:136] = b"77777777777\x00"  # the first member now claims 8 GiB
    return bytes(data)


# --- delimited text --------------------------------------------------------------------------

entry("utf16-no-bom.csv", "UTF-16-LE without a BOM", "ok")(lambda: CSV.decode().encode("utf-16-le"))
entry("utf32.csv", "UTF-32 with BOM", "ok")(lambda: CSV.decode().encode("utf-32"))
entry("ebcdic.csv", "EBCDIC (cp500) text", "ok")(
    lambda: b"Name,Phone\r\n".decode().encode("cp500") * 50
)
entry("mixed-encodings.csv", "lines in UTF-8, cp932, EUC-JP and invalid bytes", "ok")(
    lambda: (
        b"".join(
            line.encode(enc)
            for line, enc in zip(
                CSV.decode().splitlines(True), ("utf-8", "cp932", "euc_jp", "utf-8"), strict=True
            )
        )
        + b"\xff\xfe\xfd,\x80\x81\r\n"
    )
)
entry("unbalanced-quotes.csv", "a quote opened on line 2 and never closed", "ok")(
    lambda: CSV.replace(b"090-", b'"090-', 1) * 200
)
entry("nul-only.csv", "64 KiB of NUL bytes", "ok")(lambda: bytes(64 << 10))
entry("one-long-line.csv", "100,000 commas on one line", "ok")(lambda: b"," * 100_000)


@entry(
    "mimetype-shrunk.ods",
    "ods whose mimetype member declares method 1 (Shrink) (found by fuzzing)",
    "unsupported",
)
def _mimetype_shrunk() -> bytes:
    data = hostile.ods("<table:table-row>" + hostile.ODS_CELL + "</table:table-row>")
    out = bytearray(data)
    struct.pack_into("<H", out, 8, 1)  # the first local header: mimetype
    struct.pack_into("<H", out, data.index(zipcraft.CENTRAL) + 10, 1)
    return bytes(out)


@entry(
    "zip-version-99.zip",
    "central directory says version 9.9 is needed to extract (found by fuzzing)",
    "unsupported",
)
def _zip_version() -> bytes:
    data = bytearray(zip_of([("list.csv", CSV)]))
    struct.pack_into("<H", data, data.index(zipcraft.CENTRAL) + 6, 99)
    return bytes(data)


@entry("empty-member-name.zip", "a member whose name is empty (found by fuzzing)", "ok")
def _empty_member_name() -> bytes:
    data = bytearray(zip_of([("a", b"hello"), ("list.csv", CSV)]))
    # The 1-byte name becomes a 1-byte extra field: same layout, empty name.
    local = data.index(zipcraft.LOCAL)
    struct.pack_into("<HH", data, local + 26, 0, 1)
    central = data.index(zipcraft.CENTRAL)
    struct.pack_into("<HH", data, central + 28, 0, 1)
    return bytes(data)


# --- carriers: 7z, TNEF, Outlook .msg, S/MIME, OpenPGP, uuencode ------------------------------


@entry("truncated.7z", "a 7z missing its last 40 bytes (its header is at the end)", "corrupt")
def _truncated_7z() -> bytes:
    return carriers.seven_zip_bytes([("list.csv", CSV), ("notes.txt", b"memo")])[:-40]


entry("declared-huge.7z", "one member declaring (and holding) 300 MiB of zeros", "limit")(
    lambda: carriers.seven_zip_bytes([("zeros.csv", bytes(300 << 20))])
)


@entry(
    "lying-sizes.7z",
    "header declares 3 MiB, the LZMA2 stream holds 128 MiB of zeros (expanded to 3 MiB only)",
    "corrupt",
)
def _lying_7z() -> bytes:
    honest = carriers.seven_zip_bytes([("zeros.csv", bytes(128 << 20))], compress_headers=False)
    return carriers.seven_zip_declare(honest, actual=128 << 20, declared=3 << 20)


entry("many-members.7z", "12,000 one-byte members (over the 10,000 member limit)", "limit")(
    lambda: carriers.seven_zip_bytes([(f"m/{i}.txt", b"x") for i in range(12_000)])
)
entry("deflate.7z", "7z packed with Deflate, whose memory py7zr cannot bound", "unsupported")(
    lambda: carriers.seven_zip_bytes([("list.csv", CSV)], method="Deflate")
)
entry("bad-length-winmail.dat", "TNEF attribute declaring 1 GiB in a 300-byte stream", "corrupt")(
    lambda: carriers.tnef_stream(
        [
            *carriers.tnef_attachment("list.csv", None),
            carriers.tnef_attribute(
                carriers.LEVEL_ATTACHMENT, carriers.ATT_ATTACH_DATA, CSV, length=1 << 30
            ),
        ]
    )
)
entry("property-count-winmail.dat", "TNEF property list counting 2^32 properties", "corrupt")(
    lambda: carriers.tnef_stream(
        [
            carriers.tnef_attribute(
                carriers.LEVEL_MESSAGE,
                carriers.ATT_MSG_PROPS,
                carriers.mapi_properties(
                    [(0x1000, carriers.PT_UNICODE, "x\x00".encode("utf-16-le"))], count=0xFFFFFFFF
                ),
            ),
            *carriers.tnef_attachment("list.csv", CSV),
        ]
    )
)


@entry("nested-winmail.dat", "TNEF messages attached inside each other 12 deep", "limit")
def _nested_tnef() -> bytes:
    stream = carriers.tnef_bytes(attachments=[("list.csv", CSV)])
    for level in range(12):
        stream = carriers.tnef_bytes(embedded=[(f"fwd{level}", stream)])
    return stream


entry("missing-stream.msg", "Outlook .msg whose attachment has no data stream", "corrupt")(
    lambda: carriers.msg_bytes(attachments=[("list.xlsx", None), ("list.csv", CSV)])
)


@entry("truncated.msg", "the first three quarters of an Outlook .msg", "corrupt")
def _truncated_msg() -> bytes:
    whole = carriers.msg_bytes(attachments=[("a.csv", CSV), ("b.txt", b"memo" * 2000)])
    return whole[: len(whole) * 3 // 4]


@entry("nested.msg", "Outlook messages embedded inside each other 8 deep", "limit")
def _nested_msg() -> bytes:
    inner = carriers.msg_tree(attachments=[("list.csv", CSV)], top=False)
    for level in range(8):
        inner = carriers.msg_tree(embedded=[(f"fwd{level}", inner)], top=False)
    return carriers.msg_bytes(embedded=[("fwd", inner)])


@entry("garbage.p7m", "a CMS signed-data header followed by seeded random bytes", "corrupt")
def _garbage_cms() -> bytes:
    rng = random.Random(12)
    start = bytes.fromhex("308205d206092a864886f70d010702a08205c3")
    return start + bytes(rng.randrange(256) for _ in range(1500))


entry("compressed-bomb.p7m", "RFC 3274 compressed-data: 32 MiB of zeros", "limit")(
    lambda: carriers.smime_compressed(bytes(32 << 20))
)


@entry(
    "pgp-mime-encrypted.eml", "PGP/MIME multipart/encrypted (a made-up session key)", "encrypted"
)
def _pgp_mime() -> bytes:
    rng = random.Random(13)
    skesk = bytes.fromhex("8c0d04090302") + rng.randbytes(8) + b"\x60"  # v4, AES-256, S2K
    seipd = b"\xd2\x3e\x01" + rng.randbytes(61)  # version 1, 61 bytes of ciphertext
    armored = b"-----BEGIN PGP MESSAGE-----\n\n" + base64.encodebytes(skesk + seipd)
    return carriers.pgp_mime_encrypted(armored + b"-----END PGP MESSAGE-----\n")


@entry("uu-without-end.eml", "a uuencoded list in a body, cut before its end line", "corrupt")
def _uu_cut() -> bytes:
    block = carriers.uuencoded("list.csv", CSV * 20)
    return carriers.text_message(b"Hello,\n\n" + block[: len(block) // 2] + b"\n\nBye\n")


# --- markup: HTML, XML, RTF -----------------------------------------------------------------

_LIST_LINES = CSV.replace(b"\r\n", b"<br>\r\n")


@entry("nesting-5000.html", "5,000 nested <div> around a customer list", "limit")
def _html_nesting() -> bytes:
    return b"<html><body>" + b"<div>" * 5000 + _LIST_LINES + b"</div>" * 5000 + b"</body></html>"


@entry("billion-laughs.xml", "XML entities nested ten deep, ten wide (entity expansion)", "limit")
def _xml_laughs() -> bytes:
    entities = b'  <!ENTITY lol0 "lol">\n' + b"".join(
        b'  <!ENTITY lol%d "%s">\n' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + entities + b"]>\n<lolz>&lol9;</lolz>\n"


@entry("external-entity.xml", "an external entity naming /etc/passwd (never loaded)", "unsupported")
def _xml_external() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        b"<r><a>&e;</a></r>\n"
    )


@entry("many-data-uris.html", "10,500 data: URIs (more files than the member limit)", "limit")
def _many_data_uris() -> bytes:
    return b"<html><body>" + b"<img src=data:,x>" * 10_500 + b"</body></html>"


@entry("huge-data-uri.html", "a link whose data: URI holds a 55 KB customer list", "ok")
def _huge_data_uri() -> bytes:
    data = base64.b64encode(CSV * 300)
    return b'<html><body><a href="data:text/csv;base64,' + data + b'">list</a></body></html>'


@entry("malformed-data-uri.html", "data: URIs with no comma and with broken base64", "corrupt")
def _malformed_data_uri() -> bytes:
    return (
        b'<p><a href="data:text/csv;base64">a</a>'
        b'<img src="data:image/png;base64,iVBORw0K!!!GgoAAAANSUhEUgAA"></p>'
    )


@entry("nesting-20000.rtf", "20,000 nested RTF groups", "limit")
def _rtf_nesting() -> bytes:
    return b"{\\rtf1\\ansi " + b"{" * 20_000 + b"deep" + b"}" * 20_000 + b"}"


@entry("unbalanced.rtf", "an RTF list cut short inside open groups", "corrupt")
def _rtf_cut() -> bytes:
    lines = b"".join(b"{\\f0 " + line + b"\\par}" for line in CSV.split(b"\r\n"))
    return b"{\\rtf1\\ansi\\ansicpg65001{\\fonttbl{\\f0 Arial;}}{" + lines[:-20]


@entry("bin-in-objdata.rtf", "an \\objdata \\bin run declaring 2 GiB", "corrupt")
def _rtf_bin() -> bytes:
    return b"{\\rtf1{\\object\\objemb{\\*\\objdata \\bin2147483647 0105000002000000}}}"


# --- binary Word and PowerPoint 97-2003 -----------------------------------------------------

_LIST_TEXT = CSV.decode().replace(",", "\t").replace("\r\n", "\r")


@entry(
    "piece-bomb.doc", "2,000 pieces of a .doc all pointing at the same 2,000 characters", "corrupt"
)
def _piece_bomb() -> bytes:
    return legacycraft.word97([legacycraft.Piece("x" * 1999 + "\r")], repeat=2_000)


@entry(
    "piece-past-end.doc",
    "a .doc piece holding a list declares 4 billion characters",
    "corrupt",
)
def _piece_past_end() -> bytes:
    data = legacycraft.word97(
        [legacycraft.Piece("lost\r", compressed=True), legacycraft.Piece(_LIST_TEXT)]
    )
    # The second piece's end position: 0xFFFFFFF0 characters after the first.
    first_end = struct.pack("<II", 0, 5)
    return data.replace(
        first_end + struct.pack("<I", 5 + len(_LIST_TEXT)), first_end + b"\xf0\xff\xff\xff", 1
    )


@entry("truncated.doc", "the first 3 KiB of a Word 97 letter holding a list", "corrupt")
def _truncated_doc() -> bytes:
    return _libreoffice_doc()[:3072]


@entry("garbage-table.doc", "a Word 97 letter whose table stream is seeded random bytes", "corrupt")
def _garbage_table_doc() -> bytes:
    data = legacycraft.word97([legacycraft.Piece(_LIST_TEXT)], as_file=False)
    rng = random.Random(11)
    data["1Table"] = bytes(rng.randrange(256) for _ in range(len(data["1Table"])))
    return cfb.compound_file(data)


@entry("nested.doc", "Word documents in each other's ObjectPool 8 deep", "limit")
def _nested_doc() -> bytes:
    tree = legacycraft.word97([legacycraft.Piece(_LIST_TEXT)], as_file=False)
    for _ in range(8):
        tree = legacycraft.word97(
            [legacycraft.Piece("see the object\r")],
            extra={"ObjectPool": {"_1": tree}},
            as_file=False,
        )
    return cfb.compound_file(tree)


def _ppt_record(kind: int, body: bytes, *, container: bool = False, instance: int = 0) -> bytes:
    return struct.pack("<HHI", (0xF if container else 0) | instance << 4, kind, len(body)) + body


def _ppt(stream: bytes) -> bytes:
    return cfb.compound_file({"PowerPoint Document": stream, "Current User": bytes(20)})


@entry("nesting-5000.ppt", "5,000 nested PowerPoint containers, a list beside them", "limit")
def _ppt_nesting() -> bytes:
    nested = _ppt_record(0x0FA0, "deep".encode("utf-16-le"))
    for _ in range(5_000):
        nested = _ppt_record(0x0FF0, nested, container=True)
    listed = _ppt_record(0x0FA0, _LIST_TEXT.encode("utf-16-le"))
    return _ppt(_ppt_record(0x03E8, listed, container=True) + nested)


@entry("object-bomb.ppt", "an embedded object (ExOleObjStg) declaring 1 GiB of zlib", "limit")
def _ppt_object_bomb() -> bytes:
    packed = zlib.compress(bytes(4 << 20), 9)
    body = struct.pack("<I", 1 << 30) + packed
    return _ppt(
        _ppt_record(0x0FA0, "x".encode("utf-16-le")) + _ppt_record(0x1011, body, instance=1)
    )


@entry(
    "record-past-end.ppt", "a PowerPoint text record declaring 1 GiB, a list before it", "corrupt"
)
def _ppt_record_past_end() -> bytes:
    listed = _ppt_record(0x0FA0, _LIST_TEXT.encode("utf-16-le"))
    return _ppt(listed + struct.pack("<HHI", 0, 0x0FA0, 1 << 30) + "tail".encode("utf-16-le"))


def _libreoffice_doc() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        rows = [line.split(",") for line in CSV.decode().splitlines()]
        source = Path(scratch) / "letter.fodt"
        source.write_text(legacycraft.letter_fodt(rows), encoding="utf-8")
        target = Path(scratch) / "letter.doc"
        subprocess.run(
            [
                "/usr/bin/python3",
                str(ROOT / "tests/tools/lo_convert.py"),
                str(source),
                str(target),
                "MS Word 97",
                "",
            ],
            check=True,
            timeout=180,
        )
        return target.read_bytes()


_SMALL_XLSX = hostile.small_xlsx
_W3CDTF = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _pinned_xlsx(rows: int = 20) -> bytes:
    """hostile.small_xlsx with openpyxl's creation dates pinned."""
    data = _SMALL_XLSX(rows)
    core = zipfile.ZipFile(io.BytesIO(data)).read("docProps/core.xml")
    return hostile.replace_members(
        data, {"docProps/core.xml": _W3CDTF.sub(b"2024-04-01T00:00:00Z", core)}
    )


def main() -> None:
    names = [e.name for e in ENTRIES]
    assert len(names) == len(set(names)), "duplicate names"
    manifest = []
    rng = random.Random(42)
    seeded = mock.Mock()
    seeded.new.return_value.read.side_effect = rng.randbytes
    with (
        mock.patch("time.time", return_value=FIXED_TIME),  # zip entry dates
        mock.patch.object(hostile, "small_xlsx", _pinned_xlsx),
        mock.patch("msoffcrypto.method.ecma376_agile._random_buffer", rng.randbytes),
        mock.patch("pyzipper.zipfile_aes.Random", seeded),
    ):
        for item in ENTRIES:
            data = item.build()
            (HERE / item.name).write_bytes(data)
            manifest.append(
                {"file": item.name, "what": item.what, "expect": item.expect, "smtp": item.smtp}
            )
    header = (
        "# The hostile corpus: one entry per file, written by make.py (do not edit by hand).\n"
        "# expect: the class of answer inspection must give (ok, corrupt, limit, encrypted,\n"
        "#   unsupported, ambiguous: the worst unscannable reason among the findings).\n"
        "# smtp: the reply through a proxy running the default policy (.eml files are sent as\n"
        "#   they are; other files as a base64 attachment of a plain message).\n"
    )
    text = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False, width=100)
    (HERE / "MANIFEST.yaml").write_text(header + text)
    total = sum((HERE / e.name).stat().st_size for e in ENTRIES)
    print(f"{len(ENTRIES)} files, {total:,} bytes")


if __name__ == "__main__":
    main()
