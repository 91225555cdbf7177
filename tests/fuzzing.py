"""Fuzzing parts: valid seeds, mutations of them as Hypothesis strategies, and a harness that
runs each input in a real scanner process (an abort or a hang is a failure, not a lost run)."""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import io
import os
import quopri
import re
import struct
import sys
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import olefile
import pptx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dlp_proxy import errors
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.policy.load import Policy, load_policy
from dlp_proxy.scanner import Scanner
from tests import carriers, cfb, fuzzjobs, legacycraft, markupcorpus
from tests.builders import customers, pdf_bytes
from tests.corpus import hostile

ROOT = Path(__file__).resolve().parents[1]

# --- profiles: "ci" is small and derandomized; "long" is for runs by hand ------------------

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("DLP_FUZZ_EXAMPLES", "100")),
    derandomize=True,
    deadline=None,  # the scanner's own deadline judges hangs, not wall-clock per example
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("DLP_FUZZ_EXAMPLES", "5000")),
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("DLP_FUZZ_PROFILE", "ci")
FUZZ = settings.get_profile(PROFILE)

# Per input, in the scanner process: far above what any seed needs (milliseconds).
DEADLINE = float(os.environ.get("DLP_FUZZ_DEADLINE", "20"))
MEMORY_LIMIT = 2 << 30  # the scanner's default RLIMIT_AS
# Inputs are small seeds (< 64 KiB): a scanner that peaks above this after them has let a
# small input make a large allocation; the production limit above would still hold.
PEAK_RSS_BOUND = 1 << 30

ENVELOPE = Envelope(
    message_id="fuzz",
    mail_from="sender@corp.example",
    rcpt_tos=("someone@outside.example",),
    client=Client("127.0.0.1"),
)


@functools.cache
def default_policy() -> Policy:
    return load_policy(ROOT / "policies").policy


# --- seeds ---------------------------------------------------------------------------------

CSV_ROWS = [
    ["氏名", "電話番号", "メールアドレス", "住所"],
    ["山田 太郎", "090-1234-5678", "taro@example.jp", "東京都千代田区丸の内1-1-1"],
    ["鈴木 花子", "080-2222-3333", "hanako@example.jp", "大阪府大阪市北区梅田2-2-2"],
    ["東海林 凪", "070-4444-5555", "nagi@example.co.jp", "北海道札幌市中央区大通西3-3"],
]


def csv_text(delimiter: str = ",") -> str:
    return "".join(delimiter.join(row) + "\r\n" for row in CSV_ROWS)


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def tar_gz_of(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), mtime=0)


