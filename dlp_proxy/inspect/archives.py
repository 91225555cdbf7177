"""Unpack zip, tar and gzip/bzip2/xz under limits on size, ratio, count, depth and time."""

from __future__ import annotations

import bz2
import io
import itertools
import lzma
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from dlp_proxy.inspect import charsets
from dlp_proxy.inspect.model import Unscannable

# Ratios are only judged above this size: a 10 KiB member that expands 500x is harmless.
RATIO_FLOOR = 1 << 20
_CHUNK = 1 << 16
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_UNICODE_PATH_EXTRA = 0x7075
_LOCAL_HEADER = 30
_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}


@dataclass(frozen=True, slots=True)
class Limits:
    """How far one inspection may unpack before the rest is reported as ``limit``, not read.

    Sizes are bytes after decompression; ``max_members`` and ``max_total_bytes`` count across
    every archive in one message, so nesting cannot multiply them.
    """

    max_depth: int = 5
    max_total_bytes: int = 256 << 20
    max_member_bytes: int = 128 << 20
    max_members: int = 10_000
    max_ratio: float = 250.0
    max_seconds: float | None = None


class Budget:
    """What is left of the limits while one message or file is inspected."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_total_bytes
        self.members_left = limits.max_members
        self._deadline = (
            None if limits.max_seconds is None else time.monotonic() + limits.max_seconds
        )
        self.exhausted: str | None = None

    def check(self) -> None:
        """Raise ``limit`` once any shared limit has run out (then for every later caller)."""
        deadline = self._deadline
        if self.exhausted is None and deadline is not None and time.monotonic() > deadline:
            self.exhausted = f"inspection took longer than {self.limits.max_seconds:g}s"
        if self.exhausted is not None:
            raise Unscannable("limit", self.exhausted)

    def take_member(self) -> None:
        self.check()
        if self.members_left <= 0:
            self.exhausted = f"more than {self.limits.max_members} archive members"
            raise Unscannable("limit", self.exhausted)
        self.members_left -= 1

    def cap(self) -> int:
        """The most one member may expand to now."""
        return min(self.limits.max_member_bytes, self.bytes_left)

    def spend(self, size: int) -> None:
        self.bytes_left -= size

    def refuse_size(self, declared: int, compressed: int) -> Unscannable | None:
        """Why a member with these declared sizes must not be expanded, or None; raises once
        the total budget cannot take it (then the rest of the walk stops too)."""
        refused = refusal(self.limits, declared, compressed)
        if refused is None and declared > self.bytes_left:
            self.exhausted = f"total expanded size over {self.limits.max_total_bytes} bytes"
            raise Unscannable("limit", self.exhausted)
        return refused


def refusal(limits: Limits, declared: int, compressed: int) -> Unscannable | None:
    """Why one member with these declared sizes must not be expanded, or None."""
    if declared > limits.max_member_bytes:
        return Unscannable("limit", f"expands to {declared} bytes, over {limits.max_member_bytes}")
    if declared > RATIO_FLOOR and declared > compressed * limits.max_ratio:
        ratio = declared / max(compressed, 1)
        return Unscannable("limit", f"compression ratio {ratio:.0f}x over {limits.max_ratio:g}x")
    return None


@dataclass(frozen=True, slots=True)
class Member:
    """One file inside an archive: its bytes, or why they were not read."""

    name: str
    data: bytes | None
    problem: Unscannable | None = None
    size: int = 0  # the declared size of a member that was not expanded


def open_zip(data: bytes) -> zipfile.ZipFile:
    """The zip in ``data``: Unscannable "unsupported" when it declares a newer format than
    zipfile reads, "corrupt" when its structure cannot be read."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except NotImplementedError as exc:
        raise Unscannable("unsupported", f"zip format: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise Unscannable("corrupt", f"zip structure unreadable ({exc})") from None


def zip_members(
    data: bytes, budget: Budget, *, only: Callable[[str], bool] | None = None
) -> Iterator[Member]:
    """Yield the files of a zip in directory order.

    Raises ``Unscannable`` for the whole archive (unreadable directory, overlapping members,
    bomb-like declared expansion, a shared limit running out); per-member problems (encrypted,
    too big, corrupt) come back as members with a ``problem``.
    """
    with open_zip(data) as archive:
        infos = [
            info
            for info in archive.infolist()
            # not is_dir(): it indexes the name, and a hostile zip may have an empty one
            if not info.filename.endswith("/") and (only is None or only(info.filename))
        ]
        _refuse_overlap(infos, len(data))
        # Members refused one by one are findings of their own; many small ones that each
        # pass but together expand too far make the whole archive a bomb.
        limits = budget.limits
        declared = sum(
            info.file_size
            for info in infos
            if refusal(limits, info.file_size, info.compress_size) is None
        )
        if declared > RATIO_FLOOR and declared > len(data) * limits.max_ratio:
            raise Unscannable(
                "limit", f"declares {declared} bytes in {len(data)}, over {limits.max_ratio:g}x"
            )
        for info in infos:
            budget.take_member()
            yield _zip_member(archive, info, budget)


def check_package(data: bytes, limits: Limits) -> None:
    """Refuse an OOXML/ODF workbook whose parts would expand like a bomb, before a reader
    streams through them: overlapping parts, a part over the ratio, or more than the total
    budget in all. Parts are streamed by the reader, not held, so the member cap is not used."""
    with open_zip(data) as archive:
        infos = archive.infolist()
    _refuse_overlap(infos, len(data))
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > info.compress_size * limits.max_ratio:
            ratio = info.file_size / max(info.compress_size, 1)
            raise Unscannable("limit", f"part {info.filename!r} compression ratio {ratio:.0f}x")
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise Unscannable("limit", f"parts expand to {total} bytes, over {limits.max_total_bytes}")


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> Member:
    name = member_name(info)
    size = info.file_size
    if info.flag_bits & _ENCRYPTED_FLAG:
        return Member(name, None, Unscannable("encrypted", "password-protected zip member"), size)
    refused = budget.refuse_size(info.file_size, info.compress_size)
    if refused is not None:
        return Member(name, None, refused, size)
    try:
        with archive.open(info) as stream:
            content = _read_capped(stream, budget.cap())
    except NotImplementedError:
        method = info.compress_type
        problem = Unscannable("unsupported", f"zip compression method {method}")
        return Member(name, None, problem, size)
    except Unscannable as exc:
        return Member(name, None, exc, size)
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
        return Member(name, None, Unscannable("corrupt", f"zip member unreadable ({exc})"), size)
    budget.spend(len(content))
    return Member(name, content)


def _refuse_overlap(infos: list[zipfile.ZipInfo], size: int) -> None:
    """Refuse zips whose members share bytes: the overlapping-file bomb (Fifield, 2019)."""
    spans = sorted((info.header_offset, info.compress_size) for info in infos)
    for (start, length), (next_start, _) in itertools.pairwise(spans):
        if next_start < start + _LOCAL_HEADER + length:
            raise Unscannable("limit", "zip members overlap (zip bomb)")
    if spans and spans[-1][0] + spans[-1][1] > size:
        raise Unscannable("corrupt", "zip member runs past the end of the file (truncated?)")


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_capped(stream: _Readable, cap: int) -> bytes:
    """Read a stream whole, refusing more than ``cap`` bytes: zipfile and tarfile stop at the
    declared size, which was checked against the cap, so a lying size cannot get past it."""
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise Unscannable("limit", f"expands past {cap} bytes")
    return data


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as its writer meant it: UTF-8 flag, Info-ZIP Unicode path, or the
    raw bytes guessed as UTF-8 or cp932 (Japanese Windows writes cp932 without any flag)."""
    if info.flag_bits & _UTF8_FLAG:
        return clean_name(info.filename)
    raw = info.orig_filename.encode("cp437")
    unicode_path = _unicode_path(info.extra, raw)
    return clean_name(unicode_path if unicode_path is not None else charsets.guess(raw))


def _unicode_path(extra: bytes, raw: bytes) -> str | None:
    offset = 0
    while offset + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if tag == _UNICODE_PATH_EXTRA and len(body) > 5 and body[0] == 1:
            (crc,) = struct.unpack_from("<I", body, 1)
            if crc == zlib.crc32(raw):
                return body[5:].decode("utf-8", errors="replace")
    return None


def clean_name(name: str) -> str:
    return name.replace("\x00", "").replace("\\", "/") or "(no name)"


def tar_members(data: bytes, budget: Budget) -> Iterator[Member]:
    """Yield the regular files of a tar archive, under the same limits as zip members."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise Unscannable("corrupt", f"tar structure unreadable ({exc})") from None
    with archive:
        while True:
            budget.check()
            try:
                info = archive.next()
            except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
                raise Unscannable("corrupt", f"tar header unreadable ({exc})") from None
            if info is None:
                return
            if not info.isfile():
                continue
            budget.take_member()
            name = clean_name(info.name)
            refused = budget.refuse_size(info.size, info.size)
            if refused is not None:
                yield Member(name, None, refused, info.size)
                continue
            stream = archive.extractfile(info)
            if stream is None:
                continue
            try:
                content = _read_capped(stream, budget.cap())
            except Unscannable as exc:
                yield Member(name, None, exc, info.size)
                continue
            except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
                problem = Unscannable("corrupt", f"tar member unreadable ({exc})")
                yield Member(name, None, problem, info.size)
                continue
            budget.spend(len(content))
            yield Member(name, content)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _decompressor(kind: str) -> _Decompressor:
    if kind == "gzip":
        return zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    if kind == "zlib":
        return zlib.decompressobj()
    if kind == "deflate":
        return zlib.decompressobj(wbits=-zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def decompress(data: bytes, kind: str, budget: Budget) -> bytes:
    """Expand a gzip, bzip2, xz, zlib or raw deflate stream (concatenated members too) a
    mebibyte at a time, so a bomb is stopped by its ratio after a few of them and never more
    than the cap is held."""
    cap = budget.cap()
    max_ratio = budget.limits.max_ratio
    out = bytearray()
    engine = _decompressor(kind)
    fed = consumed_before = 0
    carry = b""  # input zlib handed back unconsumed because the output limit was reached
    try:
        while True:
            if carry:
                chunk, carry = carry, b""
            elif getattr(engine, "needs_input", True):
                if fed >= len(data):
                    break
                chunk = data[fed : fed + _CHUNK]
                fed += len(chunk)
            else:
                chunk = b""
            out += engine.decompress(chunk, min(cap + 1 - len(out), RATIO_FLOOR))
            carry = getattr(engine, "unconsumed_tail", b"")
            consumed = consumed_before + fed - len(carry)
            if len(out) > cap:
                raise Unscannable("limit", f"{kind} stream expands past {cap} bytes")
            if len(out) > RATIO_FLOOR and len(out) > consumed * max_ratio:
                ratio = len(out) / max(consumed, 1)
                raise Unscannable(
                    "limit", f"{kind} compression ratio {ratio:.0f}x over {max_ratio:g}x"
                )
            if engine.eof:
                rest = (engine.unused_data + data[fed:]).lstrip(b"\x00")
                if kind not in _MAGIC or not rest.startswith(_MAGIC[kind]):
                    break  # trailing bytes that are not another stream: ignored, as gzip(1) does
                consumed_before, data, fed = consumed, rest, 0
                engine = _decompressor(kind)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise Unscannable("corrupt", f"{kind} stream unreadable ({exc})") from None
    if not engine.eof:
        raise Unscannable("corrupt", f"{kind} stream ends early (truncated?)")
    budget.spend(len(out))
    return bytes(out)
