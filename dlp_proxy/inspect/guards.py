"""Check spreadsheet files before python-calamine reads them: it aborts the process on some.

calamine sizes a sheet from its farthest cell (one cell in XFD1048576 asks for 17 billion
cells), preallocates the shared strings a file declares and expands repeated ODS rows and
columns. A Rust allocation failure aborts the whole process, so these shapes are found here
first, within limits, and answered with Unscannable("limit").
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

import olefile
from lxml import etree

from dlp_proxy.inspect import compact, oleobjects, ooxml
from dlp_proxy.inspect.limits import TableLimits, describe
from dlp_proxy.inspect.model import Unscannable

# A cell start tag whose reference could place it beyond column Z or row 99,999, or whose
# first attribute is not its reference (no reference: calamine counts along the row). One
# search per chunk, anchored on "<c", finds either; rows need no search of their own (a row
# places only the cells in it).
_CELL_CHECK = re.compile(rb'<c(?: r="(?:[A-Z]{2,}|[A-Z]*\d{6,})|(?! r=)[\s>/])')
_IMPLICIT_CELL = re.compile(rb"<c(?! r=)[\s>/]")
# The main namespace bound to a prefix: cells may then be written <x:c>.
_PREFIXED_MAIN_NS = re.compile(
    rb"xmlns:[\w.-]+\s*=\s*[\"'][^\"']*(?:spreadsheetml/2006|ooxml/spreadsheetml)/main[\"']"
)
_REF = re.compile(rb'\sr="([A-Z]{0,3})(\d{1,10})"')
_SST_COUNTS = re.compile(rb'\b(?:count|uniqueCount)="(\d+)"')
_ODS_CELL = re.compile(rb"<table:(?:covered-)?table-cell(?=[\s/>])([^>]*?)(/?)>")
_ODS_ROWS_REPEATED = re.compile(rb'number-rows-repeated="(\d+)"')
_ODS_COLS_REPEATED = re.compile(rb'number-columns-repeated="(\d+)"')
_CHUNK: Final = 4 << 20  # zipfile inflates 4 MiB reads faster than 1 MiB ones
_MAX_MEMBERS: Final = 10_000
_NEAR_AREA: Final = 26 * 99_999


@dataclass(frozen=True, slots=True)
class Repacked:
    """A workbook container rewritten for calamine, and what could not go into it."""

    source: Parts
    # A problem per sheet that was replaced by an empty one (calamine reads the rest).
    problems: tuple[Unscannable, ...] = ()
    # The names of those sheets: their (empty) reading is not a reading.
    skipped: frozenset[str] = frozenset()


def repack_zip(data: bytes, limits: TableLimits) -> Repacked:
    """Check a zip container (xlsx/xlsm/xlsb/ods) and return it rewritten for calamine.

    calamine sizes a sheet from its farthest cell (one cell in XFD1048576 asks for 17 billion
    cells and aborts the process), preallocates shared strings from a declared count, and
    expands repeated ODS rows and columns. So each member is inflated here once, within
    limits, and looked at for those shapes. An OOXML workbook is rewritten with its parts at
    the paths calamine reads (found here through its relationships, wherever they are);
    worksheets are stored uncompressed, so that calamine does not inflate them again (which
    pays for much of the check). Other members keep their compressed bytes: those not
    inflated here have declared sizes within limits, and calamine reads no more than a member
    declares (one that lies fails to load).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise Unscannable("corrupt", f"not a readable zip container: {describe(exc)}") from None
    declared = sum(m.file_size for m in members)
    if declared > limits.max_unpacked:
        raise Unscannable("limit", f"container unpacks to {declared:,} bytes")
    if len(members) > _MAX_MEMBERS:
        raise Unscannable("limit", f"container holds {len(members):,} members")
    if any(ooxml.normalise(m.filename) == "mimetype" for m in members):
        problems: list[Unscannable] = []
        return Repacked(_repack_odf(data, archive, members, limits, problems), tuple(problems))
    return _repack_ooxml(data, archive, limits)


def _repack_odf(
    data: bytes,
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    limits: TableLimits,
    problems: list[Unscannable],
) -> Parts:
    """An ODS file as it is, with content.xml checked (and inflated once, and compacted when
    a table reaches over the limit); a table that cannot be read goes into ``problems``."""
    budget = _Budget(limits.max_unpacked)
    entries: list[_Entry] = []
    for member in members:
        if member.filename.endswith("/"):  # is_dir() fails on an empty name
            continue
        if member.filename != "content.xml":
            raw = _raw_member(data, member)
            if raw is not None:
                entries.append(_Entry.raw(member.filename, member, raw))
                continue
        scanner = _OdsScanner(limits, problems) if member.filename == "content.xml" else _Scanner()
        chunks = _checked(archive, member, budget, scanner)
        if isinstance(scanner, _OdsScanner) and scanner.compacted is not None:
            entries.append(_Entry.data(member.filename, scanner.compacted))
            continue
        raw = _raw_member(data, member)
        if raw is None:
            entries.append(_Entry.stored(member.filename, member, chunks))
        else:
            entries.append(_Entry.raw(member.filename, member, raw))
    return _write_zip(entries)


