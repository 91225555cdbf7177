"""Read HTML as a browser lays it out (lxml's libxml2 parser): lines, tables, data: URIs."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from dlp_proxy.inspect import charsets, datauri, delimited
from dlp_proxy.inspect.model import Unscannable

MAX_BYTES = 32 << 20  # an HTML file past this is not parsed (libxml2's tree is ~10x its size)
MAX_COLSPAN = 1000  # the HTML standard's own caps
MAX_ROWSPAN = 65534
MAX_PADDING = 1 << 20  # empty cells added for colspan and rowspan in one document
_CHECK_EVERY = 1024  # tree events between budget checks

# Elements that start and end a line (CSS display: block and the like, as browsers default).
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
        *("details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure"),
        *("footer", "form", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header"),
        *("hgroup", "hr", "html", "legend", "li", "listing", "main", "menu", "nav", "noframes"),
        *("ol", "optgroup", "option", "p", "plaintext", "pre", "section", "summary", "title"),
        *("ul", "xmp", "tr", "td", "th", "thead", "tbody", "tfoot", "table"),
    }
)
_HIDDEN = frozenset({"script", "style"})  # their content is never shown
_PREFORMATTED = frozenset({"pre", "textarea", "plaintext", "xmp", "listing"})
_CELLS = frozenset({"td", "th"})
# Elements whose attribute a reader sees as text: alt text (shown while images are
# blocked, as most mail programs do by default), form field values, iframe documents.
_SHOWN_ATTRIBUTE = {"img": "alt", "area": "alt", "input": "value"}
_STRUCTURE = _BLOCKS | _HIDDEN | _PREFORMATTED | _CELLS | {"br", "iframe"} | _SHOWN_ATTRIBUTE.keys()
# Whitespace as a browser collapses it; a tab between words is kept (a pasted TSV line),
# a tab in a run that breaks a line is indentation of the source.
_BREAKING = re.compile(r"[ \t\xa0]*[\n\r\f][ \t\n\r\f\xa0]*")
_SPACES = re.compile(r"[ \xa0]+")
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)""", re.I)
# libxml2 drops everything after </html>; browsers put it in the body and show it.
_END_HTML = re.compile(rb"</html\s*>", re.I)
_MARKUP = re.compile(rb"<[A-Za-z!/?]")
_CONDITIONAL = re.compile(r"\[if [^\]]*\]>(.*)<!\[endif\]\s*$", re.S)
_TAGS = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
# Whether a document may hold a data: URI, on its lower-cased bytes: the scheme, with the
# whitespace a URL parser drops, or character references that could spell it (libxml2 decodes
# HTML5 references such as &colon; and &Tab;). Each starts with a literal: a fast scan.
_DATA_SCHEME = re.compile(rb"d\s*a\s*t\s*a\s*(?::|&colon;)")
_REFERENCE = re.compile(rb"&(?:#|colon;|tab;|newline;)")
# Attributes holding "data:" once case and the tabs and newlines URL parsers drop are ignored.
_DATA_ATTRIBUTES = etree.XPath("//@*[contains(translate(., 'DAT\t\n\r', 'dat'), 'data:')]")


@dataclass(frozen=True, slots=True)
class HtmlTable:
    """One table as rows of cell texts (a cell's own lines joined by newlines); cells that
    colspan and rowspan cover are empty strings. ``depth`` counts the tables around it."""

    rows: list[list[str]]
    depth: int = 0


@dataclass(slots=True)
class HtmlContent:
    """What an HTML document shows and carries."""

    text: str
    tables: list[HtmlTable]
    data_uris: list[str]
    # The source as text when it has no markup at all (plain text declared as HTML): a
    # browser joins its lines, but the recipient still reads them as a list.
    plain: str | None = None
    # What stopped the parser before the end (too deep, ...): read up to there.
    problem: Unscannable | None = None