def mail(parts: list[tuple[str, bytes]], *, boundary: str = "b1") -> bytes:
    """A multipart/mixed message: (headers, body) for each part."""
    head = (
        "From: sender@corp.example\r\nTo: someone@outside.example\r\n"
        "Subject: =?UTF-8?B?5pys5pel44Gu44Oq44K544OI?=\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    ).encode()
    body = b"".join(
        f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n" for headers, data in parts
    )
    return head + body + f"--{boundary}--\r\n".encode()


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


@functools.cache
def seeds() -> dict[str, dict[str, bytes]]:
    """Valid inputs by family; mutations start from these."""
    xlsx = hostile.small_xlsx(6)
    csv = csv_text().encode()
    workbooks = {
        "s.xlsx": xlsx,
        "s.xlsb": hostile.xlsb([("S", 0, [(0, [(0, "氏名"), (1, "電話")]), (1, [(0, "山田")])])]),
        "s.ods": hostile.ods("<table:table-row>" + hostile.ODS_CELL * 3 + "</table:table-row>"),
    }
    delimited = {
        "s.csv": csv,
        "sjis.csv": csv_text().encode("cp932"),
        "u16.tsv": b"\xff\xfe" + csv_text("\t").encode("utf-16-le"),
        "semi.csv": b"\xef\xbb\xbf" + csv_text(";").encode(),
    }
    archives = {
        "s.zip": zip_of([("list.csv", csv), ("book.xlsx", xlsx), ("dir/ä.txt", b"hello")]),
        "s.tar.gz": tar_gz_of([("export/list.csv", csv), ("notes.txt", b"x" * 100)]),
        "s.csv.gz": gzip.compress(csv, mtime=0),
        "nested.zip": zip_of([("inner.zip", zip_of([("list.csv", csv)]))]),
    }
    inner = mail([('Content-Type: text/plain; charset="utf-8"', csv)], boundary="in")
    messages = {
        "xlsx.eml": mail(
            [
                ('Content-Type: text/plain; charset="utf-8"', "お世話になります。".encode()),
                (
                    "Content-Type: application/vnd.openxmlformats-officedocument."
                    'spreadsheetml.sheet; name="list.xlsx"\r\n'
                    "Content-Transfer-Encoding: base64\r\n"
                    'Content-Disposition: attachment; filename="list.xlsx"',
                    b64(xlsx),
                ),
            ]
        ),
        "csv-qp.eml": mail(
            [
                (
                    'Content-Type: text/csv; charset="shift_jis"\r\n'
                    "Content-Transfer-Encoding: quoted-printable\r\n"
                    "Content-Disposition: attachment; "
                    "filename*=UTF-8''%E5%90%8D%E7%B0%BF.csv",
                    _qp(csv_text().encode("cp932")),
                )
            ]
        ),
        "zip-in-rfc822.eml": mail(
            [
                ("Content-Type: text/plain", b"see attached"),
                (
                    "Content-Type: message/rfc822",
                    mail(
                        [
                            (
                                'Content-Type: application/zip; name="a.zip"\r\n'
                                "Content-Transfer-Encoding: base64",
                                b64(archives["s.zip"]),
                            )
                        ],
                        boundary="deep",
                    ),
                ),
                ("Content-Type: message/rfc822", inner),
            ]
        ),
        "plain.eml": (
            b"From: a@corp.example\r\nTo: b@outside.example\r\nSubject: hi\r\n\r\n" + csv
        ),
        "fwd-base64.eml": mail(
            [
                ("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64", b64(inner)),
                ("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode", csv),
            ]
        ),
        "report.eml": mail(
            [
                ("Content-Type: text/plain", b"Your message was not delivered."),
                (
                    "Content-Type: message/delivery-status",
                    b"Reporting-MTA: dns; mta.corp.example\r\n\r\n"
                    b"Final-Recipient: rfc822; b@outside.example\r\nStatus: 5.1.1",
                ),
                ("Content-Type: text/rfc822-headers", inner.split(b"\r\n\r\n", 1)[0]),
                ("Content-Type: message/rfc822", inner),
            ],
            boundary="rep",
        ).replace(b"multipart/mixed", b"multipart/report; report-type=delivery-status", 1),
    }
    rows = customers(4)
    markup = {
        "s.html": markupcorpus.outlook_body(rows).encode()
        + markupcorpus.data_uri_link(csv).encode(),
        "s.xml": markupcorpus.spreadsheetml(rows, hidden_rows=rows[:1]),
        "s.rtf": markupcorpus.rtf_with_object("Package", markupcorpus.packager("a.csv", csv)),
        "jp.rtf": markupcorpus.wordpad_rtf(rows),
    }
    return {
        "workbook": workbooks,
        "delimited": delimited,
        "archive": archives,
        "message": messages,
        "carrier": carrier_seeds(csv, xlsx),
        "markup": markup,
        "document": _documents(xlsx, csv),
        "legacy": legacy_seeds(xlsx, csv),
        "pdf": {
            "text.pdf": pdf_bytes(["Name, Phone, Email", "Taro Yamada, 090-1234-5678, t@ex.jp"]),
            "scan.pdf": pdf_bytes(image=True),
            "files.pdf": pdf_bytes(attachments=[("list.csv", csv), ("b.xlsx", xlsx)]),
        },
    }


def carrier_seeds(csv: bytes, xlsx: bytes) -> dict[str, bytes]:
    """7z, TNEF, Outlook .msg, S/MIME, OpenPGP and uuencoded text around a list, the same
    bytes on every run; without 7-Zip the 7z seed is left out, and named on stderr."""
    entity = carriers.mime_entity(attachments=[("list.csv", csv)])
    found = {
        "winmail.dat": carriers.tnef_bytes(
            attachments=[("list.csv", csv)],
            embedded=[("fwd", carriers.tnef_bytes(attachments=[("b.xlsx", xlsx)]))],
        ),
        "s.msg": carriers.msg_bytes(
            body=csv.decode(),
            attachments=[("b.xlsx", xlsx)],
            embedded=[("fwd", carriers.msg_tree(attachments=[("l.csv", csv)], top=False))],
        ),
        "signed.p7m": carriers.cms_signed_data(entity),
        "compressed.p7m": carriers.smime_compressed(entity),
        "signed.gpg": carriers.openpgp_literal(csv),
        "encrypted.asc": carriers.armored(carriers.openpgp_encrypted()),
        "uu.txt": b"Hello\n" + carriers.uuencoded("list.csv", csv) + b"Bye\n",
    }
    try:
        found["s.7z"] = carriers.seven_zip_bytes([("list.csv", csv), ("b.xlsx", xlsx)])
    except carriers.MissingTool as missing:
        print(f"fuzzing: no 7z seed: {missing}", file=sys.stderr)
    return found


def legacy_seeds(xlsx: bytes, csv: bytes) -> dict[str, bytes]:
    """A .doc with a letter, a table (cell and row-end marks, paragraph properties), a field,
    8-bit and UTF-16 pieces and a workbook in its ObjectPool; a .ppt with outline text, a
    table as a group of anchored shapes and a compressed embedded object."""
    rows = [["氏名", "電話"], ["山田 太郎", "090-1234-5678"], ["佐藤 花子", "080-2222-3333"]]
    doc = legacycraft.word97_table(
        rows,
        intro="Dear \x13 MERGEFIELD name \x14customer\x15,\r",
        extra={"ObjectPool": {"_1": {"\x01CompObj": b"\x01\x00\xfe\xff", "Package": xlsx}}},
    )
    inner = cfb.compound_file({"\x01Ole10Native": _native("list.csv", csv)})
    return {"s.doc": doc, "s.ppt": legacycraft.powerpoint97(rows, objects=[inner])}


def _native(name: str, data: bytes) -> bytes:
    """An \\x01Ole10Native stream as the Packager writes it."""
    path = f"C:\\{name}".encode()
    body = b"\x02\x00" + name.encode() + b"\x00" + path + b"\x00\x00\x00\x03\x00"
    body += struct.pack("<I", len(path) + 1) + path + b"\x00" + struct.pack("<I", len(data)) + data
    return struct.pack("<I", len(body)) + body


def _documents(xlsx: bytes, csv: bytes) -> dict[str, bytes]:
    """A docx with a table, a header and an embedded workbook and OLE object; a pptx with a
    table and notes; an odt holding an embedded spreadsheet."""
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "社外秘"
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["氏名", "電話"], ["山田", "090"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    native = (
        struct.pack("<I", len(csv) + 40) + b"\x02\x00list.csv\x00C:\\list.csv\x00\x00\x00\x03\x00"
    )
    native += struct.pack("<I", 12) + b"C:\\list.csv\x00" + struct.pack("<I", len(csv)) + csv
    members = [
        ("word/embeddings/book.xlsx", xlsx),
        ("word/embeddings/oleObject1.bin", cfb.compound_file({"\x01Ole10Native": native})),
    ]
    with zipfile.ZipFile(out, "a") as archive:
        for name, data in members:
            archive.writestr(name, data)
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    shape = slide.shapes.add_table(2, 2, 0, 0, 4_000_000, 1_000_000)
    shape.table.cell(1, 0).text = "山田 太郎"
    slide.notes_slide.notes_text_frame.text = "氏名\t電話"  # type: ignore[union-attr]
    slides = io.BytesIO()
    deck.save(slides)
    odt = zip_of(
        [
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", ODT_CONTENT),
            ("Object 1/content.xml", hostile.ods_content(hostile.ODS_CELL * 3)),
            ("META-INF/manifest.xml", ODT_MANIFEST),
        ]
    )
    return {"s.docx": out.getvalue(), "s.pptx": slides.getvalue(), "s.odt": odt}


ODT_CONTENT = (
    b'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:'
    b'names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:'
    b'xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:'
    b"body><office:text><text:p>\xe6\xb0\x8f\xe5\x90\x8d<text:tab/>tel</text:p><table:table>"
    b"<table:table-row><table:table-cell><text:p>a</text:p></table:table-cell></table:table-row>"
    b"</table:table></office:text></office:body></office:document-content>"
)
ODT_MANIFEST = (
    b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:'
    b'tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" '
    b'manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry '
    b'manifest:full-path="Object 1/" manifest:media-type="application/vnd.oasis.opendocument.'
    b'spreadsheet"/></manifest:manifest>'
)


def _qp(data: bytes) -> bytes:
    return quopri.encodestring(data).replace(b"\n", b"\r\n")


# --- mutations -------------------------------------------------------------------------------
# Each is a frozen dataclass, so a failing example prints as the exact operations to replay.

TOKENS = [
    b"\x00",
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\r\n",
    b"\r\n\r\n",
    b"--",
    b"--b1--\r\n",
    b"=?",
    b"?=",
    b"=\r\n",
    b"==",
    b'"',
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"\x1f\x8b\x08\x00",
    b'r="XFD1048576"',
    b'r="A1048577"',
    b'r="ZZZZ99999999"',
    b'count="4294967295"',
    b'uniqueCount="99999999999"',
    b'table:number-rows-repeated="1048576"',
    b'table:number-columns-repeated="16384"',
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>',
    b"&a;",
    b'<c r="B2" t="s"><v>99999</v></c>',
    b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n',
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b'; charset="x-unknown-charset"',
    b"; charset*=utf-8''%ff%fe",
    b"\x1b$B",
    b"\xef\xbb\xbf",
    b"\xfe\xff",
]


def _at(data: bytes | bytearray, position: int) -> int:
    return position % (len(data) + 1)


@dataclass(frozen=True)
class Flip:
    position: int
    mask: int

    def __call__(self, data: bytes) -> bytes:
        if not data:
            return data
        out = bytearray(data)
        out[self.position % len(out)] ^= self.mask
        return bytes(out)


@dataclass(frozen=True)
class Truncate:
    position: int

    def __call__(self, data: bytes) -> bytes:
        return data[: _at(data, self.position)]


@dataclass(frozen=True)
class Delete:
    position: int
    length: int

    def __call__(self, data: bytes) -> bytes:
        start = _at(data, self.position)
        return data[:start] + data[start + self.length :]


@dataclass(frozen=True)
class Insert:
    position: int
    chunk: bytes

    def __call__(self, data: bytes) -> bytes:
        start = _at(data, self.position)
        return data[:start] + self.chunk + data[start:]


@dataclass(frozen=True)
class Repeat:
    position: int
    length: int
    times: int

    def __call__(self, data: bytes) -> bytes:
        start = _at(data, self.position)
        piece = data[start : start + self.length]
        return data[:start] + piece * self.times + data[start:]


@dataclass(frozen=True)
class Splice:
    """The head of this input up to ``position``, then the tail of another seed."""

    other: str
    position: int
    other_position: int

    def __call__(self, data: bytes) -> bytes:
        other = _all_seeds()[self.other]
        return data[: _at(data, self.position)] + other[_at(other, self.other_position) :]


@dataclass(frozen=True)
class PatchInt:
    """Overwrite a little-endian integer field (zip sizes, offsets, counts, BIFF records)."""

    position: int
    width: int
    value: int

    def __call__(self, data: bytes) -> bytes:
        if len(data) < self.width:
            return data
        start = self.position % (len(data) - self.width + 1)
        field = (self.value % (1 << (8 * self.width))).to_bytes(self.width, "little")
        return data[:start] + field + data[start + self.width :]


@dataclass(frozen=True)
class ZipField:
    """Overwrite a named field of the n-th local or central zip header."""

    signature: bytes
    index: int
    offset: int
    width: int
    value: int

    def __call__(self, data: bytes) -> bytes:
        starts = [m.start() for m in re.finditer(re.escape(self.signature), data)]
        if not starts:
            return data
        at = starts[self.index % len(starts)] + self.offset
        if at + self.width > len(data):
            return data
        field = (self.value % (1 << (8 * self.width))).to_bytes(self.width, "little")
        return data[:at] + field + data[at + self.width :]


@dataclass(frozen=True)
class InMember:
    """Mutate the content of one member of a zip (a sheet of an xlsx) and zip it again, so the
    damage reaches the XML and record readers behind a valid container."""

    index: int
    steps: tuple[Callable[[bytes], bytes], ...]
    rename: str | None = None

    def __call__(self, data: bytes) -> bytes:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as source:
                members = [(info.filename, source.read(info)) for info in source.infolist()]
        except Exception:
            return data
        if not members:
            return data
        chosen = self.index % len(members)
        name, content = members[chosen]
        for step in self.steps:
            content = step(content)
        members[chosen] = (self.rename or name, content)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a renamed member may duplicate a name: wanted
            return zip_of(members)


@dataclass(frozen=True)
class HeaderEdit:
    """Delete, double or rewrite the n-th header line anywhere in a message."""

    index: int
    action: str
    value: bytes = b""

    def __call__(self, data: bytes) -> bytes:
        lines = list(re.finditer(rb"(?m)^[A-Za-z][A-Za-z0-9-]*:[^\r\n]*\r?\n", data))
        if not lines:
            return data
        line = lines[self.index % len(lines)]
        start, end = line.span()
        name = data[start : data.index(b":", start) + 1]
        if self.action == "delete":
            replacement = b""
        elif self.action == "double":
            replacement = line.group(0) * 2
        elif self.action == "huge":
            replacement = name + b" " + b"x" * 100_000 + b"\r\n"
        else:
            replacement = name + b" " + self.value + b"\r\n"
        return data[:start] + replacement + data[end:]


@dataclass(frozen=True)
class Nest:
    """Wrap the body of a message in ``depth`` more multipart levels."""

    depth: int

    def __call__(self, data: bytes) -> bytes:
        split = data.find(b"\r\n\r\n")
        if split < 0:
            return data
        head, body = data[: split + 2], data[split + 4 :]
        content_type = re.search(rb"(?im)^content-type:[^\r\n]*\r\n", head)
        inner_type = content_type.group(0) if content_type else b"Content-Type: text/plain\r\n"
        head = head.replace(inner_type, b"") if content_type else head
        inner = inner_type + b"\r\n" + body
        for level in range(self.depth):
            boundary = f"n{level}".encode()
            inner = (
                b'Content-Type: multipart/mixed; boundary="'
                + boundary
                + b'"\r\n\r\n--'
                + boundary
                + b"\r\n"
                + inner
                + b"\r\n--"
                + boundary
                + b"--\r\n"
            )
        return head + inner


HEADER_VALUES = [
    b"multipart/mixed",
    b'multipart/mixed; boundary=""',
    b'multipart/mixed; boundary="b1"; boundary="b2"',
    b'multipart/alternative; boundary="' + b"z" * 200 + b'"',
    b"message/rfc822",
    b"text/csv; charset=x-bogus",
    b"text/plain; charset=iso-2022-jp",
    b"text/plain; charset*=''",
    b"application/zip; name*0*=utf-8''%E5; name*1=\"\x00.zip\"",
    b"base64",
    b"quoted-printable",
    b"x-uuencode",
    b'attachment; filename="../../etc/passwd"',
    b"attachment; filename*=bogus''%ZZ",
    b"=?utf-8?B?!!!?=",
    b"=?iso-2022-jp?B?GyRCJCIbKEI?=",
    b"\x00\x00\x00",
    b"\xff\xfe\xfd",
]

_positions = st.integers(0, 1 << 20)
_lengths = st.integers(1, 4096)
_ints = st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 20, 1 << 31])