def _checked(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget, scanner: _Scanner
) -> list[bytes]:
    """A member inflated (within the budget) and fed to its check; its chunks."""
    chunks = []
    for chunk in _inflate(archive, member, budget):
        scanner.feed(chunk)
        chunks.append(chunk)
    scanner.finish()
    # zipfile has checked the inflated bytes against member.CRC by now.
    return chunks


_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CELL_SHEETS: Final = frozenset({"worksheet", "xlMacrosheet", "xlIntlMacrosheet"})
_CELLLESS_SHEETS: Final = frozenset({"chartsheet", "dialogsheet"})
_EMPTY_SHEET: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org'
    b'/spreadsheetml/2006/main"><sheetData/></worksheet>'
)
_CONTENT_TYPES_XML: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    b'"application/xml"/><Default Extension="bin" ContentType="application/octet-stream"/>'
    b"</Types>"
)


def _repack_ooxml(data: bytes, archive: zipfile.ZipFile, limits: TableLimits) -> Repacked:
    """An xlsx/xlsm/xlsb workbook rewritten with its parts where calamine looks for them.

    The parts are found as Excel finds them: the main part through ``_rels/.rels``, sheets,
    shared strings and styles through the workbook's relationships. A sheet that cannot be
    read (missing or outside the package, of an unknown kind, over a limit, damaged) is
    replaced by an empty one and reported; the other sheets are read.
    """
    package, main, kind = ooxml.open_package(archive)
    if kind not in ("xlsx", "xlsm", "xlsb"):
        raise Unscannable("unsupported", f"{kind} package read as a workbook")
    return _Rewrite(data, archive, package, limits, binary=kind == "xlsb").run(main)


