"""Tell a file's type from its content (magic bytes, zip members, OLE streams); names only hint."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import msoffcrypto
import olefile

from dlp_proxy.inspect.archives import open_zip
from dlp_proxy.inspect.model import Unscannable

Family = Literal["workbook", "delimited", "zip", "tar", "stream", "document", "message", "other"]
"""What inspection does with a file: read its tables, open it as a container, or only list it.

``document`` is an OOXML or ODF document whose embedded objects (an Excel sheet pasted into
Word) are opened; ``stream`` is a single compressed stream (gzip, bzip2, xz).
"""

WORKBOOKS = frozenset({"xlsx", "xlsm", "xlsb", "xls", "ods"})
DELIMITED = frozenset({"csv", "tsv"})

# Formats that can carry a spreadsheet but that we do not open: reported as unsupported, so
# policy can decide. Documents, images and PDFs carry no table we read and are only listed.
UNSUPPORTED_ARCHIVES = {
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"Rar!\x1a\x07": "rar",
    b"MSCF\x00\x00\x00\x00": "cab",
    b"\x28\xb5\x2f\xfd": "zstd",
}
_STREAMS = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_OTHER = {
    b"%PDF-": "pdf",
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"{\\rtf": "rtf",
    b"MZ": "exe",
    b"\x7fELF": "elf",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_LZH = re.compile(rb"..-l[hz][0-9a-z]-", re.DOTALL)

_ODF = {
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.presentation": "odp",
}
_EXTENSIONS = {
    "xlsx": "xlsx",
    "xlsm": "xlsm",
    "xltx": "xlsx",
    "xltm": "xlsm",
    "xlsb": "xlsb",
    "xls": "xls",
    "xlt": "xls",
    "ods": "ods",
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "txt": "text",
    "zip": "zip",
    "eml": "eml",
    "docx": "docx",
    "pptx": "pptx",
    "pdf": "pdf",
}
_CONTENT_TYPES = {
    "text/csv": "csv",
    "text/comma-separated-values": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroenabled.12": "xlsb",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "message/rfc822": "eml",
    "message/global": "eml",
}
# Header names that make the start of a text file an RFC 5322 message.
_MESSAGE_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "received", "return-path"}
)
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_OOXML_MARKERS = (
    (b"xl/workbook.bin", "xlsb"),
    (b"xl/vbaProject.bin", "xlsm"),
    (b"xl/", "xlsx"),
    (b"word/", "docx"),
    (b"ppt/", "pptx"),
)
_SNIFF_BYTES = 64 << 10
_SMALL_MEMBER = 1 << 20


@dataclass(frozen=True, slots=True)
class FileType:
    """A file's type as its content shows it, and a reason it cannot be read, if any."""

    kind: str
    family: Family
    problem: Unscannable | None = None


def hint_from_name(name: str | None) -> str | None:
    """The type a file name suggests (``.csv`` -> ``csv``); only ever a hint."""
    if not name or "." not in name:
        return None
    return _EXTENSIONS.get(name.rsplit(".", 1)[1].strip().lower())


def hint_from_content_type(content_type: str | None) -> str | None:
    """The type a declared MIME Content-Type suggests; only ever a hint."""
    if not content_type:
        return None
    return _CONTENT_TYPES.get(content_type.strip().lower())


def sniff(
    data: bytes, *, hints: Iterable[str | None] = (), looks_delimited: Callable[[bytes], bool]
) -> FileType:
    """Tell the type of ``data`` from its bytes; ``hints`` (from names, Content-Type) only
    decide between text readings (a ``.csv`` the table check doubts is still read as CSV).

    Problems that are visible from the outside (encrypted Office file, unreadable zip,
    archive format we do not open) come back in ``problem``; never raises.
    """
    hinted = [hint for hint in hints if hint]
    if not data:
        return FileType("empty", "other")
    binary = binary_type(data)
    if binary is not None:
        return binary
    if looks_like_message(data, hinted="eml" in hinted):
        return FileType("eml", "message")
    for hint in hinted:
        if hint in DELIMITED:
            return FileType(hint, "delimited")
    if looks_delimited(data):
        return FileType(_delimiter_kind(data), "delimited")
    return FileType("text" if _is_text(data) else "binary", "other")


def binary_type(data: bytes) -> FileType | None:
    """The type of a file with a binary signature, or None for text and unknown bytes."""
    if data.startswith(_ZIP) or (data.startswith(b"MZ") and _is_zip_at_end(data)):
        return _zip_type(data)  # an MZ prefix: a self-extracting zip
    if data.startswith(_OLE):
        return _ole_type(data)
    for magic, kind in _STREAMS.items():
        if data.startswith(magic):
            return FileType(kind, "stream")
    for magic, kind in UNSUPPORTED_ARCHIVES.items():
        if data.startswith(magic):
            return _unsupported(kind)
    for magic, kind in _OTHER.items():
        if data.startswith(magic):
            return FileType(kind, "other")
    if data[257:262] == b"ustar" or (len(data) >= 1024 and _is_old_tar(data)):
        return FileType("tar", "tar")
    if _LZH.match(data[:7]):
        return _unsupported("lzh")
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return FileType("webp", "other")
    return None


def _unsupported(kind: str) -> FileType:
    return FileType(kind, "other", Unscannable("unsupported", f"{kind} archives are not opened"))


