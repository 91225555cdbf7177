"""Read XML without trusting it: SpreadsheetML 2003 workbooks as sheets, other XML as lines."""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from lxml import etree

from dlp_proxy.inspect.limits import DEFAULT_TABLE_LIMITS, TableLimits
from dlp_proxy.inspect.markup import as_utf8
from dlp_proxy.inspect.model import Sheet, Unscannable

SPREADSHEET = "urn:schemas-microsoft-com:office:spreadsheet"
EXCEL = "urn:schemas-microsoft-com:office:excel"
XHTML = "http://www.w3.org/1999/xhtml"
MAX_COLUMNS = 16384  # Excel's last column
_CHECK_EVERY = 2048
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)""", re.I)
_SPACES = re.compile(r"\s+")
_HIDDEN = frozenset({"SheetHidden", "SheetVeryHidden"})
_LOCAL_NAMES: dict[str, str] = {}  # "{namespace}name" -> "name"
_WORKBOOK = f"{{{SPREADSHEET}}}Workbook"
_WORKSHEET = f"{{{SPREADSHEET}}}Worksheet"
_ROW = f"{{{SPREADSHEET}}}Row"
_CELL = f"{{{SPREADSHEET}}}Cell"
_DATA = f"{{{SPREADSHEET}}}Data"
_VISIBLE = f"{{{EXCEL}}}Visible"


@dataclass(slots=True)
class XmlContent:
    """What an XML file holds: the sheets of a SpreadsheetML workbook; or, for other XML,
    the runs of record-like elements as tables and the rest of the text as lines."""

    sheets: list[Sheet] | None = None
    text: str = ""
    records: list[Sheet] = field(default_factory=list)  # runs of record elements, as tables
    xhtml: bool = False  # the root is <html>: read it as HTML
    problem: Unscannable | None = None  # where the parser stopped, or what it did not expand


def read_xml(
    data: bytes,
    *,
    check: Callable[[], None] = lambda: None,
    limits: TableLimits = DEFAULT_TABLE_LIMITS,
) -> XmlContent:
    """Read XML bytes with no entity expansion, no DTD loading, no network and libxml2's
    bounds (256 levels of nesting, entity amplification); the tree is cleared as it is read,
    so memory follows the text. Raises Unscannable: limit (over ``limits``), corrupt (no
    document). Damage after a readable start (a truncated file, a tag left open) is
    ``problem``, with what came before it read."""
    if len(data) > limits.max_unpacked:
        raise Unscannable("limit", f"XML of {len(data):,} bytes, over {limits.max_unpacked:,}")
    head = _XML_ENCODING.search(data[:1024])
    source = as_utf8(data, declared=head.group(1).decode("ascii") if head else None)
    events = etree.iterparse(
        io.BytesIO(source),
        events=("start", "end"),
        encoding="utf-8",
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    content = XmlContent()
    entities = [0]  # entity references left in element content, unexpanded
    try:
        first = next(events, None)
        if first is not None:
            root = first[1]
            if _local(root.tag) == "html" and _namespace(str(root.tag)) in ("", XHTML):
                content.xhtml = True
                return content
            if root.tag == _WORKBOOK:
                content.sheets = _workbook(events, check, limits, entities)
            else:
                content.text, content.records = _lines(root, events, check, entities)
    except etree.LxmlError as exc:
        raise Unscannable("corrupt", f"XML unreadable ({type(exc).__name__})") from None
    content.problem = _problem(events.error_log, first is None)
    if content.problem is None and entities[0]:
        content.problem = Unscannable(
            "unsupported", f"{entities[0]:,} XML entity reference(s) not expanded: text unread"
        )
    return content


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < 4096:
            _LOCAL_NAMES[tag] = name
    return name


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _problem(log: etree._ListErrorLog, empty: bool) -> Unscannable | None:
    for error in log.filter_from_fatals():
        if error.type_name == "ERR_RESOURCE_LIMIT":
            what = "entity expansion" if "amplification" in error.message else "nesting"
            return Unscannable("limit", f"XML {what} over libxml2's bound: read up to there")
        return Unscannable("corrupt", f"XML parser stopped ({error.type_name} line {error.line})")
    if empty:
        return Unscannable("corrupt", "no XML element found")
    return None


def _entities(element: etree._Element) -> int:
    return sum(1 for child in element if isinstance(child, etree._Entity))


# SpreadsheetML 2003 ------------------------------------------------------------------------


def _attribute(element: etree._Element, name: str) -> str | None:
    value = element.get(f"{{{SPREADSHEET}}}{name}")
    return value if value is not None else element.get(name)


def _index(element: etree._Element, name: str) -> int | None:
    value = _attribute(element, name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise Unscannable("corrupt", f"SpreadsheetML {name} is not a number") from None


def _value(kind: str | None, text: str) -> object:
    """A cell value as calamine gives it: numbers, dates and booleans typed, text as text."""
    if kind == "Number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and abs(number) < 1e15 else number
    if kind == "DateTime":
        try:
            return datetime.datetime.fromisoformat(text.rstrip("Z"))
        except ValueError:
            return text
    if kind == "Boolean":
        return text.strip() in ("1", "true", "TRUE")
    return text


def _workbook(
    events: Iterator[tuple[str, etree._Element]],
    check: Callable[[], None],
    limits: TableLimits,
    entities: list[int],
) -> list[Sheet]:
    book = _Workbook(limits, entities)
    for event, element in events:
        if event == "start":
            book.start(element)
        elif book.end(element) and book.rows_read % _CHECK_EVERY == 0:
            check()
    return book.sheets


class _Workbook:
    """Worksheets of a SpreadsheetML workbook as their rows close: ``ss:Index`` skips
    columns, ``ss:MergeAcross`` covers them, hidden sheets stay (marked hidden)."""

    def __init__(self, limits: TableLimits, entities: list[int]) -> None:
        self.limits = limits
        self.entities = entities
        self.sheets: list[Sheet] = []
        self.name = ""
        self.hidden = False
        self.rows: list[list[object]] = []
        self.row: list[object] = []
        self.cells = 0
        self.rows_read = 0

    def start(self, element: etree._Element) -> None:
        if element.tag == _WORKSHEET:
            self.name = _attribute(element, "Name") or f"Sheet{len(self.sheets) + 1}"
            self.hidden, self.rows = False, []
        elif element.tag == _ROW:
            self.row = []

    def end(self, element: etree._Element) -> bool:
        """Take in a closed element; True when it was a row."""
        tag = element.tag
        if tag == _CELL:
            self._cell(element)
        elif tag == _ROW:
            self._row(element)
            return True
        elif tag == _VISIBLE and (element.text or "").strip() in _HIDDEN:
            self.hidden = True
        elif tag == _WORKSHEET:
            self.sheets.append(Sheet(name=self.name, rows=self.rows, hidden=self.hidden))
            if len(self.sheets) > self.limits.max_sheets:
                raise Unscannable("limit", f"more than {self.limits.max_sheets} worksheets")
            _forget(element)
        return False

    def _cell(self, element: etree._Element) -> None:
        row = self.row
        column = _index(element, "Index")
        if column is not None:
            if not 1 <= column <= MAX_COLUMNS:
                raise Unscannable("limit", f"cell in column {column:,}, past Excel's last")
            row.extend([None] * (column - 1 - len(row)))
        data = element.find(_DATA)
        if data is None:
            row.append(None)
        else:
            self.entities[0] += _entities(data)
            row.append(_value(_attribute(data, "Type"), "".join(data.itertext())))
        across = _index(element, "MergeAcross") or 0
        if across > 0:
            row.extend([None] * min(across, MAX_COLUMNS - len(row)))
        if len(row) > MAX_COLUMNS:
            raise Unscannable("limit", "row longer than Excel's last column")

    def _row(self, element: etree._Element) -> None:
        self.rows.append(self.row)
        self.cells += len(self.row)
        self.rows_read += 1
        limits = self.limits
        if self.rows_read > limits.max_rows or self.cells > limits.max_cells:
            raise Unscannable(
                "limit", f"workbook over {limits.max_rows:,} rows or {limits.max_cells:,} cells"
            )
        self.row = []
        _forget(element)


def _forget(element: etree._Element) -> None:
    """Free what was read: the element's content and the siblings before it."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