class _Rewrite:
    """One OOXML workbook being rewritten at calamine's paths."""

    def __init__(
        self,
        data: bytes,
        archive: zipfile.ZipFile,
        package: ooxml.Package,
        limits: TableLimits,
        *,
        binary: bool,
    ) -> None:
        self.data = data
        self.archive = archive
        self.package = package
        self.limits = limits
        self.binary = binary
        self.suffix = ".bin" if binary else ".xml"
        self.budget = _Budget(limits.max_unpacked)
        self.entries: list[_Entry] = []
        self.problems: list[Unscannable] = []

    def run(self, main: str) -> Repacked:
        workbook = self.package.read(main, limit=self.limits.max_unpacked)
        self.budget.spend(len(workbook), main)
        relationships = self.package.relationships(main)
        book = f"xl/workbook{self.suffix}"
        self.entries += [
            _Entry.data("[Content_Types].xml", _CONTENT_TYPES_XML),
            _Entry.data("_rels/.rels", _relationships([("rId1", "officeDocument", book)])),
            _Entry.data(book, workbook),
        ]
        self._shared_parts(relationships)
        sheets = _xlsb_sheets(workbook) if self.binary else _xlsx_sheets(workbook, main)
        by_id = {r.id: r for r in relationships}
        stub = f"worksheets/empty{self.suffix}"
        targets: list[tuple[str, str, str]] = []
        skipped: set[str] = set()
        for number, (name, rid) in enumerate(sheets, 1):
            relationship = by_id.get(rid)
            try:
                targets.append(self._sheet(number, rid, relationship, stub))
            except _OverBudget:
                raise
            except Unscannable as exc:
                where = f" ({relationship.target})" if relationship and relationship.target else ""
                self.problems.append(Unscannable(exc.reason, f"{exc.detail}{where}"))
                skipped.add(name)
                targets.append((rid, "worksheet", stub))
        if any(target == stub for _, _, target in targets):
            empty = _EMPTY_XLSB_SHEET if self.binary else _EMPTY_SHEET
            self.entries.append(_Entry.data(f"xl/{stub}", empty))
        rels = f"xl/_rels/workbook{self.suffix}.rels"
        self.entries.append(_Entry.data(rels, _relationships(targets)))
        return Repacked(_write_zip(self.entries), tuple(self.problems), frozenset(skipped))

    def _shared_parts(self, relationships: list[ooxml.Relationship]) -> None:
        for role in ("sharedStrings", "styles"):
            found = {(r.target, r.problem) for r in relationships if r.kind == role}
            if len(found) > 1:
                raise Unscannable("ambiguous", f"the workbook declares {len(found)} {role} parts")
            if not found:
                continue
            ((target, problem),) = found
            if target is not None:
                self.entries.append(self._part(target, f"xl/{role}{self.suffix}"))
            elif role == "sharedStrings":
                raise Unscannable("corrupt", f"the shared strings relationship {problem}")
            else:
                self.problems.append(Unscannable("corrupt", f"the styles relationship {problem}"))

    def _sheet(
        self, number: int, rid: str, relationship: ooxml.Relationship | None, stub: str
    ) -> tuple[str, str, str]:
        """The relationship the rewritten workbook gets for one sheet (its part added)."""
        label = f"sheet {number}"
        if relationship is None:
            raise Unscannable("corrupt", f"{label} has no relationship {rid!r}")
        if relationship.target is None:
            raise Unscannable("corrupt", f"{label} {relationship.problem}")
        if relationship.kind in _CELLLESS_SHEETS:
            return (rid, relationship.kind, stub)
        if relationship.kind not in _CELL_SHEETS:
            raise Unscannable("unsupported", f"{label} is a sheet of kind {relationship.kind!r}")
        path = f"worksheets/sheet{number}{self.suffix}"
        self.entries.append(self._part(relationship.target, f"xl/{path}", label=label))
        return (rid, "worksheet", path)

    def _part(self, target: str, name: str, *, label: str = "") -> _Entry:
        """One part, checked as its role asks, under the name calamine reads it by."""
        member = self.package.info(target)
        if member is None:
            raise Unscannable("corrupt", f"part {target} is missing")
        sheet = "/worksheets/" in name
        scanner: _Scanner = _Scanner()
        if name.endswith(".bin") and (sheet or "sharedStrings" in name):
            scanner = _XlsbScanner(label or target, self.limits)
        elif sheet:
            scanner = _SheetScanner(label, self.limits)
        else:
            raw = _raw_member(self.data, member)
            if raw is not None:
                if name.endswith("sharedStrings.xml"):
                    _check_shared_strings(_head(self.archive, member), self.limits)
                return _Entry.raw(name, member, raw)
        chunks = _checked(self.archive, member, self.budget, scanner)
        if isinstance(scanner, _SheetScanner) and scanner.compacted is not None:
            return _Entry.data(name, scanner.compacted)
        if name.endswith("sharedStrings.xml") and chunks:
            _check_shared_strings(chunks[0][:4096], self.limits)
        # calamine reads stored xlsx worksheets faster than deflated ones, but other stored
        # members slower.
        raw = None if sheet and not self.binary else _raw_member(self.data, member)
        return _Entry.stored(name, member, chunks) if raw is None else _Entry.raw(name, member, raw)


def _relationships(targets: list[tuple[str, str, str]]) -> bytes:
    root = etree.Element(f"{{{_RELS_NS}}}Relationships", nsmap={None: _RELS_NS})
    for rid, kind, target in targets:
        element = etree.SubElement(root, f"{{{_RELS_NS}}}Relationship")
        element.set("Id", rid)
        element.set("Type", _REL + kind)
        element.set("Target", target)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _xlsx_sheets(workbook: bytes, name: str) -> list[tuple[str, str]]:
    """(name, relationship id) of each sheet in an xlsx workbook part, in order."""
    sheets = []
    for element in ooxml.parse(workbook, name).iter():
        if ooxml.local_name(element) != "sheet":
            continue
        rid = ""
        for key, value in element.attrib.items():
            if key.rsplit("}", 1)[-1] == "id":
                rid = value
        sheets.append((element.get("name") or "", rid))
    return sheets


def _xlsb_sheets(workbook: bytes) -> list[tuple[str, str]]:
    """(name, relationship id) of each sheet in an xlsb workbook part (BrtBundleSh records)."""
    sheets = []
    for kind, body in _xlsb_records(workbook):
        if kind != 0x009C or len(body) < 12:
            continue
        rid, position = _wide_string(body, 8)
        name, _ = _wide_string(body, position)
        sheets.append((name, rid))
    return sheets


def _wide_string(body: bytes, position: int) -> tuple[str, int]:
    """An XLWideString (32-bit length in characters, UTF-16) at ``position``; a null one is ""."""
    if position + 4 > len(body):
        return "", len(body)
    count = int.from_bytes(body[position : position + 4], "little")
    if count == 0xFFFFFFFF:
        return "", position + 4
    end = position + 4 + 2 * count
    return body[position + 4 : end].decode("utf-16-le", "replace"), end


