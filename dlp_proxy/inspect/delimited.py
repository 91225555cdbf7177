"""Decode CSV/TSV text of unknown encoding and split it into rows: never fails on bad text."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from typing import Final, Literal

from dlp_proxy.inspect.limits import DEFAULT_TABLE_LIMITS, TableLimits
from dlp_proxy.inspect.model import Sheet, Unscannable

_DELIMITERS: Final = (",", "\t", ";", "|")
SAMPLE: Final = 64 * 1024
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# When no encoding decodes cleanly, fewest errors wins, then this order. Western Excel
# exports are cp1252.
_CANDIDATES: Final = ("cp932", "euc_jp", "utf-8", "cp1252")
# A field as long as a whole table is still one field (the limits bound the text itself);
# csv's default of 131,072 characters would turn a long cell into an error.
csv.field_size_limit(2**31 - 1)
_LINE_ENDS: Final = re.compile(r"\r\n?")
_WINDOW_LINES: Final = 200  # the lines _best_delimiter looks at
_OVERLAP_LINES: Final = 20
_KEEP_ABOVE: Final = 5  # lines kept above a table found far down a text


def read_delimited(
    data: bytes, *, name: str, limits: TableLimits = DEFAULT_TABLE_LIMITS
) -> list[Sheet]:
    """Read CSV/TSV bytes into one sheet named ``name``.

    The encoding (BOM, UTF-8, cp932, EUC-JP, UTF-16) and the delimiter (comma, tab,
    semicolon, pipe) are detected; bytes that do not decode become U+FFFD and NUL bytes are
    dropped, so this never fails on bad text. Raises Unscannable("limit") beyond ``limits``.
    """
    if len(data) > limits.max_unpacked:
        raise Unscannable("limit", f"{len(data):,} bytes of text exceed {limits.max_unpacked:,}")
    try:
        return read_text_table(decode_text(data), name=name, limits=limits)
    except MemoryError:
        raise Unscannable("limit", "table too large to load in memory") from None


def read_text_table(
    text: str, *, name: str, limits: TableLimits = DEFAULT_TABLE_LIMITS
) -> list[Sheet]:
    """Read delimited text (already decoded: a document's or a body's) into one sheet."""
    if len(text) > limits.max_unpacked:
        raise Unscannable("limit", f"{len(text):,} characters of text exceed the limit")
    try:
        if "\r" in text:
            # Spreadsheet programs end a row at CR, LF or CRLF alike, and the relay sends a
            # bare CR on as CRLF: read every one as a line end (inside quotes it stays in
            # the cell, as a line break there).
            text = _LINE_ENDS.sub("\n", text)
        start = _table_start(text[:SAMPLE])
        if start is None and len(text) > SAMPLE:
            start = _table_start(text)  # a table far down a long text
        text = text[start or 0 :]
        rows = _parse(text, sniff_delimiter(text[:SAMPLE]), limits)
    except MemoryError:
        raise Unscannable("limit", "table too large to load in memory") from None
    return [Sheet(name=name, rows=rows)]


def looks_delimited(data: bytes, *, everywhere: bool = False) -> bool:
    """Say whether text holds a delimited table: 3+ consecutive lines with the same columns.

    Prose and signatures do not count; a pasted customer list (CSV or tab-separated, as
    copied from Excel) does, even with a greeting above and a signature below. Only the
    first 64 KiB are looked at unless ``everywhere`` (then the whole text, window by window).
    """
    sample = data[:SAMPLE]
    if not sample.strip():
        return False
    if not everywhere or len(data) <= SAMPLE:
        best = _best_delimiter(decode_text(_cut_at_newline(sample)))
        return best is not None and best[1] >= 3
    return has_table(decode_text(data))


def has_table(text: str) -> bool:
    """Whether decoded text holds a delimited table anywhere (window by window)."""
    if "\r" in text:
        text = _LINE_ENDS.sub("\n", text)
    return _table_start(text) is not None


def decode_text(data: bytes) -> str:
    """Decode text of unknown encoding; never raises.

    BOMs decide first; then UTF-8, EUC-JP and cp932 (Shift_JIS) are tried strictly on a sample
    cut at a newline, and failing those the encoding with the fewest undecodable bytes (cp1252
    for Western exports). We tried charset-normalizer: as fast, but wrong on short EUC-JP, on
    NEC symbols such as ① and ㈱, and on mostly-ASCII cp932 (docs/benchmarks.md). A file
    that mixes encodings is decoded line by line.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace").replace("\x00", "")
    if _looks_utf16(data[:4096]):
        encoding = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        return data.decode(encoding, errors="replace").replace("\x00", "")
    data = data.replace(b"\x00", b"")
    encoding = _guess_encoding(_cut_at_newline(data[:SAMPLE]))
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return _decode_lines(data, encoding)


def _looks_utf16(head: bytes) -> bool:
    if len(head) < 16:
        return False
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return max(even, odd) > len(head) // 4 and min(even, odd) < len(head) // 40


def _cut_at_newline(sample: bytes) -> bytes:
    cut = sample.rfind(b"\n")
    return sample[: cut + 1] if cut > 0 else sample


def _guess_encoding(sample: bytes) -> str:
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    # EUC-JP is the strictest: cp932 text carries lead bytes 0x81-0x9F that EUC-JP never
    # uses, and Latin-1 letters next to ASCII are not EUC-JP pairs. So test it first.
    for encoding in ("euc_jp", "cp932"):
        try:
            sample.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    errors = [
        (sample.decode(encoding, errors="replace").count("\ufffd"), order, encoding)
        for order, encoding in enumerate(_CANDIDATES)
    ]
    return min(errors)[2]