# Other XML ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Simple:
    """A leaf, or a chain of single children down to one: one text value."""

    name: str
    value: str


@dataclass(slots=True)
class _Flat:
    """An element whose children are all simple (or a leaf with attributes): a record."""

    name: str
    fields: list[str]
    values: list[str]


class _Frame:
    """An element being read: its children's results, rendered into lines as they come so
    that memory follows the text (a record is held only until its next sibling shows
    whether it repeats)."""

    __slots__ = (
        *("count", "header", "lines", "name", "own_text", "pending", "repeated", "simple"),
        *("table", "tables"),
    )

    def __init__(self, name: str, tables: list[Sheet]) -> None:
        self.name = name
        self.tables = tables  # the document's: one per run of records
        self.table: list[Sequence[object]] | None = None
        self.count = 0
        self.simple: list[_Simple] | None = []  # while every child so far is simple
        self.lines: list[str] = []
        self.own_text: list[str] = []
        self.pending: _Flat | None = None
        self.repeated = False  # whether ``pending`` follows a record of its name
        self.header: list[str] | None = None

    def take(self, part: _Simple | _Flat | list[str]) -> None:
        self.count += 1
        if self.simple is not None:
            if isinstance(part, _Simple):
                self.simple.append(part)
                return
            self._to_lines()
        if isinstance(part, _Flat):
            if self.pending is not None and self.pending.name == part.name:
                self._record(self.pending)
                self.repeated = True
            else:
                self._flush()
                self.repeated = False
            self.pending = part
            return
        self._flush()
        self.table = None  # a run of records ends at anything else
        if isinstance(part, _Simple):
            if part.value:
                self.lines.append(part.value)
        else:
            self.lines.extend(part)

    def _to_lines(self) -> None:
        if self.simple:
            self.lines.extend(part.value for part in self.simple if part.value)
        self.simple = None

    def _flush(self) -> None:
        pending = self.pending
        if pending is not None:
            if self.repeated:
                self._record(pending)
            else:  # a record of its own: its values are plain lines
                self.lines.extend(value for value in pending.values if value)
            self.pending = None

    def _record(self, record: _Flat) -> None:
        """A record repeated under this element: a row of the table its run of records makes
        (a new table when the field names change; they are its header row unless they are
        all one name, as in <row><cell/><cell/></row>)."""
        if record.fields != self.header or self.table is None:
            self.header = record.fields
            self.table = [list(record.fields)] if len(set(record.fields)) > 1 else []
            self.tables.append(Sheet(name=record.name, rows=self.table))
        self.table.append(record.values)

    def close(self) -> list[str]:
        self._to_lines()
        self._flush()
        return self.lines

    def result(self, element: etree._Element | None) -> _Simple | _Flat | list[str]:
        own = " ".join(self.own_text)
        if self.count == 0:
            attrib = element.attrib.items() if element is not None else []
            attributes = [(_local(key), _clean(value)) for key, value in attrib]
            if len(attributes) >= 2 and not own:
                names, values = [k for k, _ in attributes], [v for _, v in attributes]
                return _Flat(self.name, names, values)
            return _Simple(self.name, own)
        simple = self.simple
        if not own and simple is not None and len(simple) == 1:
            return _Simple(self.name, simple[0].value)
        if not own and simple is not None:
            return _Flat(self.name, [p.name for p in simple], [p.value for p in simple])
        lines = self.close()
        return [own, *lines] if own else lines


