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
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

import olefile

from dlp_proxy.inspect.limits import TableLimits, describe
from dlp_proxy.inspect.model import Unscannable

_SHEET_PART = re.compile(r"^xl/(?:worksheets|macrosheets|dialogsheets)/[^/]+\.xml$", re.IGNORECASE)
_XLSB_PART = re.compile(
    r"^xl/(?:(?:worksheets|macrosheets|dialogsheets)/[^/]+|sharedStrings)\.bin$", re.IGNORECASE
)
# A cell or row reference that could place a cell beyond column Z or row 99,999.
_FAR_REF = re.compile(rb'r="(?:[A-Z]{2,}|[A-Z]*\d{6,})')
_REF = re.compile(rb'\sr="([A-Z]{0,3})(\d{1,10})"')
_SST_COUNTS = re.compile(rb'\b(?:count|uniqueCount)="(\d+)"')
_ODS_CELL = re.compile(rb"<table:(?:covered-)?table-cell(?=[\s/>])([^>]*?)(/?)>")
_ODS_ROWS_REPEATED = re.compile(rb'number-rows-repeated="(\d+)"')
_ODS_COLS_REPEATED = re.compile(rb'number-columns-repeated="(\d+)"')
_CHUNK: Final = 4 << 20  # zipfile inflates 4 MiB reads faster than 1 MiB ones
_MAX_MEMBERS: Final = 10_000
_NEAR_AREA: Final = 26 * 99_999


def repack_zip(data: bytes, limits: TableLimits) -> Parts:
    """Check a zip container (xlsx/xlsm/xlsb/ods) and return it rewritten for calamine.

    calamine sizes a sheet from its farthest cell (one cell in XFD1048576 asks for 17 billion
    cells and aborts the process), preallocates shared strings from a declared count, and
    expands repeated ODS rows and columns. So each member is inflated here once, within
    limits, and looked at for those shapes. xlsx worksheets are then stored uncompressed, so
    that calamine does not inflate them again (which pays for much of the check). Other
    members keep their compressed bytes: those not inflated here have declared sizes within
    limits, and calamine reads no more than a member declares (one that lies fails to load).
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
    names = {m.filename for m in members}
    budget = _Budget(limits.max_unpacked)
    entries: list[_Entry] = []
    for member in members:
        if member.filename.endswith("/"):  # is_dir() fails on an empty name
            continue
        name = member.filename
        scanner = _scanner_for(name, names, limits)
        raw = None if scanner else _raw_member(data, member)
        if raw is not None:
            if name == "xl/sharedStrings.xml":
                _check_shared_strings(_head(archive, member), limits)
            entries.append(_Entry(name, member.compress_type, member.CRC, [raw], member.file_size))
            continue
        chunks = []
        for chunk in _inflate(archive, member, budget):
            if scanner:
                scanner.feed(chunk)
            chunks.append(chunk)
        if scanner:
            scanner.finish()
        # zipfile has checked the inflated bytes against member.CRC by now. calamine reads
        # stored xlsx worksheets faster than deflated ones, but other stored members slower.
        raw = None if _SHEET_PART.match(name) else _raw_member(data, member)
        if raw is None:
            entry = _Entry(name, zipfile.ZIP_STORED, member.CRC, chunks, member.file_size)
        else:
            entry = _Entry(name, member.compress_type, member.CRC, [raw], member.file_size)
        entries.append(entry)
    return _write_zip(entries)


def _scanner_for(name: str, names: set[str], limits: TableLimits) -> _Scanner | None:
    """The check a member needs before calamine reads it, if any."""
    if _SHEET_PART.match(name):
        return _SheetScanner(name, limits)
    if _XLSB_PART.match(name):
        return _XlsbScanner(name, limits)
    if name == "content.xml" and "mimetype" in names:
        return _OdsScanner(limits)
    return None


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    method: int
    crc: int
    chunks: list[bytes]  # the member's bytes as written (compressed or not)
    size: int  # uncompressed


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


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, size: int, name: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise Unscannable("limit", f"container unpacks to over {self.limit:,} bytes ({name})")


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

    def feed(self, chunk: bytes) -> None:
        if not self.far:
            joined = self.chunks[-1][-24:] + chunk[:24] if self.chunks else b""
            self.far = bool(_FAR_REF.search(chunk) or _FAR_REF.search(joined))
        self.chunks.append(chunk)

    def finish(self) -> None:
        chunks, self.chunks = self.chunks, []
        if not self.far or not chunks:
            return
        ends = chunks[0][: 1 << 20] + b"\n" + (chunks[-2][-64:] if len(chunks) > 1 else b"")
        rows, columns = _extent(ends + chunks[-1][-(1 << 20) :])
        self._check(rows, columns)
        beyond = _beyond(rows, columns)
        for i, chunk in enumerate(chunks):
            joined = chunks[i - 1][-24:] + chunk[:24] if i else b""
            if beyond.search(chunk) or beyond.search(joined):
                self._check(*_extent(b"".join(chunks)))
                return

    def _check(self, rows: int, columns: int) -> None:
        if rows * max(columns, 1) > self.max_cells:
            raise Unscannable(
                "limit",
                f"{self.name} has cells out to row {rows:,} and column {columns:,} "
                f"(limit {self.max_cells:,} cells)",
            )


def _extent(buffer: bytes) -> tuple[int, int]:
    """The farthest row and column that cell and row references in ``buffer`` name."""
    rows = columns = 0
    for letters, digits in _REF.findall(buffer):
        rows = max(rows, int(digits))
        if letters:
            columns = max(columns, _column_number(letters))
    return rows, columns


def _beyond(rows: int, columns: int) -> re.Pattern[bytes]:
    """A pattern for references past row ``rows`` or column ``columns``."""
    letters = (
        _greater(_column_letters(columns), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") if columns else "[A-Z]+"
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


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for byte in letters:
        number = number * 26 + byte - 64
    return number


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
    byte searches, and cell by cell only when a repeat comes before a value.
    """

    def __init__(self, limits: TableLimits) -> None:
        self.max_cells = limits.max_cells
        self.parts: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.parts.append(chunk)

    def finish(self) -> None:
        content = b"".join(self.parts)
        self.parts = []
        area = 0
        for table in re.split(rb"<table:table[\s>]", content)[1:]:
            area += _ods_table_area(table)
            if area > self.max_cells:
                raise Unscannable("limit", f"spreadsheet spans over {self.max_cells:,} cells")


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


