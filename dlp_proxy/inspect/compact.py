"""Move the cells of a sparse sheet together before calamine sizes it from its farthest cells.

A sheet may declare or reach a huge area with few cells really present: one formatted or
filled cell at XFD1048576, a note far below a list, rows LibreOffice repeats to the end of the
sheet. calamine allocates the whole area between the farthest value cells (and aborts the
process when it cannot), so such a sheet is rewritten: used rows and columns keep their order,
and the gaps between them shrink to at most one empty row or column (two tables stay apart).
Cells with no value are dropped (calamine ignores them). Cells really present beyond the
limits are still refused.
"""

from __future__ import annotations

import io
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Final

from lxml import etree

from dlp_proxy.inspect import ooxml
from dlp_proxy.inspect.model import Unscannable

_BATCH: Final = 5000  # rows serialised at a time
_CELL_REF: Final = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_SHEET_DATA_START: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheetData(?=[\s/>])[^>]*?(/?)>")
_SHEET_DATA_END: Final = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>")


def mapping(used: Iterable[int]) -> dict[int, int]:
    """New indices for the used rows (or columns): in order, from the first one, with a gap
    of at most one between neighbours."""
    new: dict[int, int] = {}
    previous = current = -1
    for value in sorted(set(used)):
        current = value if previous < 0 else current + min(value - previous, 2)
        new[value] = current
        previous = value
    return new


def xlsx_sheet(data: bytes, *, label: str, max_cells: int) -> bytes:
    """An xlsx worksheet (or macro sheet) part with its value cells moved together.

    Positions follow calamine: a cell's own ``r``, else the next column of its row; a row's
    ``r``, else the row after the last one. Raises Unscannable("limit") when more than
    ``max_cells`` cells are present, or when they still span more once compacted.
    """
    start = _SHEET_DATA_START.search(data)
    if start is None or start.group(1):
        return data  # no cells at all
    ends = list(_SHEET_DATA_END.finditer(data, start.end()))
    if not ends:
        raise Unscannable("corrupt", f"{label}: sheetData is not closed")
    try:
        rows, columns, count = _positions(data)
    except etree.XMLSyntaxError as exc:
        raise Unscannable("corrupt", f"{label} is not well-formed XML ({exc.msg})") from None
    if count > max_cells:
        raise Unscannable("limit", f"{label} holds {count:,} cells (limit {max_cells:,})")
    row_map, column_map = mapping(rows), mapping(columns)
    if row_map and column_map:
        height = max(row_map.values()) - min(row_map.values()) + 1
        width = max(column_map.values()) - min(column_map.values()) + 1
        if height * width > max_cells:
            raise Unscannable(
                "limit",
                f"{label}: its {count:,} cells span {height:,} rows × {width:,} columns even "
                f"with the empty ones between them removed (limit {max_cells:,} cells)",
            )
    pieces = [data[: start.end()], *_rewritten_rows(data, row_map, column_map)]
    pieces.append(data[ends[-1].start() :])
    return b"".join(pieces)


def _parse(data: bytes) -> Iterator[tuple[str, etree._Element]]:
    return etree.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
    )


class _Cursor:
    """Where calamine puts the next cell: rows and columns counted as it counts them."""

    def __init__(self) -> None:
        self.row = 0
        self.column = 0

    def start_row(self, element: etree._Element) -> None:
        reference = element.get("r")
        if reference is not None:
            self.row = _number(reference, "row") - 1

    def end_row(self) -> None:
        self.row += 1
        self.column = 0

    def cell(self, element: etree._Element) -> tuple[int, int]:
        reference = element.get("r")
        if reference is None:
            position = (self.row, self.column)
        else:
            found = _CELL_REF.match(reference)
            if found is None:
                raise Unscannable("corrupt", "cell reference that is not a cell reference")
            position = (int(found.group(2)) - 1, column_number(found.group(1)) - 1)
        self.column = position[1] + 1
        return position


def _positions(data: bytes) -> tuple[set[int], set[int], int]:
    """The rows and columns of the cells that hold something, and how many such cells."""
    rows: set[int] = set()
    columns: set[int] = set()
    count = 0
    cursor = _Cursor()
    for event, element in _parse(data):
        name = ooxml.local_name(element)
        if event == "start":
            if name == "row":
                cursor.start_row(element)
            continue
        if name == "c":
            row, column = cursor.cell(element)
            if len(element):
                rows.add(row)
                columns.add(column)
                count += 1
            element.clear()
        elif name == "row":
            cursor.end_row()
            _drop(element)
    return rows, columns, count