def _xlsb_record(kind: int, body: bytes = b"") -> bytes:
    head = bytearray([(kind & 0x7F) | (0x80 if kind > 0x7F else 0)])
    if kind > 0x7F:
        head.append(kind >> 7)
    size = len(body)
    while True:
        byte, size = size & 0x7F, size >> 7
        head.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(head) + body


# BrtBeginSheet, BrtWsDim, BrtBeginSheetData, BrtEndSheetData, BrtEndSheet.
_EMPTY_XLSB_SHEET: Final = b"".join(
    _xlsb_record(kind, body)
    for kind, body in ((0x81, b""), (0x94, bytes(16)), (0x91, b""), (0x92, b""), (0x82, b""))
)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    method: int
    crc: int
    chunks: list[bytes]  # the member's bytes as written (compressed or not)
    size: int  # uncompressed

    @classmethod
    def raw(cls, name: str, member: zipfile.ZipInfo, raw: bytes) -> _Entry:
        """A member written with its original compressed bytes."""
        return cls(name, member.compress_type, member.CRC, [raw], member.file_size)

    @classmethod
    def stored(cls, name: str, member: zipfile.ZipInfo, chunks: list[bytes]) -> _Entry:
        """A member written uncompressed, from its inflated (CRC-checked) chunks."""
        return cls(name, zipfile.ZIP_STORED, member.CRC, chunks, member.file_size)

    @classmethod
    def data(cls, name: str, data: bytes) -> _Entry:
        """A member of our own making."""
        return cls(name, zipfile.ZIP_STORED, zlib.crc32(data), [data], len(data))


def _raw_member(data: bytes, member: zipfile.ZipInfo) -> bytes | None:
    """The member's compressed bytes as found in ``data``, if calamine can read that method."""
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    offset = member.header_offset
    name_length, extra_length = struct.unpack("<HH", data[offset + 26 : offset + 30])
    start = offset + 30 + name_length + extra_length
    raw = data[start : start + member.compress_size]
    return raw if len(raw) == member.compress_size else None


def _write_zip(entries: list[_Entry]) -> Parts:
    """Write a plain zip (no zip64: sizes stay below 4 GiB within our limits)."""
    parts: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    for entry in entries:
        name = entry.name.encode("utf-8")
        written = sum(map(len, entry.chunks))
        fields = (20, 0x800, entry.method, 0, 0x21, entry.crc, written, entry.size, len(name))
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name
        directory.append(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, offset) + name
        )
        parts.append(local)
        parts.extend(entry.chunks)
        offset += len(local) + written
    listing = b"".join(directory)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(listing), offset, 0
    )
    parts.extend((listing, end))
    return Parts(parts)


class Parts:
    """A file made of byte strings, read in place: calamine copies it whole anyway, so joining
    the parts first would only hold a third copy of every worksheet."""

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = [part for part in parts if part]
        self._starts = list(accumulate((len(part) for part in self._parts), initial=0))
        self._position = 0

    def __len__(self) -> int:
        return self._starts[-1]

    def close(self) -> None:
        """Let the parts go (calamine holds its own copy once it has opened the file)."""
        self._parts = []
        self._starts = [0]
        self._position = 0

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._position, len(self))[whence]
        self._position = min(max(base + offset, 0), len(self))
        return self._position

    def read(self, size: int = -1) -> bytes:
        end = len(self) if size < 0 else min(self._position + size, len(self))
        pieces = []
        index = bisect_right(self._starts, self._position) - 1
        while self._position < end:
            part, start = self._parts[index], self._starts[index]
            take = part[self._position - start : end - start]
            pieces.append(take)
            self._position += len(take)
            index += 1
        return b"".join(pieces)


class _OverBudget(Unscannable):
    """The container as a whole unpacks too far: no single part is to blame."""


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, size: int, name: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise _OverBudget("limit", f"container unpacks to over {self.limit:,} bytes ({name})")


def _inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget) -> Iterator[bytes]:
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                budget.spend(len(chunk), member.filename)
                yield chunk
    except Unscannable:
        raise
    except RuntimeError as exc:
        if "encrypted" in str(exc):
            raise Unscannable("encrypted", f"{member.filename}: encrypted zip member") from None
        raise Unscannable("corrupt", f"{member.filename}: {describe(exc)}") from None
    except Exception as exc:  # BadZipFile, zlib.error, EOFError... from a damaged stream
        raise Unscannable("corrupt", f"{member.filename}: {describe(exc)}") from None


class _Scanner:
    def feed(self, chunk: bytes) -> None:
        pass

    def finish(self) -> None:
        pass