def _chunks() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=64))


def byte_steps() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    return st.one_of(
        st.builds(Flip, _positions, st.integers(1, 255)),
        st.builds(Truncate, _positions),
        st.builds(Delete, _positions, _lengths),
        st.builds(Insert, _positions, _chunks()),
        st.builds(Repeat, _positions, st.integers(1, 64), st.integers(2, 200)),
        st.builds(PatchInt, _positions, st.sampled_from([2, 4]), st.one_of(_ints, st.integers())),
    )


def zip_steps() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    local = st.builds(
        ZipField,
        st.just(b"PK\x03\x04"),
        st.integers(0, 20),
        st.sampled_from([6, 8, 14, 18, 22, 26, 28]),  # flags, method, crc, sizes, name len
        st.sampled_from([2, 4]),
        st.one_of(_ints, st.integers(0, 1 << 32)),
    )
    central = st.builds(
        ZipField,
        st.just(b"PK\x01\x02"),
        st.integers(0, 20),
        st.sampled_from([8, 10, 16, 20, 24, 28, 30, 42]),  # flags, method, sizes, offset
        st.sampled_from([2, 4]),
        st.one_of(_ints, st.integers(0, 1 << 32)),
    )
    member = st.builds(
        InMember,
        st.integers(0, 20),
        st.lists(byte_steps(), min_size=1, max_size=3).map(tuple),
        st.one_of(
            st.none(),
            st.sampled_from(["../../etc/passwd", "/abs/x.csv", "a\x00b.csv", "x" * 300, "C:\\x"]),
        ),
    )
    return st.one_of(local, central, member)