def _decode_lines(data: bytes, encoding: str) -> str:
    order = [encoding, *(e for e in _CANDIDATES if e != encoding)]
    lines = []
    for line in data.splitlines(keepends=True):
        for candidate in order:
            try:
                lines.append(line.decode(candidate))
                break
            except UnicodeDecodeError:
                continue
        else:
            lines.append(line.decode(encoding, errors="replace"))
    return "".join(lines)


def _table_start(text: str) -> int | None:
    """Where the lines that form the first table in ``text`` start, a few lines early, or
    None: windows of the lines ``_best_delimiter`` looks at, overlapping so that a table on a
    seam is seen. Title lines or prose above a table stay when they are few, so that a header
    line that splits differently stays in reach of the header search."""
    position = 0
    while position < len(text):
        end = position
        for _ in range(_WINDOW_LINES):
            end = text.find("\n", end) + 1
            if end == 0:
                end = len(text)
                break
        window = text[position:end]
        best = _best_delimiter(window) if any(d in window for d in _DELIMITERS) else None
        if best is not None and best[1] >= 3:
            return position + _run_offset(window, best[0])
        if end >= len(text):
            return None
        for _ in range(_WINDOW_LINES - _OVERLAP_LINES):  # step back a few lines
            position = text.find("\n", position) + 1
    return None


def _run_offset(window: str, delimiter: str) -> int:
    """The offset of the line ``_KEEP_ABOVE`` lines above the first of three consecutive
    lines that split alike in ``window``; 0 when that is near the top anyway."""
    offsets: list[int] = []
    counts: list[int] = []  # the counts of the last three non-blank lines
    offset = 0
    for line in window.splitlines(keepends=True):
        offsets.append(offset)
        offset += len(line)
        if line.strip():
            counts = [*counts[-2:], _count_outside_quotes(line, delimiter)]
            if len(counts) == 3 and counts[0] and len(set(counts)) == 1:
                first = len(offsets) - 3  # at least: blank lines may sit between
                return offsets[first - _KEEP_ABOVE] if first > _KEEP_ABOVE + 10 else 0
    return 0


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter with the longest run of lines that split into the same columns."""
    best = _best_delimiter(sample)
    return best[0] if best else ","


def _best_delimiter(sample: str) -> tuple[str, int] | None:
    lines = [line for line in sample.splitlines()[:_WINDOW_LINES] if line.strip()]
    best: tuple[int, int, str] | None = None
    for delimiter in _DELIMITERS:
        run = longest = 0
        previous = -1
        for line in lines:
            count = _count_outside_quotes(line, delimiter)
            if count and count == previous:
                run += 1
            else:
                run = 1 if count else 0
            previous = count
            longest = max(longest, run)
        minimum = 1 if delimiter == "\t" else 2
        usable = [line for line in lines if _count_outside_quotes(line, delimiter) >= minimum]
        if longest >= 2 and usable:
            score = (longest, len(usable), delimiter)
            if best is None or score[:2] > best[:2]:
                best = score
    return (best[2], best[0]) if best else None


def _count_outside_quotes(line: str, delimiter: str) -> int:
    if '"' not in line:
        return line.count(delimiter)
    return sum(part.count(delimiter) for part in line.split('"')[0::2])


def _parse(text: str, delimiter: str, limits: TableLimits) -> list[list[str]]:
    """Rows as a spreadsheet program would show them; where a quote that never closes puts
    later lines into one field, the reading without quoting is taken when it has more rows.
    Raises Unscannable("corrupt") when neither reading gets through the text."""
    rows = _read_rows(text, delimiter, csv.QUOTE_MINIMAL, limits)
    if rows is None or _quote_swallowed_lines(text, rows, delimiter):
        unquoted = _read_rows(text, delimiter, csv.QUOTE_NONE, limits)
        if unquoted is not None and (rows is None or len(unquoted) > len(rows)):
            rows = unquoted
    if rows is None:
        raise Unscannable("corrupt", "delimited text could not be split into rows")
    return rows


def _read_rows(
    text: str, delimiter: str, quoting: Literal[0, 3], limits: TableLimits
) -> list[list[str]] | None:
    reader = csv.reader(_lines(text), delimiter=delimiter, quoting=quoting, strict=False)
    rows: list[list[str]] = []
    cells = 0
    try:
        for row in reader:
            rows.append(row)
            cells += len(row)
            if len(rows) > limits.max_rows or cells > limits.max_cells:
                raise Unscannable(
                    "limit",
                    f"table exceeds {limits.max_rows:,} rows or {limits.max_cells:,} cells",
                )
    except csv.Error:
        return None
    return rows


def _lines(text: str) -> Iterator[str]:
    """Yield lines with their endings, one at a time (io.StringIO would copy the text as UCS-4)."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        stop = end if stop < 0 else stop + 1
        yield text[start:stop]
        start = stop


def _quote_swallowed_lines(text: str, rows: list[list[str]], delimiter: str) -> bool:
    """Whether some field holds lines that themselves split into fields: rows that a quote
    opened and never closed has swallowed (a quoted address over two lines does not)."""
    if len(rows) >= text.count("\n") - 1:
        return False  # every line is a row of its own
    for row in rows:
        for cell in row:
            if cell.count("\n") >= 2:
                lines = cell.split("\n")
                if sum(1 for line in lines if delimiter in line) >= 2:
                    return True
    return False