def read_html(data: bytes, *, check: Callable[[], None] = lambda: None) -> HtmlContent:
    """Lay out an HTML document: text lines (table rows as tab-separated cells), its tables,
    the data: URIs in its attributes and style sheets. ``check`` runs every few hundred
    elements (the inspection's time budget).

    Raises Unscannable: limit (too large), corrupt (the parser could not read it). A parser
    that stopped early (nesting deeper than libxml2's 256 levels) is ``problem``, with what
    came before it read.
    """
    if len(data) > MAX_BYTES:
        raise Unscannable("limit", f"HTML of {len(data):,} bytes, over {MAX_BYTES:,}")
    source = as_utf8(data, declared=_declared_charset(data[:4096]))
    plain = None if _MARKUP.search(source) else source.decode("utf-8", "replace")
    root, problem = _parse(_END_HTML.sub(b"", source))
    if root is None:
        return HtmlContent(text="", tables=[], data_uris=[], plain=plain)
    layout = _lay_out(root, check=check, outlook=True)
    text, tables = layout.close()
    lowered = source.lower()
    maybe = _DATA_SCHEME.search(lowered) or _REFERENCE.search(lowered)
    uris = [uri for tree in (root, *layout.fragments) for uri in data_uris(tree)] if maybe else []
    problem = problem or layout.problem
    return HtmlContent(text=text, tables=tables, data_uris=uris, plain=plain, problem=problem)


def html_tables(root: etree._Element) -> list[HtmlTable]:
    """Every table of a parsed document, nested ones too, in document order."""
    return lay_out(root)[1]


def parse_html(data: bytes) -> etree._Element | None:
    """The document tree of HTML bytes (None when there is no element at all); raises
    Unscannable when the parser stopped before the end."""
    source = as_utf8(data, declared=_declared_charset(data[:4096]))
    root, problem = _parse(_END_HTML.sub(b"", source))
    if problem is not None:
        raise problem
    return root


def as_utf8(data: bytes, *, declared: str | None) -> bytes:
    """Markup bytes as UTF-8: a BOM or UTF-16 first, valid UTF-8 as it is (a MIME part
    already converted keeps its old declaration), then the declared charset, then a guess."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        b"\x00" in head
    ):
        return delimited.decode_text(data).encode("utf-8")
    if b"\x1b" in data:  # ISO-2022-JP escapes: 7-bit, so also valid UTF-8
        return charsets.decode(data, declared).encode("utf-8", "replace")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        if declared:
            return charsets.decode(data, declared).encode("utf-8", "replace")
        return delimited.decode_text(data).encode("utf-8", "replace")
    return data


def _declared_charset(head: bytes) -> str | None:
    found = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return found.group(1).decode("ascii") if found else None


def _parse(source: bytes) -> tuple[etree._Element | None, Unscannable | None]:
    parser = etree.HTMLParser(
        encoding="utf-8",
        no_network=True,
        huge_tree=False,
        remove_pis=True,
        default_doctype=False,
    )
    try:
        root = etree.fromstring(source, parser)
    except etree.ParserError:
        root = None  # "Document is empty": nothing but whitespace and comments?
    except etree.LxmlError as exc:
        raise Unscannable("corrupt", f"HTML unreadable ({type(exc).__name__})") from None
    if root is None:
        if _TAGS.sub("", source.decode("utf-8", "replace")).strip():
            raise Unscannable("corrupt", "the HTML parser found no document in the text")
        return None, None
    return root, _stopped(parser.error_log)


def _stopped(log: etree._ListErrorLog) -> Unscannable | None:
    for error in log.filter_from_fatals():
        if error.type_name == "ERR_RESOURCE_LIMIT":
            return Unscannable("limit", "HTML nested deeper than 256 elements: read up to there")
        return Unscannable("corrupt", f"HTML parser stopped ({error.type_name})")
    return None


def data_uris(root: etree._Element) -> list[str]:
    """Every data: URI in the document's attributes, inline styles and style sheets."""
    found: list[str] = []
    for value in _DATA_ATTRIBUTES(root):
        if value.attrname != "srcdoc":  # a document of its own, laid out with this one
            found.extend(datauri.in_attribute(str(value), name=str(value.attrname)))
    for style in root.iter("style"):
        found.extend(datauri.in_css("".join(style.itertext())))
    return found


class _Lines:
    """Text being laid out in lines: a document's, or one table cell's."""

    __slots__ = ("lines", "parts")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.parts: list[str] = []

    def add(self, text: str | None, preformatted: bool) -> None:
        if not text:
            return
        if not preformatted:
            if "\n" in text or "\r" in text or "\f" in text:
                text = _BREAKING.sub(" ", text)
            if "  " in text or "\xa0" in text:
                text = _SPACES.sub(" ", text)
            self.parts.append(text)
            return
        pieces = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for piece in pieces[:-1]:
            self.parts.append(piece)
            self.end_line()
        self.parts.append(pieces[-1])

    def end_line(self) -> None:
        if self.parts:
            line = "".join(self.parts).strip(" ")
            self.parts = []
            if line.strip():
                self.lines.append(line)

    def close(self) -> list[str]:
        self.end_line()
        return self.lines