@dataclass(frozen=True)
class InStream:
    """Mutate one stream of a compound file (a .doc's WordDocument or table stream, a .ppt's
    records) and write the file again, so the damage reaches the readers behind a valid
    container."""

    index: int
    steps: tuple[Callable[[bytes], bytes], ...]

    def __call__(self, data: bytes) -> bytes:
        try:
            with olefile.OleFileIO(data) as ole:
                paths = sorted(ole.listdir(streams=True))
                tree: dict[str, Any] = {}
                for path in paths:
                    folder = tree
                    for name in path[:-1]:
                        folder = folder.setdefault(name, {})
                    folder[path[-1]] = ole.openstream(path).read()
        except Exception:
            return data  # already broken: leave it to the byte steps
        if not paths:
            return data
        path = paths[self.index % len(paths)]
        folder = tree
        for name in path[:-1]:
            folder = folder[name]
        content = folder[path[-1]]
        for step in self.steps:
            content = step(content)
        folder[path[-1]] = content
        try:
            return cfb.compound_file(tree)
        except ValueError:  # grown past what cfb writes
            return data


def ole_steps() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    return st.builds(
        InStream, st.integers(0, 20), st.lists(byte_steps(), min_size=1, max_size=3).map(tuple)
    )


def mail_steps() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    return st.one_of(
        st.builds(
            HeaderEdit,
            st.integers(0, 40),
            st.sampled_from(["delete", "double", "huge", "set"]),
            st.sampled_from(HEADER_VALUES),
        ),
        st.builds(Nest, st.sampled_from([1, 2, 10, 70, 500])),
    )


