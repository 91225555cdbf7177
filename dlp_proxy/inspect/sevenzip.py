"""Open 7z archives (py7zr) under the message's Budget, as zip members are opened."""

from __future__ import annotations

import io
import lzma
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import py7zr
from py7zr import archiveinfo
from py7zr.exceptions import (
    ArchiveError,
    Bad7zFile,
    CrcError,
    DecompressionBombError,
    PasswordRequired,
    UnsupportedCompressionMethodError,
)
from py7zr.io import MemIO, Py7zIO, WriterFactory
from py7zr.properties import COMPRESSION_METHOD as METHOD
from py7zr.py7zr import ArchiveFile

from dlp_proxy.inspect.archives import RATIO_FLOOR, Budget, Member, clean_name, refusal
from dlp_proxy.inspect.model import Unscannable

# py7zr builds a Python object for every entry the header lists (about 800 bytes each) and
# decodes the whole header before we see one: a 40 KB archive naming a million empty files
# would cost 800 MB. It refuses archives past these two limits of its own, lowered here.
MAX_ENTRIES = 1 << 16
MAX_HEADER_BYTES = 32 << 20
archiveinfo.MAX_NUMFILES = MAX_ENTRIES
archiveinfo.MAX_HEADER_SIZE = MAX_HEADER_BYTES

# Coders whose output per step py7zr bounds by what it asks for (LZMA, LZMA2, BZip2, PPMd),
# or that never expand (copy, branch filters, delta). py7zr hands the others (Deflate,
# Deflate64, zstd...) a mebibyte of input at a time and keeps all they return: about a
# gigabyte from one step of a Deflate bomb. Those are not opened.
_BOUNDED = frozenset(
    {
        METHOD.COPY,
        METHOD.DELTA,
        METHOD.BCJ,
        METHOD.PPC,
        METHOD.IA64,
        METHOD.ARM,
        METHOD.ARMT,
        METHOD.SPARC,
        METHOD.P7Z_BCJ,
        METHOD.BCJ_PPC,
        METHOD.BCJ_IA64,
        METHOD.BCJ_ARM,
        METHOD.BCJ_ARMT,
        METHOD.BCJ_SPARC,
        METHOD.LZMA,
        METHOD.LZMA2,
        METHOD.PPMD,
        METHOD.MISC_BZIP2,
    }
)
_CIPHERS = frozenset({METHOD.CRYPT_AES256_SHA256, METHOD.CRYPT_ZIPCRYPT, METHOD.CRYPT_RAR29AES})
_NAMES = {
    METHOD.MISC_DEFLATE: "Deflate",
    METHOD.MISC_DEFLATE64: "Deflate64",
    METHOD.P7Z_BCJ2: "BCJ2",
    METHOD.MISC_ZSTD: "zstd",
    METHOD.MISC_BROTLI: "Brotli",
    METHOD.MISC_LZ4: "LZ4",
    METHOD.MISC_LZS: "LZ5",
    METHOD.MISC_LIZARD: "Lizard",
}
# The most working memory (LZMA dictionary, PPMd model) a block may ask its decoder for;
# 7-Zip's strongest presets ask 64 MiB (LZMA2) and 192 MiB (PPMd).
MAX_DECODER_MEMORY = 256 << 20
# Members are expanded a few solid blocks at a time, about this many bytes, then inspected.
_BATCH_BYTES = 16 << 20
# Damaged blocks tolerated before the rest of an archive is given up.
_MAX_DAMAGED_BLOCKS = 16
_PROBLEMS = (
    ArchiveError,
    PasswordRequired,
    lzma.LZMAError,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    NotImplementedError,
)


def seven_zip_members(data: bytes, budget: Budget) -> Iterator[Member]:
    """Yield the files of a 7z archive in header order, under the same limits as zip members.

    Raises ``Unscannable`` for the whole archive (unreadable or encrypted header, bomb-like
    declared expansion, a shared limit running out); per-member problems (encrypted,
    unsupported method, too big, corrupt block) come back as members with a ``problem``.
    """
    with _open(data) as archive:
        entries = [entry for entry in archive.files if _is_file(entry)]
        limits = budget.limits
        packed = _packed_sizes(archive)
        declared = sum(
            entry.uncompressed
            for entry in entries
            if refusal(limits, entry.uncompressed, _packed_share(packed, entry)) is None
        )
        if declared > RATIO_FLOOR and declared > len(data) * limits.max_ratio:
            raise Unscannable(
                "limit", f"declares {declared} bytes in {len(data)}, over {limits.max_ratio:g}x"
            )
        walk = _Walk(archive, budget, packed)
        stop: Unscannable | None = None
        for entry in entries:
            if walk.reserved >= _BATCH_BYTES and walk.at_block_end(entry):
                yield from walk.flush()
            try:
                walk.decide(entry)
            except Unscannable as exc:
                stop = exc
                break
        yield from walk.flush()
        if stop is not None:
            raise stop