def _rewritten_rows(
    data: bytes, row_map: dict[int, int], column_map: dict[int, int]
) -> list[bytes]:
    """The rows of the sheet again, each cell with a value at its new place, in batches."""
    pieces: list[bytes] = []
    cursor = _Cursor()
    batch: etree._Element | None = None
    count = 0
    for event, element in _parse(data):
        name = ooxml.local_name(element)
        if event == "start":
            if name == "row":
                cursor.start_row(element)
            elif name == "sheetData" and batch is None:
                batch = etree.Element(element.tag, nsmap=element.nsmap)
            continue
        if name != "row" or batch is None:
            continue
        kept: list[int] = []
        for cell in list(element):
            if ooxml.local_name(cell) != "c":
                continue
            row, column = cursor.cell(cell)
            if len(cell):
                cell.set("r", f"{column_letters(column_map[column] + 1)}{row_map[row] + 1}")
                kept.append(row_map[row])
            else:
                element.remove(cell)
        cursor.end_row()
        if kept:
            element.set("r", str(kept[0] + 1))
            batch.append(element)
            count += 1
        if count >= _BATCH:
            pieces.append(_inner(batch))
            batch = etree.Element(batch.tag, nsmap=batch.nsmap)
            count = 0
    if batch is not None and len(batch):
        pieces.append(_inner(batch))
    return pieces


def _inner(batch: etree._Element) -> bytes:
    """The serialised children of ``batch``, without its own tags (which declared their
    namespaces, as the sheet's root does in the part they go back into)."""
    text = etree.tostring(batch)
    return text[text.index(b">") + 1 : text.rindex(b"</")]


def _drop(element: etree._Element) -> None:
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 7:
        raise Unscannable("corrupt", f"{what} number that is not a number")
    return int(text)


def column_number(letters: str | bytes) -> int:
    """Spreadsheet column letters as a 1-based number (A -> 1, AA -> 27), any case."""
    text = letters.decode("ascii", "replace") if isinstance(letters, bytes) else letters
    number = 0
    for char in text.upper():
        number = number * 26 + ord(char) - 64
    return number


def column_letters(number: int) -> str:
    """A 1-based column number as spreadsheet letters (1 -> A, 27 -> AA)."""
    text = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        text = chr(65 + remainder) + text
    return text


# --- ODS: rows and cells are written once with a repeat count ---------------------------------

_ODS_TABLE_START: Final = re.compile(rb"<table:table(?=[\s>])[^>]*>")
_ODS_TABLE_END: Final = b"</table:table>"
_ODS_ROW: Final = re.compile(rb"<table:table-row(?=[\s/>])[^>]*?(/?)>")
_ODS_ROW_END: Final = b"</table:table-row>"
_ODS_CELL: Final = re.compile(rb"<table:(covered-)?table-cell(?=[\s/>])[^>]*?(/?)>")
_ROWS_REPEATED: Final = re.compile(rb"table:number-rows-repeated\s*=\s*[\"'](\d+)[\"']")
_COLUMNS_REPEATED: Final = re.compile(rb"table:number-columns-repeated\s*=\s*[\"'](\d+)[\"']")


