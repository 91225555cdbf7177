"""Find and decode data: URIs (RFC 2397, as browsers decode them) in attribute values and CSS."""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from dlp_proxy.inspect.model import Unscannable

# The name a decoded data: URI gets from its declared type; content decides what it is.
_EXTENSIONS = {
    "text/csv": ".csv",
    "text/comma-separated-values": ".csv",
    "application/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "text/plain": ".txt",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/xml": ".xml",
    "application/xml": ".xml",
    "image/svg+xml": ".svg",
    "application/rtf": ".rtf",
    "text/rtf": ".rtf",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/octet-stream": ".bin",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
}
_SCHEME = re.compile(r"data:", re.IGNORECASE)
# url(...) in CSS, quoted or not; only those holding a data: URI are wanted.
_CSS_URL = re.compile(
    r"""url\(\s*(?:"(\s*data:[^"]*)"|'(\s*data:[^']*)'|(\s*data:[^)'"\s]*))\s*\)""",
    re.IGNORECASE,
)
_LISTS = frozenset({"srcset", "imagesrcset"})  # URLs separated by whitespace and descriptors
_TOKEN = re.compile(r"data:[^\s\"'<>]+", re.IGNORECASE)
_URL_NOISE = re.compile(r"[\t\n\r]")  # URL parsers drop these anywhere in a URL
_WHITESPACE = re.compile(rb"[\t\n\f\r ]")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*")
_BASE64_SUFFIX = re.compile(r";\s*base64\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DataUri:
    """A decoded data: URI: its declared media type and charset, and its bytes."""

    media_type: str
    charset: str | None
    data: bytes


def in_attribute(value: str, *, name: str) -> Iterator[str]:
    """The data: URIs in one attribute value: a whole URL (href, src...), tokens of a srcset,
    or url() in an inline style."""
    if name.lower() == "style":
        yield from in_css(value)
        return
    stripped = _URL_NOISE.sub("", value.strip())
    if stripped[:5].lower() == "data:" and name.lower() not in _LISTS:
        yield stripped
        return
    for match in _TOKEN.finditer(value):
        yield match.group(0).rstrip(",")


def in_css(text: str) -> Iterator[str]:
    """The data: URIs in url() of a style sheet or an inline style."""
    if not _SCHEME.search(text):
        return
    for match in _CSS_URL.finditer(text):
        quoted = match.group(1) or match.group(2)
        uri = quoted if quoted is not None else match.group(3)
        yield _URL_NOISE.sub("", uri.strip())


def media_type(uri: str) -> str:
    """The declared media type of a data: URI (lower case), text/plain when none is given."""
    header = uri[5:].split(",", 1)[0]
    header = _BASE64_SUFFIX.sub("", header)
    declared = header.split(";", 1)[0].strip().lower()
    return declared if "/" in declared else "text/plain"


def file_name(uri: str, *, number: int) -> str:
    """``data-uri-N`` with the extension of the declared type: only a hint."""
    return f"data-uri-{number}{_EXTENSIONS.get(media_type(uri), '')}"


def decode(uri: str, *, cap: int) -> DataUri:
    """Decode a data: URI as the fetch standard does (percent-decoding, forgiving base64).

    Raises Unscannable: corrupt (no comma, base64 that does not decode), limit (the bytes
    would exceed ``cap``). The detail never quotes the URI's content.
    """
    if uri[:5].lower() != "data:":
        raise Unscannable("corrupt", "malformed data: URI (no data: scheme)")
    header, comma, body = uri[5:].partition(",")
    if not comma:
        raise Unscannable("corrupt", "malformed data: URI (no comma before the data)")
    is_base64 = bool(_BASE64_SUFFIX.search(header))
    if is_base64:
        header = _BASE64_SUFFIX.sub("", header)
    parts = header.split(";")
    declared = parts[0].strip().lower()
    kind = declared if "/" in declared else "text/plain"
    charset = None
    for parameter in parts[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"'):
            charset = value.strip().strip('"')
    estimate = len(body) * 3 // 4 if is_base64 else len(body)
    if estimate > cap:
        raise Unscannable("limit", f"data: URI of about {estimate:,} bytes, over {cap:,}")
    raw = urllib.parse.unquote_to_bytes(body)
    if is_base64:
        raw = _forgiving_base64(raw)
    elif charset is None and kind == "text/plain" and not declared:
        charset = "US-ASCII"
    return DataUri(media_type=kind, charset=charset, data=raw)


def _forgiving_base64(encoded: bytes) -> bytes:
    """WHATWG forgiving-base64 decode: whitespace ignored, padding optional, nothing else."""
    data = _WHITESPACE.sub(b"", encoded)
    if len(data) % 4 == 0 and data.endswith(b"="):
        data = data[:-2] if data.endswith(b"==") else data[:-1]
    if len(data) % 4 == 1 or _BASE64.fullmatch(data) is None:
        raise Unscannable("corrupt", "malformed data: URI (invalid base64)")
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except binascii.Error:
        raise Unscannable("corrupt", "malformed data: URI (invalid base64)") from None