@functools.cache
def _all_seeds() -> dict[str, bytes]:
    return {name: data for family in seeds().values() for name, data in family.items()}


STEPS: dict[str, Callable[[], st.SearchStrategy[Callable[[bytes], bytes]]]] = {
    "workbook": lambda: st.one_of(byte_steps(), zip_steps(), zip_steps()),
    "delimited": byte_steps,
    "archive": lambda: st.one_of(byte_steps(), zip_steps()),
    "message": lambda: st.one_of(byte_steps(), mail_steps(), mail_steps()),
    "carrier": byte_steps,
    "markup": byte_steps,
    "document": lambda: st.one_of(byte_steps(), zip_steps(), zip_steps()),
    "legacy": lambda: st.one_of(byte_steps(), ole_steps(), ole_steps()),
    "pdf": byte_steps,
}


@dataclass(frozen=True)
class Case:
    seed: str
    steps: tuple[Callable[[bytes], bytes], ...]

    @property
    def data(self) -> bytes:
        data = _all_seeds()[self.seed]
        for step in self.steps:
            data = step(data)
        return data


def cases(family: str) -> st.SearchStrategy[Case]:
    """A seed of ``family`` and one to five mutations of it (splices with any other seed)."""
    names = sorted(seeds()[family])
    others = sorted(_all_seeds())
    step = st.one_of(
        STEPS[family](), st.builds(Splice, st.sampled_from(others), _positions, _positions)
    )
    return st.builds(
        Case, st.sampled_from(names), st.lists(step, min_size=1, max_size=5).map(tuple)
    )