def _open(data: bytes) -> py7zr.SevenZipFile:
    try:
        return py7zr.SevenZipFile(io.BytesIO(data), mode="r")
    except PasswordRequired:
        raise Unscannable("encrypted", "7z archive with encrypted names (-mhe)") from None
    except UnsupportedCompressionMethodError:
        raise Unscannable("unsupported", "7z header packed with a method py7zr lacks") from None
    except Bad7zFile as exc:
        if "exceeds limit" in str(exc):
            raise Unscannable(
                "limit", f"7z header lists over {MAX_ENTRIES} entries or {MAX_HEADER_BYTES} bytes"
            ) from None
        raise Unscannable("corrupt", "7z structure unreadable") from None
    except MemoryError:
        raise Unscannable("limit", "7z header too large to read") from None
    except _PROBLEMS as exc:
        raise Unscannable("corrupt", f"7z structure unreadable ({type(exc).__name__})") from None


def _is_file(entry: ArchiveFile) -> bool:
    return not (entry.is_directory or entry.is_symlink or entry.is_socket or entry.is_junction)


def _packed_sizes(archive: py7zr.SevenZipFile) -> dict[int, int]:
    """The packed bytes of each block (by ``id`` of its folder)."""
    streams = archive.header.main_streams
    if streams is None:
        return {}
    sizes: dict[int, int] = {}
    first = 0
    for folder in streams.unpackinfo.folders:
        count = len(folder.packed_indices)
        sizes[id(folder)] = sum(streams.packinfo.packsizes[first : first + count])
        first += count
    return sizes


def _packed_share(packed: dict[int, int], entry: ArchiveFile) -> int:
    """The packed bytes of the entry's block in proportion to its part of the block's output:
    every member of a solid block is judged by the block's ratio."""
    if entry.emptystream:
        return 0
    folder = entry.folder
    unpacked = folder.get_unpack_size() or 1
    return int(entry.uncompressed * packed.get(id(folder), 0) / unpacked)


def _coder_problem(folder: archiveinfo.Folder) -> Unscannable | None:
    """Why no member of this block is expanded: encrypted, a coder we do not run, or one that
    asks for more working memory than we allow."""
    methods = [coder["method"] for coder in folder.coders]
    if any(method in _CIPHERS for method in methods):
        return Unscannable("encrypted", "password-protected 7z member")
    for method in methods:
        if method not in _BOUNDED:
            name = _NAMES.get(method, f"0x{method.hex()}")
            return Unscannable("unsupported", f"7z compression method {name} is not opened")
    memory = max((_working_memory(coder) for coder in folder.coders), default=0)
    if memory > MAX_DECODER_MEMORY:
        return Unscannable(
            "limit",
            f"7z block asks for {memory} bytes of decoder memory, over {MAX_DECODER_MEMORY}",
        )
    return None