class _SheetScanner(_Scanner):
    """Bound the area calamine will allocate for one xlsx sheet: farthest row × column.

    Most sheets have no reference beyond column Z or row 99,999; one search per chunk shows
    that. Otherwise the first and last megabyte give the extent of a well-formed sheet (rows
    come in order, the widest row usually first), and a second search for any reference beyond
    it confirms it. Only when that finds one is every reference read.
    """

    def __init__(self, name: str, limits: TableLimits) -> None:
        self.name = name
        self.max_cells = limits.max_cells
        self.far = limits.max_cells < _NEAR_AREA
        self.chunks: list[bytes] = []
        self.implicit = False
        # The sheet rewritten with its cells moved together, when it is sparse.
        self.compacted: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        if not self.implicit:
            joined = self.chunks[-1][-24:] + chunk[:24] if self.chunks else b""
            self._look(chunk)
            self._look(joined)
            # A prefix for the main namespace, on the root or further in.
            self.implicit |= bool(_PREFIXED_MAIN_NS.search(chunk))
        self.chunks.append(chunk)

    def _look(self, buffer: bytes) -> None:
        found = _CELL_CHECK.search(buffer)
        if found is None:
            return
        if found.group(0).startswith(b'<c r="'):
            self.far = True
            self.implicit = bool(_IMPLICIT_CELL.search(buffer, found.end()))
        else:
            # A cell without a reference (or not first: a writer we do not know) goes where
            # calamine's count along the row puts it: only a full read can tell where.
            self.implicit = True

    def finish(self) -> None:
        chunks = self.chunks
        if self.implicit and chunks:
            self._compact()
            return
        if not self.far or not chunks:
            self.chunks = []
            return
        size = sum(map(len, chunks))
        ends = chunks[0][: 1 << 20] + b"\n" + (chunks[-2][-64:] if len(chunks) > 1 else b"")
        rows, columns = _extent(ends + chunks[-1][-(1 << 20) :])
        if self._sparse(rows, columns, size):
            self._compact()
            return
        beyond = _beyond(rows, columns)
        for i, chunk in enumerate(chunks):
            joined = chunks[i - 1][-24:] + chunk[:24] if i else b""
            if beyond.search(chunk) or beyond.search(joined):
                if self._sparse(*_extent(b"".join(chunks)), size):
                    self._compact()
                break
        self.chunks = []

    def _sparse(self, rows: int, columns: int, size: int) -> bool:
        """Whether the area out to the farthest reference is over the limit, or larger than
        the cells the part is big enough to hold could fill (a cell takes 8 bytes at least)."""
        area = rows * max(columns, 1)
        return area > self.max_cells or area > _SPARSE_RATIO * max(size // 8, _SPARSE_FLOOR)

    def _compact(self) -> None:
        data = b"".join(self.chunks)
        self.chunks = []
        self.compacted = compact.xlsx_sheet(data, label=self.name, max_cells=self.max_cells)


def _extent(buffer: bytes) -> tuple[int, int]:
    """The farthest row and column that cell and row references in ``buffer`` name."""
    rows = columns = 0
    for letters, digits in _REF.findall(buffer):
        rows = max(rows, int(digits))
        if letters:
            columns = max(columns, compact.column_number(letters))
    return rows, columns


def _beyond(rows: int, columns: int) -> re.Pattern[bytes]:
    """A pattern for references past row ``rows`` or column ``columns``."""
    letters = (
        _greater(compact.column_letters(columns), "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if columns
        else "[A-Z]+"
    )
    digits = _greater(str(rows), "0123456789")
    return re.compile(f'r="(?:(?:{letters})\\d|[A-Z]{{0,3}}(?:{digits})")'.encode())


def _greater(text: str, alphabet: str) -> str:
    """Regex for strings over ``alphabet`` (no leading zeros) that sort after ``text``."""
    span = f"[{alphabet[0]}-{alphabet[-1]}]"
    parts = [f"{span}{{{len(text) + 1},}}"]
    for i, char in enumerate(text):
        higher = alphabet[alphabet.index(char) + 1 :]
        if higher:
            rest = len(text) - i - 1
            parts.append(f"{text[:i]}[{higher[0]}-{higher[-1]}]{span}{{{rest}}}")
    return "|".join(parts)


def _head(archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int = 4096) -> bytes:
    try:
        with archive.open(member) as stream:
            return stream.read(size)
    except Exception as exc:  # BadZipFile, zlib.error, RuntimeError (encrypted)...
        raise Unscannable("corrupt", f"{member.filename}: {describe(exc)}") from None


def _check_shared_strings(head: bytes, limits: TableLimits) -> None:
    """Refuse a shared-strings table that declares more entries than cells we accept."""
    start = head.find(b"<sst")
    end = head.find(b">", start)
    for count in _SST_COUNTS.findall(head[start:end] if start >= 0 else b""):
        if int(count) > limits.max_cells:
            raise Unscannable("limit", f"shared strings declare {int(count):,} entries")


class _XlsbScanner(_Scanner):
    """The same bounds for xlsb: walk the binary records of a sheet or the shared strings.

    A sheet's cells take their row from the last BrtRowHdr and their column from the cell
    record; BrtBeginSst declares the shared-string count calamine preallocates.
    """

    _CELLS = frozenset(range(0x02, 0x0B))  # the cell records calamine reads (MS-XLSB 2.4)

    def __init__(self, name: str, limits: TableLimits) -> None:
        self.name = name
        self.max_cells = limits.max_cells
        self.parts: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.parts.append(chunk)

    def finish(self) -> None:
        data = b"".join(self.parts)
        self.parts = []
        max_row = max_col = 0
        for kind, body in _xlsb_records(data):
            if kind == 0x0000 and len(body) >= 4:  # BrtRowHdr
                max_row = max(max_row, min(int.from_bytes(body[:4], "little"), 0x100000) + 1)
            elif kind in self._CELLS and len(body) >= 4:
                max_col = max(max_col, int.from_bytes(body[:4], "little") + 1)
            elif kind == 0x009F and len(body) >= 8:  # BrtBeginSst
                for count in (body[:4], body[4:8]):
                    if int.from_bytes(count, "little") > self.max_cells:
                        raise Unscannable("limit", f"{self.name} declares too many strings")
            if max_row * max_col > self.max_cells:
                raise Unscannable(
                    "limit",
                    f"{self.name} has cells out to row {max_row:,} and column {max_col:,} "
                    f"(limit {self.max_cells:,} cells)",
                )


def _xlsb_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (record type, body) from an xlsb part; a cut-off record ends the walk."""
    position, end = 0, len(data)
    while position < end:
        kind = data[position] & 0x7F
        if data[position] & 0x80:
            if position + 1 >= end:
                return
            kind |= (data[position + 1] & 0x7F) << 7
            position += 1
        position += 1
        size = shift = 0
        for _ in range(4):
            if position >= end:
                return
            byte = data[position]
            position += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        yield kind, data[position : position + size]
        position += size


class _OdsScanner(_Scanner):
    """Bound the cells calamine will expand from repeated rows and columns in content.xml.

    A table's extent is its last row with a value, times its widest such row (up to its last
    value). LibreOffice ends every row with thousands of repeated empty cells and every table
    with a million repeated empty rows; those are free. So rows are looked at one by one with
    byte searches, and cell by cell only when a repeat comes before a value. A table whose
    extent is over the limit has its value cells moved together (compact.ods_content).
    """

    def __init__(self, limits: TableLimits, problems: list[Unscannable]) -> None:
        self.max_cells = limits.max_cells
        self.parts: list[bytes] = []
        self.problems = problems
        self.compacted: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        self.parts.append(chunk)

    def finish(self) -> None:
        content = b"".join(self.parts)
        self.parts = []
        area = 0
        for table in re.split(rb"<table:table[\s>]", content)[1:]:
            area += _ods_table_area(table)
            if area > self.max_cells:
                self.compacted = compact.ods_content(
                    content, max_cells=self.max_cells, problems=self.problems
                )
                return


def _ods_table_area(table: bytes) -> int:
    used_rows = width = row = 0
    for piece in table.split(b"<table:table-row")[1:]:
        repeat = 1
        head_end = piece.find(b">")
        if piece.find(b"rows-repeated", 0, head_end) >= 0:
            found = _ODS_ROWS_REPEATED.search(piece, 0, head_end)
            repeat = int(found.group(1)) if found else 1
        last = max(piece.rfind(b"value-type"), piece.rfind(b"</table:table-cell>"))
        if last >= 0:
            if piece.find(b"number-columns-repeated", 0, last) >= 0:
                extent = _ods_row_extent(piece)
            else:
                extent = piece.count(b"<table:table-cell", 0, last) + piece.count(
                    b"<table:covered", 0, last
                )
            width = max(width, extent)
            used_rows = row + repeat
        row += repeat
    return used_rows * width


def _ods_row_extent(row: bytes) -> int:
    """Columns up to the last cell with a value, counting repeats (cell by cell)."""
    column = extent = 0
    for match in _ODS_CELL.finditer(row):
        attrs, closed = match.group(1), match.group(2)
        found = _ODS_COLS_REPEATED.search(attrs)
        count = int(found.group(1)) if found else 1
        column += count
        if b"value-type" in attrs or not closed:
            extent = column
    return extent


# BIFF records (MS-XLS 2.3) that carry a value calamine reads: row in bytes 0-1, column in 2-3.
_BIFF_VALUES: Final = frozenset({0x0006, 0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x00D6})
_BIFF_MULRK: Final = 0x00BD  # first column after the row, last column at the end
_BIFF_BOF, _BIFF_EOF, _BIFF_DIMENSIONS, _BIFF_SST = 0x0809, 0x000A, 0x0200, 0x00FC
_BIFF_IGNORED: Final = 0x0000  # a record type no sheet substream has (BIFF2's DIMENSIONS)
# A sheet whose value cells span more than this many times their number (and at least
# _SPARSE_FLOOR cells) is compacted before calamine sizes it.
_SPARSE_RATIO: Final = 4
_SPARSE_FLOOR: Final = 1 << 16


def check_xls(
    data: bytes, limits: TableLimits, *, damage: Callable[[Unscannable], None] | None = None
) -> bytes:
    """Bound what calamine will allocate for an xls file, as repack_zip does for zip containers;
    the file to give calamine (``data`` itself, or a copy with sheets made compact).

    calamine sizes each sheet (and a second grid of its formulas) from the area between its
    farthest value cells, reserves what a DIMENSIONS record declares, and preallocates the
    shared strings an SST record declares. A sheet whose few cells lie far apart (a note at
    IV65536, a handful of formulas in opposite corners: 6 KB of file, 650 MB in calamine) has
    its cells moved together, the gaps between used rows and columns shrunk to one; a
    DIMENSIONS record declaring more than the cells span is set to their span. Cells really
    present beyond the limits are refused: with ``damage``, that sheet is reported and its
    cells hidden from calamine, and the other sheets are read. olefile reads the container
    first: a damaged one is refused here rather than inside calamine.
    """
    try:
        with olefile.OleFileIO(data) as container:
            # (olefile takes str paths; its type stubs say bytes)
            names = [n for n in ("Workbook", "Book") if container.exists(n)]  # type: ignore[arg-type]
            if not names:
                raise Unscannable("corrupt", "OLE file without a Workbook stream")
            stream = container.openstream(names[0]).read()  # type: ignore[arg-type]
            data = _only_workbook(data, container, names[0])
    except Unscannable:
        raise
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError...
        raise Unscannable("corrupt", f"unreadable OLE container: {describe(exc)}") from None
    if len(stream) > limits.max_unpacked:
        raise Unscannable("limit", f"workbook stream of {len(stream):,} bytes")
    patched = bytearray(stream)
    changed = False
    for number, sheet in enumerate(_biff_sheets(stream)):
        try:
            changed |= sheet.settle(patched, limits, f"xls sheet {number}")
        except Unscannable as problem:
            if damage is None:
                raise
            damage(problem)
            sheet.hide(patched)
            changed = True
    for position, size in _records(stream, _BIFF_SST):
        count = struct.unpack_from("<i", stream, position + 4)[0] if size >= 8 else 0
        if count < 0 or count > limits.max_cells:
            raise Unscannable("limit", f"xls shared strings declare {count:,} entries")
    if not changed:
        return data
    return _replace_stream(data, names[0], bytes(patched))


def _only_workbook(data: bytes, container: Any, name: str) -> bytes:
    """``data``, or a copy in which no directory entry but the root's workbook stream has a
    workbook stream's name: calamine takes the first entry of the directory with one of those
    names, wherever it is (an embedded workbook in an MBD storage may come first), while
    Excel, olefile and this check read the root's."""
    ole = container  # olefile's stubs leave out the directory fields
    keep = ole._find(name)
    offsets = oleobjects.directory_offsets(ole)
    copy = bytearray(data)
    for index, offset in enumerate(offsets):
        if index != keep and offset + 64 <= len(copy):
            oleobjects.hide_workbook_name(copy, offset)
    return data if copy == data else bytes(copy)


def _replace_stream(data: bytes, name: str, stream: bytes) -> bytes:
    """A copy of compound file ``data`` with stream ``name`` overwritten (same size)."""
    buffer = io.BytesIO(data)
    with olefile.OleFileIO(buffer, write_mode=True) as container:
        container.write_stream(name, stream)
    return buffer.getvalue()


def _records(stream: bytes, wanted: int) -> Iterator[tuple[int, int]]:
    for kind, body, size in _biff_records(stream):
        if kind == wanted:
            yield body, size


def _biff_records(stream: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, body offset, body size) of each BIFF record; a cut-off record ends the walk."""
    unpack = struct.unpack_from
    position, end = 0, len(stream)
    while position + 4 <= end:
        kind, size = unpack("<HH", stream, position)
        body = position + 4
        position = body + size
        if position > end:
            return
        yield kind, body, size


@dataclass
class _BiffSheet:
    """The value cells and DIMENSIONS records of one sheet substream (nested ones skipped)."""

    cells: list[tuple[int, int, int]]  # (record type, body offset, body size)
    dimensions: list[tuple[int, int]]  # (body offset, body size)

    def positions(self, stream: bytes | bytearray) -> Iterator[tuple[int, int]]:
        unpack = struct.unpack_from
        for kind, body, size in self.cells:
            row, column = unpack("<HH", stream, body)
            yield row, column
            if kind == _BIFF_MULRK and size >= 6:
                yield row, unpack("<H", stream, body + size - 2)[0]

    def settle(self, stream: bytearray, limits: TableLimits, label: str) -> bool:
        """Compact the sheet if sparse and set DIMENSIONS to its span; whether bytes changed."""
        if not self.cells:
            return self._set_dimensions(stream, None)
        rows, columns = zip(*self.positions(stream), strict=True)
        count = len(self.cells)
        if count > limits.max_cells:
            raise Unscannable("limit", f"{label} holds {count:,} cells")
        area = _span(rows) * _span(columns)
        changed = False
        if area > max(_SPARSE_RATIO * count, _SPARSE_FLOOR):
            row_map, column_map = compact.mapping(rows), compact.mapping(columns)
            for kind, body, size in self.cells:
                row, column = struct.unpack_from("<HH", stream, body)
                struct.pack_into("<HH", stream, body, row_map[row], column_map[column])
                if kind == _BIFF_MULRK and size >= 6:
                    last = struct.unpack_from("<H", stream, body + size - 2)[0]
                    struct.pack_into("<H", stream, body + size - 2, column_map[last])
            rows = tuple(row_map[r] for r in rows)
            columns = tuple(column_map[c] for c in columns)
            area = _span(rows) * _span(columns)
            changed = True
        if area > limits.max_cells:
            raise Unscannable(
                "limit",
                f"{label} spans {_span(rows):,} rows × {_span(columns):,} columns "
                f"(limit {limits.max_cells:,} cells)",
            )
        extent = (min(rows), max(rows) + 1, min(columns), max(columns) + 1)
        return self._set_dimensions(stream, extent) or changed

    def hide(self, stream: bytearray) -> None:
        """Turn the sheet's value records into records calamine skips: it reads as empty."""
        for _, body, _ in self.cells:
            struct.pack_into("<H", stream, body - 4, _BIFF_IGNORED)
        self._set_dimensions(stream, None)

    def _set_dimensions(self, stream: bytearray, extent: tuple[int, int, int, int] | None) -> bool:
        """Make each DIMENSIONS record declare no more than the cells span (an empty sheet:
        nothing); whether one changed."""
        first_row, last_row, first_column, last_column = extent or (0, 0, 0, 0)
        span = (last_row - first_row) * (last_column - first_column)
        changed = False
        for body, size in self.dimensions:
            if size == 14:
                declared = struct.unpack_from("<IIHH", stream, body)
            elif size == 10:
                declared = struct.unpack_from("<HHHH", stream, body)
            else:
                continue
            rf, rl, cf, cl = declared
            inverted = (rl and rl <= rf) or (cl and cl <= cf) or cf > 0xFF
            if not inverted and (rl - rf) * (cl - cf) <= span + _SPARSE_FLOOR:
                continue
            fields = (first_row, last_row, first_column, last_column)
            struct.pack_into("<IIHH" if size == 14 else "<HHHH", stream, body, *fields)
            changed = True
        return changed


def _span(values: tuple[int, ...]) -> int:
    return max(values) - min(values) + 1


def _biff_sheets(stream: bytes) -> Iterator[_BiffSheet]:
    """Each substream of a workbook stream (the globals first), as calamine reads it: records
    of substreams nested inside a sheet (embedded charts) are not the sheet's."""
    depth = 0
    sheet = _BiffSheet([], [])
    for kind, body, size in _biff_records(stream):
        if kind == _BIFF_BOF:
            depth += 1
            if depth == 1:
                sheet = _BiffSheet([], [])
        elif kind == _BIFF_EOF:
            depth -= 1
            if depth == 0:
                yield sheet
            depth = max(depth, 0)
        elif depth == 1:
            if (kind in _BIFF_VALUES and size >= 4) or (kind == _BIFF_MULRK and size >= 6):
                sheet.cells.append((kind, body, size))
            elif kind == _BIFF_DIMENSIONS:
                sheet.dimensions.append((body, size))
    if depth:
        yield sheet  # a stream cut before its last EOF: what was there still counts
