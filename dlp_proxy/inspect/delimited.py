"""Decode CSV/TSV text of unknown encoding and split it into rows: never fails on bad text."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import Final, Literal

from dlp_proxy.inspect.limits import DEFAULT_TABLE_LIMITS, TableLimits
from dlp_proxy.inspect.model import Sheet, Unscannable

_DELIMITERS: Final = (",", "\t", ";", "|")
_SAMPLE: Final = 64 * 1024
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# When no encoding decodes cleanly, fewest errors wins, then this order. Western Excel
# exports are cp1252.
_CANDIDATES: Final = ("cp932", "euc_jp", "utf-8", "cp1252")


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
        text = decode_text(data)
        if "\n" not in text and "\r" in text:  # classic Mac line ends
            text = text.replace("\r", "\n")
        delimiter = sniff_delimiter(text[:_SAMPLE])
        rows = _parse(text, delimiter, limits)
    except MemoryError:
        raise Unscannable("limit", "table too large to load in memory") from None
    return [Sheet(name=name, rows=rows)]


def looks_delimited(data: bytes) -> bool:
    """Say whether text holds a delimited table: 3+ consecutive lines with the same columns.

    Prose and signatures do not count; a pasted customer list (CSV or tab-separated, as
    copied from Excel) does, even with a greeting above and a signature below.
    """
    sample = data[:_SAMPLE]
    if not sample.strip():
        return False
    text = decode_text(_cut_at_newline(sample))
    best = _best_delimiter(text)
    return best is not None and best[1] >= 3


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
    encoding = _guess_encoding(_cut_at_newline(data[:_SAMPLE]))
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


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter with the longest run of lines that split into the same columns."""
    best = _best_delimiter(sample)
    return best[0] if best else ","


def _best_delimiter(sample: str) -> tuple[str, int] | None:
    lines = [line for line in sample.splitlines()[:200] if line.strip()]
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
    rows = _read_rows(text, delimiter, csv.QUOTE_MINIMAL, limits)
    if rows is None or _quote_swallowed_lines(text, rows):
        # A stray quote can turn the rest of a file into one field; read it without quoting.
        unquoted = _read_rows(text, delimiter, csv.QUOTE_NONE, limits)
        if unquoted is not None and (rows is None or len(unquoted) > len(rows)):
            rows = unquoted
    return rows or []


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


def _quote_swallowed_lines(text: str, rows: list[list[str]]) -> bool:
    lines = text.count("\n")
    if lines < 10 or len(rows) >= lines * 0.9:
        return False
    return any(len(cell) > 2000 and cell.count("\n") > 20 for row in rows for cell in row)