class _Spans:
    """Used positions as sorted, merged [start, end) intervals, and where any position (used
    or not) goes once the gaps between them are shrunk to one."""

    def __init__(self, intervals: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [start for start, _ in merged]
        self.ends = [end for _, end in merged]
        self.new_starts: list[int] = []
        position = previous_end = 0
        for start, end in merged:
            position += min(start - previous_end, 1)
            self.new_starts.append(position)
            position += end - start
            previous_end = end

    def new(self, x: int) -> int:
        index = bisect_right(self.starts, x) - 1
        if index < 0:
            return min(x, 1)
        start, end = self.starts[index], self.ends[index]
        if x <= end:
            return self.new_starts[index] + x - start
        return self.new_starts[index] + end - start + min(x - end, 1)

    def span(self) -> int:
        return self.new(self.ends[-1]) - self.new(self.starts[0]) if self.starts else 0


def ods_content(content: bytes, *, max_cells: int, problems: list[Unscannable]) -> bytes:
    """content.xml of an ODS file with each table's value cells moved together: runs of empty
    rows and columns between them shrink to one. A table with more than ``max_cells`` cells
    present, or that still spans more once compacted, is emptied and goes into ``problems``
    ("limit"); the other tables are kept."""
    pieces: list[bytes] = []
    position = 0
    for number, table in enumerate(_ODS_TABLE_START.finditer(content), 1):
        end = content.find(_ODS_TABLE_END, table.end())
        if end < 0:
            break
        pieces.append(content[position : table.end()])
        try:
            label = f"table {number}"
            pieces.append(_ods_table(content, table.end(), end, label=label, max_cells=max_cells))
        except Unscannable as problem:
            problems.append(problem)
        position = end
    pieces.append(content[position:])
    return b"".join(pieces)


def _ods_rows(
    content: bytes, start: int, end: int
) -> Iterator[tuple[re.Match[bytes], int, list[tuple[re.Match[bytes], int, bool]], int]]:
    """(row tag, rows repeated, [(cell tag, columns repeated, has a value)], row end)."""
    position = start
    while True:
        row = _ODS_ROW.search(content, position, end)
        if row is None:
            return
        repeat = _repeat(_ROWS_REPEATED, row.group(0))
        if row.group(1):  # <table:table-row/>
            yield row, repeat, [], row.end()
            position = row.end()
            continue
        row_end = content.find(_ODS_ROW_END, row.end(), end)
        if row_end < 0:
            raise Unscannable("corrupt", "a table row is not closed")
        cells = []
        cell_position = row.end()
        while (cell := _ODS_CELL.search(content, cell_position, row_end)) is not None:
            columns = _repeat(_COLUMNS_REPEATED, cell.group(0))
            if cell.group(2):  # self-closing: no content
                value = b"value-type" in cell.group(0)
                cell_position = cell.end()
            else:
                close = b"</table:covered-table-cell>" if cell.group(1) else b"</table:table-cell>"
                cell_end = content.find(close, cell.end(), row_end)
                cell_end = row_end if cell_end < 0 else cell_end + len(close)
                value = b"value-type" in cell.group(0) or b"<" in content[cell.end() : cell_end]
                cell_position = cell_end
            cells.append((cell, columns, value))
        yield row, repeat, cells, row_end + len(_ODS_ROW_END)
        position = row_end + len(_ODS_ROW_END)


def _repeat(pattern: re.Pattern[bytes], tag: bytes) -> int:
    found = pattern.search(tag)
    return int(found.group(1)) if found else 1


def _ods_table(content: bytes, start: int, end: int, *, label: str, max_cells: int) -> bytes:
    rows: list[tuple[int, int]] = []
    columns: list[tuple[int, int]] = []
    present = row_index = 0
    for _, repeat, cells, _ in _ods_rows(content, start, end):
        column_index = 0
        used = False
        for _, width, value in cells:
            if value:
                columns.append((column_index, column_index + width))
                present += width * repeat
                used = True
            column_index += width
        if used:
            rows.append((row_index, row_index + repeat))
        if present > max_cells:
            raise Unscannable("limit", f"{label} holds over {max_cells:,} cells")
        row_index += repeat
    row_spans, column_spans = _Spans(rows), _Spans(columns)
    if row_spans.span() * column_spans.span() > max_cells:
        raise Unscannable(
            "limit",
            f"{label}: its {present:,} cells span {row_spans.span():,} rows × "
            f"{column_spans.span():,} columns even with the empty ones between them removed "
            f"(limit {max_cells:,} cells)",
        )
    pieces = []
    position = start
    row_index = 0
    for row, repeat, cells, row_end in _ods_rows(content, start, end):
        new_repeat = row_spans.new(row_index + repeat) - row_spans.new(row_index)
        row_index += repeat
        pieces.append(content[position : row.start()])
        position = row_end
        if new_repeat <= 0:
            continue
        pieces.append(_with_repeat(row.group(0), _ROWS_REPEATED, "rows", new_repeat))
        cell_position = row.end()
        column_index = 0
        for cell, width, _ in cells:
            new_width = column_spans.new(column_index + width) - column_spans.new(column_index)
            column_index += width
            pieces.append(content[cell_position : cell.start()])
            if new_width <= 0:
                cell_position = _after_cell(content, cell, row_end)
                continue
            pieces.append(_with_repeat(cell.group(0), _COLUMNS_REPEATED, "columns", new_width))
            cell_position = cell.end()
        pieces.append(content[cell_position:row_end])
    pieces.append(content[position:end])
    return b"".join(pieces)


def _after_cell(content: bytes, cell: re.Match[bytes], row_end: int) -> int:
    if cell.group(2):
        return cell.end()
    close = b"</table:covered-table-cell>" if cell.group(1) else b"</table:table-cell>"
    found = content.find(close, cell.end(), row_end)
    return row_end if found < 0 else found + len(close)


def _with_repeat(tag: bytes, pattern: re.Pattern[bytes], what: str, count: int) -> bytes:
    if pattern.search(tag):
        return pattern.sub(
            lambda m: m.group(0).replace(m.group(1), str(count).encode()), tag, count=1
        )
    if count == 1:
        return tag
    closing = 2 if tag.endswith(b"/>") else 1
    return tag[:-closing] + f' table:number-{what}-repeated="{count}"'.encode() + tag[-closing:]