@dataclass(slots=True)
class _Table:
    """A table being read: its rows so far and the lines to show below each row."""

    element: etree._Element
    slot: int  # its place in the document's list of tables
    rows: list[list[str]] = field(default_factory=list)
    below: list[list[str]] = field(default_factory=list)
    above: _Lines = field(default_factory=_Lines)
    row: list[str] | None = None
    row_element: etree._Element | None = None
    row_below: list[str] = field(default_factory=list)
    cell: _Lines | None = None
    cell_element: etree._Element | None = None
    colspan: int = 1
    rowspan: int = 1
    covered: dict[int, int] = field(default_factory=dict)  # column -> last row a rowspan covers
    stray: _Lines = field(default_factory=_Lines)  # text outside any cell

    def sink(self) -> _Lines:
        return self.cell if self.cell is not None else self.stray

    def start_row(self, element: etree._Element | None) -> None:
        self.end_row()
        self.row = []
        self.row_element = element
        self.row_below = []

    def end_row(self) -> None:
        if self.row is None:
            return
        self.end_cell(None)
        self._flush_stray()
        self.rows.append(self.row)
        self.below.append(self.row_below)
        self.row = None
        self.row_element = None

    def start_cell(self, element: etree._Element, padding: list[int]) -> None:
        if self.row is None:
            self.start_row(None)
        self._flush_stray()
        self.cell = _Lines()
        self.cell_element = element
        if padding[0] > 0:
            self.colspan = _span(element.get("colspan"), cap=MAX_COLSPAN)
            self.rowspan = _span(element.get("rowspan"), cap=MAX_ROWSPAN)
        else:
            self.colspan = self.rowspan = 1

    def end_cell(self, padding: list[int] | None) -> None:
        if self.cell is None or self.row is None:
            return
        text = "\n".join(self.cell.close())
        row, index = self.row, len(self.rows)
        while self.covered.get(len(row), -1) >= index:
            row.append("")
        start = len(row)
        row.append(text)
        if self.colspan > 1:
            row.extend([""] * (self.colspan - 1))
        if self.rowspan > 1:
            for column in range(start, len(row)):
                self.covered[column] = index + self.rowspan - 1
        if padding is not None:
            padding[0] -= (self.colspan - 1) + (self.colspan * (self.rowspan - 1))
        self.cell = None
        self.cell_element = None
        self.colspan = self.rowspan = 1

    def _flush_stray(self) -> None:
        lines = self.stray.close()
        if lines:
            (self.row_below if self.row is not None else self.above.lines).extend(lines)
            self.stray = _Lines()

    def close(self) -> list[str]:
        """End the table: its lines, each row one line of tab-separated cells."""
        self.end_row()
        self._flush_stray()
        out = list(self.above.lines)
        for row, below in zip(self.rows, self.below, strict=True):
            line = "\t".join(_one_line(cell) for cell in row)
            if line.strip():
                out.append(line)
            out.extend(below)
        return out


def _one_line(cell: str) -> str:
    return cell.replace("\n", " ").replace("\t", " ")


def _span(value: str | None, *, cap: int) -> int:
    digits = re.match(r"\s*(\d{1,9})", value or "")
    return max(1, min(int(digits.group(1)), cap)) if digits else 1


def lay_out(
    root: etree._Element, *, check: Callable[[], None] = lambda: None
) -> tuple[str, list[HtmlTable]]:
    """The text a browser shows for ``root`` (a line per block, a line per table row with
    its cells tab-separated, the rows of a table nested in a cell below the row holding it),
    and every table as rows of cell texts. Iterative: nesting costs no recursion."""
    return _lay_out(root, check=check, outlook=True).close()