def _working_memory(coder: dict[str, object]) -> int:
    """The dictionary or model size a coder's properties ask the decoder to allocate."""
    properties = coder.get("properties")
    if not isinstance(properties, bytes):
        return 0
    method = coder["method"]
    if method in (METHOD.LZMA, METHOD.PPMD) and len(properties) >= 5:
        return int.from_bytes(properties[1:5], "little")
    if method == METHOD.LZMA2 and properties:
        bits = properties[0] & 0x3F
        return 0xFFFFFFFF if bits >= 40 else (2 | (bits & 1)) << (bits // 2 + 11)
    return 0


@dataclass
class _Buffer(Py7zIO):
    """Where py7zr writes one member; ``done`` once py7zr finished it (CRC checked)."""

    cap: int
    content: bytearray = field(default_factory=bytearray)
    done: bool = False

    def write(self, s: bytes | bytearray) -> int:
        if len(self.content) + len(s) > self.cap:
            raise Unscannable("limit", f"7z member expands past its declared {self.cap} bytes")
        self.content += s
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return bytes(self.content)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return len(self.content)

    def close(self) -> None:
        self.done = True


class _Into(WriterFactory):
    def __init__(self, buffer: _Buffer) -> None:
        self._buffer = buffer

    def create(self, filename: str) -> Py7zIO:
        return self._buffer


class _Walk:
    """Members decided one by one (budget taken, sizes checked), expanded a batch at a time."""

    def __init__(self, archive: py7zr.SevenZipFile, budget: Budget, packed: dict[int, int]) -> None:
        self.archive = archive
        self.budget = budget
        self.packed = packed
        self.pending: list[tuple[ArchiveFile, Unscannable | None]] = []
        self.reserved = 0
        self.damaged_blocks = 0
        # Blocks with a member left unexpanded for its size: later members of the block are
        # not expanded either, since py7zr would decode the refused one to reach them.
        self.cut: set[int] = set()

    def at_block_end(self, entry: ArchiveFile) -> bool:
        last = self.pending[-1][0] if self.pending else None
        return (
            last is None or last.emptystream or entry.emptystream or last.folder is not entry.folder
        )

    def decide(self, entry: ArchiveFile) -> None:
        self.budget.take_member()
        problem = None if entry.emptystream else self._problem(entry)
        self.pending.append((entry, problem))

    def _problem(self, entry: ArchiveFile) -> Unscannable | None:
        folder = entry.folder
        problem = _coder_problem(folder)
        if problem is not None:
            return problem
        if id(folder) in self.cut:
            return Unscannable(
                "limit", "not expanded: an earlier member of its solid block was refused"
            )
        refused = self.budget.refuse_size(entry.uncompressed, _packed_share(self.packed, entry))
        if refused is not None:
            self.cut.add(id(folder))
            return refused
        self.budget.spend(entry.uncompressed)  # reserved now, before anything is expanded
        self.reserved += entry.uncompressed
        return None

    def flush(self) -> Iterator[Member]:
        pending, self.pending, self.reserved = self.pending, [], 0
        buffers = {
            entry.id: _Buffer(entry.uncompressed)
            for entry, problem in pending
            if problem is None and not entry.emptystream
        }
        failed = self._expand(pending, buffers)
        for entry, problem in pending:
            name = clean_name(entry.filename)
            size = entry.uncompressed
            if problem is not None:
                yield Member(name, None, problem, size)
            elif entry.emptystream:
                yield Member(name, b"")
            elif buffers[entry.id].done:
                yield Member(name, bytes(buffers[entry.id].content))
            else:
                lost = failed.get(entry.id) or Unscannable("corrupt", "7z member not expanded")
                yield Member(name, None, lost, size)
            buffers.pop(entry.id, None)

    def _expand(
        self, pending: list[tuple[ArchiveFile, Unscannable | None]], buffers: dict[int, _Buffer]
    ) -> dict[int, Unscannable]:
        """Run py7zr over the batch; a damaged block costs its own members, then the rest of
        the batch is expanded again without it."""
        order = [entry for entry, _ in pending if entry.id in buffers]
        failed: dict[int, Unscannable] = {}
        while True:
            todo = [e for e in order if not buffers[e.id].done and e.id not in failed]
            if not todo:
                return failed
            self.archive.reset()
            worker = self.archive.worker
            for entry in todo:
                worker.register_filelike(entry.id, MemIO(str(entry.id), _Into(buffers[entry.id])))
            folders = {id(e.folder): e.folder for e in todo}
            worker.max_extract_size = sum(f.get_unpack_size() for f in folders.values())
            try:
                worker.extract(self.archive.fp, None, parallel=False)
                return failed
            except (Unscannable, MemoryError, *_PROBLEMS) as exc:
                problem = _extraction_problem(exc)
            broken = next(e for e in todo if not buffers[e.id].done).folder
            for entry in todo:
                if entry.folder is broken:
                    failed[entry.id] = problem
            self.damaged_blocks += 1
            if self.damaged_blocks >= _MAX_DAMAGED_BLOCKS:
                given_up = Unscannable("corrupt", "7z archive too damaged: rest not expanded")
                for entry in todo:
                    failed.setdefault(entry.id, given_up)
                return failed


def _extraction_problem(exc: BaseException) -> Unscannable:
    if isinstance(exc, Unscannable):
        return exc
    if isinstance(exc, MemoryError | DecompressionBombError):
        return Unscannable("limit", "7z member too large to expand in memory")
    if isinstance(exc, CrcError):
        return Unscannable("corrupt", "7z member fails its CRC check")
    if isinstance(exc, PasswordRequired):
        return Unscannable("encrypted", "password-protected 7z member")
    if isinstance(exc, UnsupportedCompressionMethodError):
        return Unscannable("unsupported", "7z compression method py7zr cannot decode")
    return Unscannable("corrupt", f"7z block unreadable ({type(exc).__name__})")
