"""Replace attachments by AES-256 zips (WinZip AE-2) that open with a separately sent password."""

from __future__ import annotations

import base64
import io
import secrets
import time
import unicodedata
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pyzipper

from dlp_proxy.actions import mimetree, rewrite
from dlp_proxy.inspect import mime

# Letters and digits without the look-alikes 0/O, 1/I/l: people type these from another channel.
UNAMBIGUOUS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
PASSWORD_LENGTHS = range(8, 257)
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10)}
)
_WINDOWS_FORBIDDEN = str.maketrans({char: "_" for char in '<>:"|?*'})
_NAME_BYTES = 240  # room for ".zip" under the 255-byte name limit of common file systems
# Lines stay within 78 characters: an encoded word of 42 bytes is 68 characters (RFC 2047
# allows 75), an RFC 2231 segment of 54 characters fits after " filename*0*=UTF-8''".
_WORD_BYTES = 42
_SEGMENT_CHARS = 54
_ATTRIBUTE_CHARS = "!#$&+-.^_`|~"  # RFC 2231 attribute-char beyond letters and digits


@dataclass(frozen=True, slots=True)
class EncryptedFile:
    """One attachment that now travels as a zip: sizes in bytes, before and after."""

    section: str
    filename: str
    zip_name: str
    size: int
    zip_size: int


