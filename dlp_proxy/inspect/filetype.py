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

from dlp_proxy.inspect import ooxml, pgp
from dlp_proxy.inspect.archives import open_zip
from dlp_proxy.inspect.model import Unscannable

Family = Literal[
    "workbook",
    "delimited",
    "text",
    "html",
    "xml",
    "document",
    "legacy",
    "pdf",
    "rtf",
    "zip",
    "tar",
    "stream",
    "sevenzip",
    "message",
    "tnef",
    "msg",
    "ole-object",
    "pkcs7",
    "pgp",
    "media",
    "other",
]
"""Which reader takes a file (files.READERS); ``other`` has none and is always unscannable.

``document`` is an OOXML or ODF document (text and embedded objects); ``legacy`` a binary
Word or PowerPoint 97-2003 document (the same); ``stream`` a single compressed stream (gzip,
bzip2, xz); ``ole-object`` an OLE object storage (Ole10Native, Package); ``media`` an image,
audio, video or font file: it cannot carry a list, so it is read as *not applicable*.
"""

WORKBOOKS = frozenset({"xlsx", "xlsm", "xlsb", "xls", "ods"})
DELIMITED = frozenset({"csv", "tsv"})
# Names and declared types a program opens as text: content of another kind under one of
# them is not harmless (a .csv that starts like a PNG is still shown as text by Excel).
TEXTUAL = frozenset({"csv", "tsv", "text", "html", "xml", "eml", "headers"})