# BIFF records (MS-XLS 2.3) that carry a cell: row in bytes 0-1, column in bytes 2-3.
_BIFF_CELLS: Final = frozenset({0x0006, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x00D6})
_BIFF_MULTI: Final = frozenset({0x00BD, 0x00BE})  # MulRk, MulBlank: last column at the end
_BIFF_BOF, _BIFF_DIMENSIONS, _BIFF_SST = 0x0809, 0x0200, 0x00FC


def check_xls(data: bytes, limits: TableLimits) -> None:
    """Bound what calamine will allocate for an xls file, as repack_zip does for zip containers.

    calamine sizes each sheet from its farthest cell (rows and columns are 16-bit, so up to
    4 billion cells), reserves what a DIMENSIONS record declares and preallocates the shared
    strings an SST record declares. olefile reads the container first: a damaged one is
    refused here rather than inside calamine.
    """
    try:
        with olefile.OleFileIO(data) as container:
            # (olefile takes str paths; its type stubs say bytes)
            names = [n for n in ("Workbook", "Book") if container.exists(n)]  # type: ignore[arg-type]
            if not names:
                raise Unscannable("corrupt", "OLE file without a Workbook stream")
            stream = container.openstream(names[0]).read()  # type: ignore[arg-type]
    except Unscannable:
        raise
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError...
        raise Unscannable("corrupt", f"unreadable OLE container: {describe(exc)}") from None
    if len(stream) > limits.max_unpacked:
        raise Unscannable("limit", f"workbook stream of {len(stream):,} bytes")
    for sheet, rows, columns in _biff_extents(stream):
        if rows * columns > limits.max_cells:
            raise Unscannable(
                "limit",
                f"xls {sheet} spans {rows:,} rows × {columns:,} columns "
                f"(limit {limits.max_cells:,} cells)",
            )


def _biff_extents(stream: bytes) -> Iterator[tuple[str, int, int]]:
    """Yield (what, rows, columns) bounds: per sheet substream, per DIMENSIONS and SST record."""
    unpack = struct.unpack_from
    position, end = 0, len(stream)
    rows = columns = 0
    substream = 0
    while position + 4 <= end:
        kind, size = unpack("<HH", stream, position)
        body = position + 4
        position = body + size
        if position > end:
            break
        if kind in _BIFF_CELLS and size >= 4:
            row, column = unpack("<HH", stream, body)
            rows, columns = max(rows, row + 1), max(columns, column + 1)
        elif kind in _BIFF_MULTI and size >= 6:
            row = unpack("<H", stream, body)[0]
            last = unpack("<H", stream, position - 2)[0]
            rows, columns = max(rows, row + 1), max(columns, last + 1)
        elif kind == _BIFF_BOF:
            yield f"sheet {substream}", rows, columns
            substream += 1
            rows = columns = 0
        elif kind == _BIFF_DIMENSIONS and size in (10, 14):
            if size == 14:
                first, last, first_col, last_col = unpack("<IIHH", stream, body)
            else:
                first, last, first_col, last_col = unpack("<HHHH", stream, body)
            if (last and last <= first) or (last_col and last_col <= first_col):
                yield "DIMENSIONS record", 1 << 32, 1  # calamine would underflow on it
            yield "DIMENSIONS record", max(last - first, 0), max(last_col - first_col, 0)
        elif kind == _BIFF_SST and size >= 8:
            count = unpack("<i", stream, body + 4)[0]
            yield "shared strings", count if count >= 0 else 1 << 32, 1
    yield f"sheet {substream}", rows, columns