def new_password(*, length: int = 16, alphabet: str = UNAMBIGUOUS) -> str:
    """A random password from ``secrets``: ``length`` characters drawn from ``alphabet``."""
    if isinstance(length, bool) or not isinstance(length, int) or length not in PASSWORD_LENGTHS:
        raise ValueError(
            f"password length must be {PASSWORD_LENGTHS.start}-{PASSWORD_LENGTHS.stop - 1}"
        )
    if not isinstance(alphabet, str) or len(set(alphabet)) < 10:
        raise ValueError("password alphabet needs at least 10 different characters")
    if len(set(alphabet)) != len(alphabet):
        raise ValueError("password alphabet repeats a character (that would bias the choice)")
    if not all("!" <= char <= "~" for char in alphabet):
        raise ValueError("password alphabet must be printable ASCII without spaces")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def safe_filename(name: str) -> str:
    """The name as given when it is safe to extract anywhere; else a cleaned one: no folders,
    no control or invisible formatting characters (bidi overrides), nothing Windows refuses."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))
    name = name.translate(_WINDOWS_FORBIDDEN).strip(" .")
    if name.split(".", 1)[0].strip().lower() in _WINDOWS_RESERVED:
        name = "_" + name
    if len(name.encode("utf-8")) > _NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > 16:
            stem, extension = name, ""
        keep = _NAME_BYTES - len(extension.encode("utf-8")) - 1
        stem = stem.encode("utf-8")[:keep].decode("utf-8", "ignore")
        name = f"{stem}.{extension}" if extension else stem
    return name or "attachment"


class _Utf8Name(pyzipper.zipfile_aes.AESZipInfo):  # type: ignore[misc]
    """A member whose name is always marked UTF-8 (general purpose bit 11), ASCII or not."""

    __slots__ = ()

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("utf-8"), int(self.flag_bits) | 0x800


def aes_zip(data: bytes, filename: str, password: str) -> bytes:
    """A zip holding ``data`` as one member named ``safe_filename(filename)``, AES-256 encrypted
    (WinZip AE-2); deflated unless it is compressed already."""
    if not password:
        raise ValueError("an empty password protects nothing")
    year, month, day, hour, minute, second = time.localtime()[:6]
    member = _Utf8Name(safe_filename(filename), (max(year, 1980), month, day, hour, minute, second))
    member.compress_type = pyzipper.ZIP_DEFLATED if _compressible(data) else pyzipper.ZIP_STORED
    member.external_attr = 0o644 << 16
    out = io.BytesIO()
    with pyzipper.AESZipFile(out, "w", compression=pyzipper.ZIP_DEFLATED) as archive:
        archive.setpassword(password.encode("utf-8"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        archive.writestr(member, data)
    return out.getvalue()


def _compressible(data: bytes) -> bool:
    """Whether deflating is worth its time: xlsx, docx, pdf, jpeg and zip are compressed
    already and would spend most of the encryption time in zlib for nothing."""
    sample = data[: 1 << 16]
    return len(zlib.compress(sample, 1)) < 0.95 * len(sample)


def encrypted_entity(data: bytes, filename: str, password: str) -> bytes:
    """A complete MIME entity (CRLF line endings) carrying ``<filename>.zip``."""
    return _entity(aes_zip(data, filename, password), safe_filename(filename) + ".zip")


def _entity(archive: bytes, zip_name: str) -> bytes:
    body = base64.encodebytes(archive).replace(b"\n", b"\r\n")  # 76-character lines
    return (
        b"Content-Type: application/zip;\r\n name=" + _quoted_name(zip_name) + b"\r\n"
        b"Content-Disposition: attachment;\r\n " + _filename_parameter(zip_name) + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n" + body
    )


def _quoted_name(name: str) -> bytes:
    """``"name"``; a non-ASCII name as RFC 2047 encoded words, which old Outlook reads."""
    if name.isascii():
        return b'"' + name.encode("ascii") + b'"'
    words = [
        b"=?UTF-8?B?" + base64.b64encode(chunk.encode("utf-8")) + b"?="
        for chunk in _chunks(name, _WORD_BYTES, lambda char: len(char.encode("utf-8")))
    ]
    return b'"' + b"\r\n ".join(words) + b'"'


def _filename_parameter(name: str) -> bytes:
    """``filename="..."``, or RFC 2231 ``filename*`` (with continuations when long)."""
    if name.isascii():
        return b'filename="' + name.encode("ascii") + b'"'
    segments = list(_chunks(name, _SEGMENT_CHARS, lambda char: len(_percent(char))))
    if len(segments) == 1:
        return b"filename*=UTF-8''" + _percent(name).encode("ascii")
    charset = ["UTF-8''"] + [""] * (len(segments) - 1)
    return b";\r\n ".join(
        f"filename*{index}*={prefix}{_percent(text)}".encode("ascii")
        for index, (prefix, text) in enumerate(zip(charset, segments, strict=True))
    )


def _percent(text: str) -> str:
    return quote(text, safe=_ATTRIBUTE_CHARS, encoding="utf-8")


def _chunks(text: str, limit: int, size: Callable[[str], int]) -> list[str]:
    """``text`` cut between characters into pieces whose summed ``size`` stays within limit."""
    pieces: list[str] = []
    current, used = "", 0
    for char in text:
        width = size(char)
        if current and used + width > limit:
            pieces.append(current)
            current, used = "", 0
        current += char
        used += width
    return [*pieces, current] if current else pieces


def encrypt_attachments(
    raw: bytes, sections: Sequence[str], password: str, *, filenames: Mapping[str, str]
) -> tuple[bytes, list[EncryptedFile]]:
    """Replace each listed leaf by a zip of its content under its file name (``filenames``,
    else the name in its header fields, else ``attachment-<section>``); the rest stays."""
    if len(set(sections)) != len(sections):
        raise ValueError("a section is listed twice")
    tree = mimetree.verified(raw)
    if not tree.rewritable:
        raise rewrite.NotRewritable(f"message structure: {tree.problem}")
    replacements: dict[str, bytes] = {}
    done: list[EncryptedFile] = []
    for section in sections:
        leaf = rewrite.target(tree, section)
        data = mimetree.content(raw, leaf)
        if data is None:
            raise rewrite.NotRewritable(f"part {section}: content cannot be decoded exactly")
        name = filenames.get(section) or mime.filename(leaf.header.headers)
        name = name or f"attachment-{section}"
        zip_name = safe_filename(name) + ".zip"
        archive = aes_zip(data, name, password)
        replacements[section] = _entity(archive, zip_name)
        done.append(EncryptedFile(section, name, zip_name, len(data), len(archive)))
    return rewrite.replace_in(raw, tree, replacements), done