# Archive formats that can carry a spreadsheet but that we do not open: unsupported, so the
# policy decides.
UNSUPPORTED_ARCHIVES = {
    b"Rar!\x1a\x07": "rar",
    b"MSCF\x00\x00\x00\x00": "cab",
    b"\x28\xb5\x2f\xfd": "zstd",
}
_EXECUTABLES = {
    b"MZ": "exe",
    b"\x7fELF": "elf",
    b"\xcf\xfa\xed\xfe": "macho",
    b"\xca\xfe\xba\xbe": "macho",
}
# Media and fonts by their signatures; only ever "not applicable" (see sniff for the checks).
_MEDIA = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"\x00\x00\x01\x00": "ico",
    b"ID3": "mp3",
    b"OggS": "ogg",
    b"fLaC": "flac",
    b"#!AMR": "amr",
    b"MThd": "midi",
    b"\x1aE\xdf\xa3": "mkv",
    b"0&\xb2u\x8ef\xcf\x11": "wmv",
    b"\x00\x00\x01\xba": "mpeg",
    b"\x00\x00\x01\xb3": "mpeg",
    b"OTTO": "otf",
    b"\x00\x01\x00\x00\x00": "ttf",
    b"true\x00": "ttf",
    b"ttcf": "ttc",
    b"wOFF": "woff",
    b"wOF2": "woff2",
}
_RIFF_MEDIA = {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}
_PKCS7_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"  # 1.2.840.113549.1.7 (CMS)
# 1.2.840.113549.1.9.16.1: S/MIME content types (compressed, authenticated-enveloped...)
_SMIME_CONTENT_OID = b"\x06\x0b\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01"
_CMS_OIDS = (_PKCS7_OID, _SMIME_CONTENT_OID)
_PEM_CMS = (b"-----begin pkcs7-----", b"-----begin cms-----")  # compared in lower case
_PGP_ARMOR = b"-----begin pgp message-----"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_LZH = re.compile(rb"..-l[hz][0-9a-z]-", re.DOTALL)
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|meta|table|div|p|br|span|font)[\s>/]"
)
_HTML_ANYWHERE = re.compile(rb"<(?:html|body|table)[\s>]")

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
    "htm": "html",
    "html": "html",
    "xml": "xml",
    "xhtml": "html",
    "zip": "zip",
    "eml": "eml",
    "msg": "msg",
    "7z": "7z",
    "p7m": "pkcs7",
    "p7s": "pkcs7",
    "p7c": "pkcs7",
    "gpg": "pgp",
    "pgp": "pgp",
    "asc": "pgp",
    "docx": "docx",
    "pptx": "pptx",
    "pdf": "pdf",
}
_CONTENT_TYPES = {
    "text/csv": "csv",
    "text/comma-separated-values": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "tsv",
    "text/plain": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroenabled.12": "xlsb",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/x-7z-compressed": "7z",
    "application/pdf": "pdf",
    "application/ms-tnef": "tnef",
    "application/vnd.ms-tnef": "tnef",
    "application/vnd.ms-outlook": "msg",
    "application/pkcs7-mime": "pkcs7",
    "application/x-pkcs7-mime": "pkcs7",
    "application/pkcs7-signature": "pkcs7",
    "application/x-pkcs7-signature": "pkcs7",
    "application/pgp-encrypted": "pgp",
    "message/rfc822": "eml",
    "message/global": "eml",
    # Header fields only (delivery reports, returned headers): read as text.
    "text/rfc822-headers": "headers",
    "message/delivery-status": "headers",
    "message/global-delivery-status": "headers",
    "message/disposition-notification": "headers",
    "message/global-disposition-notification": "headers",
    "message/feedback-report": "headers",
    "message/global-headers": "headers",
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


_SIGNATURES: tuple[tuple[bytes, FileType], ...] = (
    (b"\x1f\x8b", FileType("gzip", "stream")),
    (b"BZh", FileType("bzip2", "stream")),
    (b"\xfd7zXZ\x00", FileType("xz", "stream")),
    (b"7z\xbc\xaf\x27\x1c", FileType("7z", "sevenzip")),
    (b"%PDF-", FileType("pdf", "pdf")),
    (b"{\\rtf", FileType("rtf", "rtf")),
    (b"\x78\x9f\x3e\x22", FileType("tnef", "tnef")),
)
# The first bytes of every signature checked at offset 0 (and of DER, and of OpenPGP packets):
# data starting with any other byte skips those checks.
_SIGNATURE_STARTS = frozenset(
    bytes((magic[0],))
    for magic in (
        *_ZIP,
        _OLE,
        *(magic for magic, _ in _SIGNATURES),
        *UNSUPPORTED_ARCHIVES,
        *_EXECUTABLES,
        *_MEDIA,
        b"RIFF",
        b"BM",
        b"\x30",  # DER (CMS)
        *(bytes((byte,)) for byte in range(0x80, 0x100)),  # OpenPGP packets, MPEG audio
    )
)


def hint_from_name(name: str | None) -> str | None:
    """The type a file name suggests (``.csv`` -> ``csv``); only ever a hint."""
    if not name or "." not in name:
        return None
    return _EXTENSIONS.get(name.rsplit(".", 1)[1].strip().lower())


def hint_from_content_type(content_type: str | None) -> str | None:
    """The type a declared MIME Content-Type suggests; only ever a hint."""
    if not content_type:
        return None
    declared = content_type.strip().lower()
    if declared.split("/", 1)[0] in ("image", "audio", "video", "font"):
        return "media"
    return _CONTENT_TYPES.get(declared)


def sniff(
    data: bytes, *, hints: Iterable[str | None] = (), looks_delimited: Callable[[bytes], bool]
) -> FileType:
    """Tell the type of ``data`` from its bytes; ``hints`` (from names, Content-Type) only
    decide between text readings (a ``.csv`` the table check doubts is still read as CSV) and
    make a media file under a text name *ambiguous*.

    Problems visible from the outside (encrypted Office file, unreadable zip, a format we do
    not open) come back in ``problem``; a file of family ``other`` always has one. Never raises.
    """
    hinted = [hint for hint in hints if hint]
    if not data:
        return FileType("empty", "text")
    binary = binary_type(data)
    if binary is not None:
        if binary.family == "media":
            return _media(data, binary, hinted)
        return binary
    if "pgp" in hinted and _openpgp_packet(data):
        return FileType("pgp", "pgp")  # a signed or compressed message named .gpg
    if "headers" in hinted and header_fields_only(data):
        # A delivery report's header blocks: text, not a message without a body.
        if looks_delimited(data):
            return FileType(_delimiter_kind(data), "delimited")
        return FileType("headers", "text")
    if looks_like_message(data, hinted="eml" in hinted):
        return FileType("eml", "message")
    found = _text_type(data, hinted, looks_delimited)
    if found is not None:
        return found
    return FileType(
        "binary", "other", Unscannable("unsupported", "binary content of no format we know")
    )


def _text_type(
    data: bytes, hinted: list[str], looks_delimited: Callable[[bytes], bool]
) -> FileType | None:
    """The type of text: armoured PGP or CMS, delimited table, HTML, XML, other text."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_PGP_ARMOR):
        return FileType("pgp", "pgp")
    if head.startswith(_PEM_CMS):
        return FileType("pkcs7", "pkcs7")
    for hint in hinted:
        if hint in DELIMITED:
            return FileType(hint, "delimited")
    # An XML declaration first: SpreadsheetML's <Table> must not make it HTML (XHTML is
    # read as HTML by the XML reader).
    if "html" not in hinted and head.startswith((b"<?xml", b"<svg")):
        return FileType("xml", "xml")
    if "html" in hinted or _looks_html(head):
        return FileType("html", "html")
    if "xml" in hinted and head.startswith(b"<"):
        return FileType("xml", "xml")
    if looks_delimited(data):
        return FileType(_delimiter_kind(data), "delimited")
    if _is_text(data) or _is_text(data.replace(b"\x00", b"")):  # mail programs drop NULs
        return FileType("text", "text")
    return None


def _looks_html(head: bytes) -> bool:
    if not head.startswith(b"<"):
        return False
    return bool(_HTML_START.match(head) or _HTML_ANYWHERE.search(head))


def _openpgp_packet(data: bytes) -> bool:
    """Whether ``data`` starts with an OpenPGP packet that begins an encrypted message."""
    first = data[0]
    if first & 0xC0 == 0xC0:
        return first & 0x3F in (1, 3, 8, 18, 20)
    if first & 0x80:
        return (first >> 2) & 0x0F in (1, 3, 8)
    return False


def _media(data: bytes, found: FileType, hinted: list[str]) -> FileType:
    """An image, sound, video or font is not applicable, unless a program would open it as
    something else: under a text name (Excel shows a .csv whatever its first bytes), or with
    a zip directory at its end (a zip tool opens it)."""
    if _is_zip_at_end(data):
        return _zip_type(data)
    textual = sorted(TEXTUAL.intersection(hinted))
    if textual:
        problem = Unscannable(
            "ambiguous", f"{found.kind} content named or declared as {textual[0]}"
        )
        return FileType(found.kind, "other", problem)
    return found


def binary_type(data: bytes) -> FileType | None:
    """The type of a file with a binary signature, or None for text and unknown bytes."""
    if data[:1] not in _SIGNATURE_STARTS:
        # No signature at offset 0 starts with this byte (mail text mostly): only the
        # formats recognised further in remain.
        return _tar_or_lzh(data) or _media_type(data)
    if data.startswith(_ZIP):
        return _zip_type(data)
    if data.startswith(_OLE):
        return _ole_type(data)
    for magic, found in _SIGNATURES:
        if data.startswith(magic):
            return found
    for magic, kind in UNSUPPORTED_ARCHIVES.items():
        if data.startswith(magic):
            return _unsupported(kind)
    sealed = _sealed_type(data)
    if sealed is not None:
        return sealed
    for magic, kind in _EXECUTABLES.items():
        if data.startswith(magic):
            if _is_zip_at_end(data):
                return _zip_type(data)  # a self-extracting zip
            return FileType(kind, "other", Unscannable("unsupported", "executable program"))
    return _tar_or_lzh(data) or _media_type(data)


def _tar_or_lzh(data: bytes) -> FileType | None:
    if data[257:262] == b"ustar" or (len(data) >= 1024 and _is_old_tar(data)):
        return FileType("tar", "tar")
    if _LZH.match(data[:7]):
        return _unsupported("lzh")
    return None


def _media_type(data: bytes) -> FileType | None:
    for magic, kind in _MEDIA.items():
        if data.startswith(magic):
            return FileType(kind, "media")
    if data.startswith(b"RIFF") and data[8:12] in _RIFF_MEDIA:
        return FileType(_RIFF_MEDIA[data[8:12]], "media")
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        kind = "heic" if brand in (b"heic", b"heix", b"mif1", b"msf1") else "mp4"
        return FileType("avif" if brand == b"avif" else kind, "media")
    if data[:2] == b"BM" and len(data) >= 26 and int.from_bytes(data[2:6], "little") == len(data):
        return FileType("bmp", "media")
    if len(data) >= 4 and data[0] == 0xFF and data[1] & 0xF6 == 0xF2:  # MPEG audio, ADTS
        return FileType("mp3", "media")
    return None


def _sealed_type(data: bytes) -> FileType | None:
    """S/MIME (CMS) and encrypted OpenPGP messages, recognised by their structure."""
    if _is_cms(data):
        return FileType("pkcs7", "pkcs7")
    if pgp.starts_encrypted_message(data):
        return FileType("pgp", "pgp")
    return None


def _is_cms(data: bytes) -> bool:
    """A DER-encoded CMS (PKCS #7) ContentInfo: S/MIME signed, enveloped or compressed data."""
    if not data.startswith(b"\x30") or len(data) < 16:
        return False
    # The OID follows the SEQUENCE's tag and its length: 1 byte, 0x80 (indefinite, BER) or
    # 0x81-0x84 and up to four length bytes.
    return any(data.startswith(oid, start) for oid in _CMS_OIDS for start in range(2, 7))


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
    packaged = ooxml.CONTENT_TYPES.lower() in {ooxml.normalise(name) for name in names}
    if packaged and ooxml.is_office_package(archive):
        return _package_type(archive, lowered)
    return FileType("zip", "zip")


def _package_type(archive: zipfile.ZipFile, lowered: set[str]) -> FileType:
    """An OOXML package, typed by the content type of its main part (not by its paths); one
    whose structure is broken keeps the kind its paths suggest, with the problem."""
    try:
        _, _, kind = ooxml.open_package(archive)
    except Unscannable as problem:
        guess = _kind_from_paths(lowered)
        return FileType(guess, "workbook" if guess in WORKBOOKS else "document", problem)
    return FileType(kind, "workbook" if kind in WORKBOOKS else "document")


def _kind_from_paths(lowered: set[str]) -> str:
    names = {ooxml.normalise(name) for name in lowered}
    if "xl/workbook.bin" in names:
        return "xlsb"
    for prefix, kind in (("xl/", "xlsx"), ("word/", "docx"), ("ppt/", "pptx")):
        if any(name.startswith(prefix) for name in names):
            return kind
    return "ooxml"


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
    if "workbook" in streams or "book" in streams:
        if office_encrypted(data):
            problem = Unscannable("encrypted", "password-protected Office file")
            return FileType("xls", "workbook", problem)
        return FileType("xls", "workbook")
    if any(name.startswith("__substg1.0_") for name in streams):
        return FileType("msg", "msg")
    if streams & {"\x01ole10native", "package", "contents"} or _document_in_storage(streams):
        return FileType("ole", "ole-object")
    if "worddocument" in streams or "powerpoint document" in streams:
        kind = "doc" if "worddocument" in streams else "ppt"
        if office_encrypted(data):
            return FileType(
                kind, "legacy", Unscannable("encrypted", "password-protected Office file")
            )
        return FileType(kind, "legacy")
    return FileType("ole", "other", Unscannable("unsupported", "OLE file of no format we know"))


# Streams that make a storage inside an OLE file a document of its own (an embedded workbook).
_DOCUMENT_STREAMS = frozenset(
    {"workbook", "book", "worddocument", "powerpoint document", "package"}
)


def _document_in_storage(streams: set[str]) -> bool:
    return any(
        name.count("/") == 1 and name.rsplit("/", 1)[1] in _DOCUMENT_STREAMS for name in streams
    )


def office_encrypted(data: bytes) -> bool:
    """Whether msoffcrypto-tool finds this OLE Office file encrypted (False if it cannot tell)."""
    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception:
        return False


def looks_like_message(data: bytes, *, hinted: bool = False) -> bool:
    """Whether text starts with an RFC 5322 header block (an .eml, also one without a name)."""
    names = _header_names(data)
    if names is None:
        return False
    if hinted:
        return bool(names)
    known = names & _MESSAGE_HEADERS
    return len(known) >= 2 and bool(known & {"from", "mime-version", "received", "message-id"})


def is_mime_entity(data: bytes) -> bool:
    """Whether ``data`` starts with MIME headers (``Content-Type:``...): the content of an
    S/MIME structure, as opposed to a bare file someone signed."""
    names = _header_names(data) or set()
    return any(name.startswith("content-") or name == "mime-version" for name in names)


def _header_names(data: bytes) -> set[str] | None:
    """The lower-cased field names of the header block ``data`` starts with, or None when a
    line before the first empty one is not a header field."""
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
            return None
        names.add(line.split(b":", 1)[0].decode("ascii").lower())
    return names


def header_fields_only(data: bytes) -> bool:
    """Whether text is header fields and nothing else: blocks of fields, blank lines between
    (message/delivery-status, text/rfc822-headers). A body after them makes it a message."""
    if len(data) > _SNIFF_BYTES * 16:
        return False  # a megabyte of header fields is not a delivery report
    named = False
    for line in data.splitlines():
        if not line.strip():
            continue
        if line[:1] in (b" ", b"\t") and named:
            continue
        if not _HEADER_LINE.match(line):
            return False
        named = True
    return named


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