def _clean(text: str | None) -> str:
    if not text:
        return ""
    stripped = text.strip()
    collapse = "  " in stripped or "\n" in stripped or "\t" in stripped or "\r" in stripped
    return _SPACES.sub(" ", stripped) if collapse else stripped


def _lines(
    root: etree._Element,
    events: Iterator[tuple[str, etree._Element]],
    check: Callable[[], None],
    entities: list[int],
) -> tuple[str, list[Sheet]]:
    """Tables and text lines of any XML: a run of record-like elements (children all simple
    text elements, repeated under one parent) is a table, its field names the header row;
    other text is a line per element."""
    tables: list[Sheet] = []
    document = _Frame("", tables)
    stack = [_Frame(_local(root.tag), tables)]
    seen = 0
    for event, element in events:
        seen += 1
        if seen % _CHECK_EVERY == 0:
            check()
        if event == "start":
            parent = element.getparent()
            previous = element.getprevious()
            if parent is not None and stack:
                if previous is None:
                    _text(stack[-1], parent.text)
                else:
                    _text(stack[-1], previous.tail)
                    while element.getprevious() is not None:
                        entities[0] += isinstance(parent[0], etree._Entity)
                        del parent[0]
            stack.append(_Frame(_local(element.tag), tables))
            continue
        frame = stack.pop()
        if len(element):
            children = [child for child in element if isinstance(child.tag, str)]
            entities[0] += len(element) - len(children)  # comments and PIs are not kept
            _text(frame, children[-1].tail if children else element.text)
        else:
            _text(frame, element.text)
        (stack[-1] if stack else document).take(frame.result(element))
        element.clear(keep_tail=True)
    while stack:  # not reached with libxml2's recovery (it ends every open element)
        frame = stack.pop()
        (stack[-1] if stack else document).take(frame.result(None))
    return "\n".join(document.close()), tables


def _text(frame: _Frame, text: str | None) -> None:
    if text and not text.isspace():
        frame.own_text.append(_clean(text))