def _lay_out(root: etree._Element, *, check: Callable[[], None], outlook: bool) -> _Layout:
    """``outlook``: also lay out the documents inside this one, what conditional comments
    show Outlook and an iframe's ``srcdoc`` (once: not inside one of them)."""
    layout = _Layout(nested=outlook, check=check)
    sink, preformatted = layout.document, False
    walk = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for count, (event, element) in enumerate(walk, 1):
        if count % _CHECK_EVERY == 0:
            check()
        tag = element.tag
        if not isinstance(tag, str):
            if outlook and event == "comment" and (element.text or "").startswith("[if"):
                found = _CONDITIONAL.match(element.text or "")
                if found is not None:
                    layout.inner(found.group(1), sink)
            if event != "start" and element.tail:  # a comment or PI: only its tail shows
                sink.add(element.tail, preformatted)
        elif tag not in _STRUCTURE:  # inline: its text, then after it its tail
            text = element.text if event == "start" else element.tail
            if text:
                sink.add(text, preformatted)
        elif event == "start" and tag in _HIDDEN:  # libxml2 gives tag names in lower case
            walk.skip_subtree()
        else:
            if event == "start":
                layout.start(tag, element)
            else:
                layout.end(tag, element)
            sink, preformatted = layout.sink(), layout.preformatted > 0
    return layout


class _Layout:
    """The lines and tables of a document as its elements open and close."""

    def __init__(self, *, nested: bool, check: Callable[[], None]) -> None:
        self.nested = nested
        self.check = check
        self.document = _Lines()
        self.tables: list[HtmlTable | None] = []
        self.open: list[_Table] = []
        self.preformatted = 0
        self.padding = [MAX_PADDING]
        self.fragments: list[etree._Element] = []  # what conditional comments hold
        self.problem: Unscannable | None = None

    def inner(self, markup: str, sink: _Lines) -> None:
        """A document inside this one (``<!--[if mso]>...<![endif]-->``, which Outlook
        shows; an iframe's ``srcdoc``): its lines here, its tables and data: URIs too."""
        if not markup.strip():
            return
        root, problem = _parse(markup.encode("utf-8", "surrogatepass"))
        self.problem = self.problem or problem
        if root is None:
            return
        self.fragments.append(root)
        inner = _lay_out(root, check=self.check, outlook=False)
        text, tables = inner.close()
        sink.end_line()
        sink.lines.extend(line for line in text.split("\n") if line)
        self.tables.extend(tables)

    def sink(self) -> _Lines:
        return self.open[-1].sink() if self.open else self.document

    def start(self, name: str, element: etree._Element) -> None:
        if name in _SHOWN_ATTRIBUTE:
            shown = element.get(_SHOWN_ATTRIBUTE[name])
            if shown and element.get("type", "").lower() != "hidden":
                self.sink().add(shown, self.preformatted > 0)
        elif name == "iframe" and element.get("srcdoc"):
            if self.nested:
                self.inner(element.get("srcdoc") or "", self.sink())
            else:
                self.problem = self.problem or Unscannable(
                    "unsupported", "an iframe srcdoc inside a nested document is not read"
                )
        table = self.open[-1] if self.open else None
        if name == "table":
            self.sink().end_line()
            self.open.append(_Table(element=element, slot=len(self.tables)))
            self.tables.append(None)
        elif name == "tr" and table is not None and table.cell is None:
            table.start_row(element)
        elif name in _CELLS and table is not None and table.cell is None:
            table.start_cell(element, self.padding)
        elif name in _BLOCKS or name == "br":
            self.sink().end_line()
        if name in _PREFORMATTED:
            self.preformatted += 1
        self.sink().add(element.text, self.preformatted > 0)

    def end(self, name: str, element: etree._Element) -> None:
        table = self.open[-1] if self.open else None
        if table is not None and element is table.element:
            self._end_table()
        elif table is not None and element is table.row_element:
            table.end_row()
        elif table is not None and element is table.cell_element:
            table.end_cell(self.padding)
        elif name in _BLOCKS:
            self.sink().end_line()
        if name in _PREFORMATTED:
            self.preformatted -= 1
        self.sink().add(element.tail, self.preformatted > 0)

    def _end_table(self) -> None:
        table = self.open.pop()
        lines = table.close()
        self.tables[table.slot] = HtmlTable(rows=table.rows, depth=len(self.open))
        outer = self.open[-1] if self.open else None
        if outer is None:
            self.document.end_line()
            self.document.lines.extend(lines)
        else:
            outer.sink().end_line()
            (outer.row_below if outer.row is not None else outer.above.lines).extend(lines)

    def close(self) -> tuple[str, list[HtmlTable]]:
        while self.open:  # not reached with a parsed tree; kept so no rows are ever lost
            self._end_table()
        text = "\n".join(self.document.close())
        return text, [table for table in self.tables if table is not None]