# --- harness: the real scanner processes, driven from synchronous tests --------------------


class Harness:
    """One scanner process (dlp_proxy.scanner.Scanner) under the production memory limit."""

    def __init__(self, *, timeout: float = DEADLINE, memory_limit: int = MEMORY_LIMIT) -> None:
        self.loop = asyncio.new_event_loop()
        self.scanner = Scanner(
            processes=1, timeout=timeout, memory_limit=memory_limit, job=fuzzjobs.message
        )
        self.loop.run_until_complete(self.scanner.start())
        self.peak_rss = 0
        # target -> answer class -> examples
        self.answers: dict[str, dict[str, int]] = {}

    def run(self, raw: bytes, job: Callable[..., object], target: str) -> fuzzjobs.Outcome:
        """The job's outcome; a scanner that died or overran comes back as ``raised``."""
        counts = self.answers.setdefault(target, {})
        try:
            value = self.loop.run_until_complete(
                self.scanner.run_job(raw, ENVELOPE, default_policy(), job)
            )
        except (errors.InspectionFailed, errors.InspectionTimeout) as exc:
            counts["failed"] = counts.get("failed", 0) + 1
            return fuzzjobs.Outcome(raised=f"{type(exc).__name__}: {exc}")
        self.peak_rss = max(self.peak_rss, self.scanner_peak_rss())
        assert isinstance(value, fuzzjobs.Outcome)
        answer = "failed" if value.problems() else value.answer
        counts[answer] = counts.get(answer, 0) + 1
        return value

    def scanner_peak_rss(self) -> int:
        """The largest resident size any live scanner process has had (VmHWM), in bytes."""
        peak = 0
        for pid in self.scanner.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            found = re.search(r"VmHWM:\s+(\d+) kB", status)
            if found:
                peak = max(peak, int(found.group(1)) * 1024)
        return peak

    def close(self) -> None:
        self.loop.run_until_complete(self.scanner.close())
        self.loop.close()


def file_job(name: str) -> Callable[..., object]:
    return functools.partial(fuzzjobs.file, name=name)


def table_job(*, delimited: bool) -> Callable[..., object]:
    return functools.partial(fuzzjobs.table, delimited=delimited)