def _is_old_tar(data: bytes) -> bool:
    # A pre-POSIX tar header: octal size and a checksum that matches the header bytes.
    header = data[:512]
    try:
        stored = int(header[148:156].strip(b"\x00 ") or b"-1", 8)
    except ValueError:
        return False
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    return stored == computed and header[0] != 0


def _is_zip_at_end(data: bytes) -> bool:
    try:
        return zipfile.is_zipfile(io.BytesIO(data))
    except Exception:
        return False


def _zip_type(data: bytes) -> FileType:
    try:
        archive = open_zip(data)
    except Unscannable as problem:
        return FileType(_guess_from_local_headers(data), "zip", problem)
    with archive:
        return _zip_family(archive, archive.namelist())


def _zip_family(archive: zipfile.ZipFile, names: list[str]) -> FileType:
    lowered = {name.lower() for name in names}
    if "mimetype" in lowered:
        mimetype = _read_small(archive, "mimetype").decode("ascii", "replace").strip()
        if mimetype in _ODF:
            kind = _ODF[mimetype]
            if b"encryption-data" in _read_small(archive, "META-INF/manifest.xml"):
                problem = Unscannable("encrypted", "password-protected OpenDocument file")
                return FileType(kind, "workbook", problem)
            return FileType(kind, "workbook" if kind == "ods" else "document")
    if "[content_types].xml" in lowered:
        if "xl/workbook.bin" in lowered:
            return FileType("xlsb", "workbook")
        if any(name.startswith("xl/") for name in lowered):
            content_types = _read_small(archive, "[Content_Types].xml").lower()
            return FileType("xlsm" if b"macroenabled" in content_types else "xlsx", "workbook")
        if any(name.startswith("word/") for name in lowered):
            return FileType("docx", "document")
        if any(name.startswith("ppt/") for name in lowered):
            return FileType("pptx", "document")
        return FileType("ooxml", "document")
    return FileType("zip", "zip")


def _read_small(archive: zipfile.ZipFile, wanted: str) -> bytes:
    """The head of one member, or nothing when it is absent, locked or unreadable (the
    member's own problem is reported when the archive is opened as a plain zip)."""
    for info in archive.infolist():
        if info.filename.lower() == wanted.lower() and not info.flag_bits & 0x1:
            try:
                with archive.open(info) as member:
                    return member.read(_SMALL_MEMBER)
            except (
                NotImplementedError,
                zipfile.BadZipFile,
                zlib.error,
                OSError,
                EOFError,
                ValueError,
            ):
                return b""
    return b""


def _guess_from_local_headers(data: bytes) -> str:
    """Name a truncated zip by the member names its surviving local headers show."""
    head = data[: 4 << 20]
    for marker, kind in _OOXML_MARKERS:
        if marker in head:
            return kind
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head:
        return "ods"
    return "zip"


def _ole_type(data: bytes) -> FileType:
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(path).lower() for path in ole.listdir(streams=True)}
    except Exception as exc:
        return FileType("ole", "other", Unscannable("corrupt", f"OLE container unreadable ({exc})"))
    if {"encryptioninfo", "encryptedpackage"} <= streams:
        return FileType(
            "ooxml", "workbook", Unscannable("encrypted", "password-protected Office document")
        )
    family: Family = "other"
    if "workbook" in streams or "book" in streams:
        kind, family = "xls", "workbook"
    elif "worddocument" in streams:
        kind = "doc"
    elif "powerpoint document" in streams:
        kind = "ppt"
    elif any(name.startswith("__substg1.0_") for name in streams):
        return FileType("msg", "other", Unscannable("unsupported", "Outlook .msg is not opened"))
    else:
        return FileType("ole", "other")
    if office_encrypted(data):
        return FileType(kind, family, Unscannable("encrypted", "password-protected Office file"))
    return FileType(kind, family)


def office_encrypted(data: bytes) -> bool:
    """Whether msoffcrypto-tool finds this OLE Office file encrypted (False if it cannot tell)."""
    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception:
        return False


def looks_like_message(data: bytes, *, hinted: bool = False) -> bool:
    """Whether text starts with an RFC 5322 header block (an .eml, also one without a name)."""
    lines = data[:_SNIFF_BYTES].splitlines()
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an mbox separator line
    names: set[str] = set()
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(b":", 1)[0].decode("ascii").lower())
    if hinted:
        return bool(names)
    known = names & _MESSAGE_HEADERS
    return len(known) >= 2 and bool(known & {"from", "mime-version", "received", "message-id"})


def _delimiter_kind(data: bytes) -> str:
    first = data[:_SNIFF_BYTES].split(b"\n", 1)[0]
    if b"\x00" in first:  # UTF-16: count the ASCII delimiters among the code units
        first = first.replace(b"\x00", b"")
    return "tsv" if first.count(b"\t") > first.count(b",") else "csv"


# Every byte but the control characters that do not occur in text: deleting these leaves
# exactly the controls to count (in C, not a Python loop over the sample).
_NOT_CONTROLS = bytes(b for b in range(256) if b >= 0x20 or b in (9, 10, 12, 13, 27))


def _is_text(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if b"\x00" in sample:
        return False
    controls = len(sample.translate(None, _NOT_CONTROLS))
    return controls <= len(sample) // 100
