"""The text of Office documents (docx, pptx, odt, odp) as a reader sees it, and their embeddings.

Parts are streamed with lxml (no entities, no network, no huge trees) and released as they are
read, so memory stays bounded by the largest paragraph or table row. Paragraphs become lines;
a table row becomes one line with its cells tab-separated, so a mail-merge table in a letter
reaches detection as delimited text. Text boxes, headers and footers, footnotes, endnotes,
comments (Word), speaker notes (PowerPoint) are read too: a recipient sees them.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Final

from lxml import etree

from dlp_proxy.inspect import ooxml
from dlp_proxy.inspect.archives import open_zip
from dlp_proxy.inspect.model import Unscannable

# Relationships whose target is a file of its own that a reader opens (an OLE object, an
# embedded package, an altChunk: HTML, RTF or a document merged into a Word document).
EMBEDDING_RELATIONSHIPS: Final = frozenset({"oleObject", "package", "aFChunk"})
# Parts of a Word document's main part shown with it, in reading order.
_WORD_PARTS: Final = ("header", "footnotes", "endnotes", "comments", "footer")
_ODF_DOCUMENT: Final = "application/vnd.oasis.opendocument."
_OLE_OBJECTS: Final = ("application/vnd.sun.star.oleobject", "application/x-openoffice-ole")
_MANIFEST: Final = "meta-inf/manifest.xml"
_MANIFEST_NS: Final = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"


@dataclass
class Content:
    """What a document shows: its text, the problems met, and its ODF sub-documents (the
    embedded parts of an OOXML package are listed by ``embedded_parts``)."""

    text: str = ""
    problems: list[Unscannable] = field(default_factory=list)
    objects: list[tuple[str, bytes]] = field(default_factory=list)  # ODF sub-documents


@dataclass(frozen=True, slots=True)
class _Rules:
    """How one format marks paragraphs, text, tabs and breaks, tables and text boxes."""

    paragraphs: frozenset[str]
    texts: frozenset[str]  # elements whose own text is shown (w:t); empty for mixed content
    mixed: bool  # text and tails carry the content (ODF)
    rows: frozenset[str]
    cells: frozenset[str]
    skip: frozenset[str]  # subtrees never shown (a fallback copy of a text box)


_OOXML = _Rules(
    paragraphs=frozenset({"p"}),
    texts=frozenset({"t", "delText"}),
    mixed=False,
    rows=frozenset({"tr"}),
    cells=frozenset({"tc"}),
    skip=frozenset({"Fallback", "instrText", "delInstrText"}),
)
_ODF = _Rules(
    paragraphs=frozenset({"p", "h"}),
    texts=frozenset(),
    mixed=True,
    rows=frozenset({"table-row"}),
    cells=frozenset({"table-cell", "covered-table-cell"}),
    skip=frozenset(),
)


# Every element's own text on a line of its own: for packages whose layout we do not know.
_ANY = _Rules(
    paragraphs=frozenset(),
    texts=frozenset(),
    mixed=False,
    rows=frozenset(),
    cells=frozenset(),
    skip=frozenset(),
)


class Lines:
    """Lines of text collected up to a cap on their total size (the document readers')."""

    def __init__(self, cap: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.cap = cap

    def add(self, line: str) -> None:
        self.size += len(line) + 1
        if self.size > self.cap:
            raise Unscannable("limit", f"document text longer than {self.cap:,} characters")
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Cell:
    def __init__(self) -> None:
        self.parts: list[str] = []


class _Row:
    def __init__(self) -> None:
        self.cells: list[str] = []
        self.nested: list[str] = []  # rows of tables nested in its cells, as lines


def render(stream: IO[bytes], rules: _Rules, out: Lines) -> None:
    """Stream one XML part into ``out``: paragraphs as lines, table rows as tab-separated."""
    renderer = _Renderer(rules, out)
    events = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
    )
    for event, element in events:
        if event == "start":
            renderer.start(ooxml.local_name(element))
        elif rules is _ANY:
            if element.text and element.text.strip():
                out.add(element.text.strip())
            _release(element)
        else:
            renderer.end(ooxml.local_name(element), element)


class _Renderer:
    def __init__(self, rules: _Rules, out: Lines) -> None:
        self.rules = rules
        self.out = out
        self.open: list[_Cell | _Row] = []
        self.skipping = 0
        self.in_paragraph = 0

    def start(self, name: str) -> None:
        rules = self.rules
        if name in rules.skip:
            self.skipping += 1
        elif name in rules.paragraphs:
            self.in_paragraph += 1
        elif name in rules.rows:
            self.open.append(_Row())
        elif name in rules.cells:
            self.open.append(_Cell())

    def end(self, name: str, element: etree._Element) -> None:
        rules, open_ = self.rules, self.open
        if name in rules.skip:
            self.skipping -= 1
        elif name in rules.paragraphs:
            self.in_paragraph -= 1
            if not self.skipping:
                _emit(_paragraph(element, rules), open_, self.out)
        elif name in rules.rows and open_ and isinstance(row := open_[-1], _Row):
            open_.pop()
            if not self.skipping:
                line = "\t".join(row.cells)
                holder = next((r for r in reversed(open_) if isinstance(r, _Row)), None)
                if holder is None:
                    self.out.add(line)
                    for nested in row.nested:
                        self.out.add(nested)
                else:
                    # A table nested in a cell (a layout table around a list): its rows are
                    # lines of their own below the row holding it, as the HTML reader does.
                    holder.nested += [line, *row.nested]
                    _emit(line, open_, self.out, cell_text=" ".join(row.cells))
        elif name in rules.cells and open_ and isinstance(cell := open_[-1], _Cell):
            open_.pop()
            parts = cell.parts
            if open_ and isinstance(open_[-1], _Row):
                open_[-1].cells.append(" ".join(p for p in parts if p).replace("\t", " "))
        if not self.in_paragraph:
            _release(element)


def _emit(text: str, open_: list[_Cell | _Row], out: Lines, *, cell_text: str = "") -> None:
    """A paragraph or a row, into the cell it is in (a text box's, a nested table's) or as a
    line of its own."""
    for container in reversed(open_):
        if isinstance(container, _Cell):
            container.parts.append(cell_text or text)
            return
    out.add(text)


def _paragraph(element: etree._Element, rules: _Rules) -> str:
    pieces: list[str] = []
    if rules.mixed:
        pieces.append(element.text or "")
    _walk(element, rules, pieces)
    return "".join(pieces).replace("\n", " ").replace("\r", " ")


def _walk(element: etree._Element, rules: _Rules, pieces: list[str]) -> None:
    for child in element:
        name = ooxml.local_name(child)
        if name in rules.skip:
            pass
        elif name in rules.texts:
            pieces.append(child.text or "")
        elif name == "tab" and _parent_name(child) in ("r", "p", "span", "a", "h"):
            pieces.append("\t")
        elif name in ("br", "cr", "line-break"):
            pieces.append(" ")
        elif name == "s" and rules.mixed:
            count = child.get(f"{{{_TEXT_NS}}}c") or "1"
            spaces = int(count) if count.isascii() and count.isdigit() else 1
            pieces.append(" " * min(spaces, 100))
        elif name not in rules.paragraphs:  # a nested paragraph was a line of its own
            if rules.mixed:
                pieces.append(child.text or "")
            _walk(child, rules, pieces)
        if rules.mixed:
            pieces.append(child.tail or "")


_TEXT_NS: Final = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def _parent_name(element: etree._Element) -> str:
    parent = element.getparent()
    return "" if parent is None else ooxml.local_name(parent)


def _release(element: etree._Element) -> None:
    """Free what has been read: the element's content and the siblings before it."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


# --- OOXML -----------------------------------------------------------------------------------


def read_ooxml(data: bytes, *, cap: int) -> Content:
    """The text of a docx or pptx (any other OOXML package: every text node of its parts).
    Raises Unscannable when the package is unreadable."""
    content = Content()
    with open_zip(data) as archive:
        package, main, kind = ooxml.open_package(archive)
        out = Lines(cap)
        if kind == "docx":
            _word(package, main, out, content)
        elif kind == "pptx":
            _slides(package, main, out, content)
        else:
            declared = package.content_type(main) or "no content type"
            _every_part(package, out, content)
            content.problems.append(
                Unscannable(
                    "unsupported",
                    f"OOXML package of a kind we do not know ({declared}): its text was read "
                    "without its layout",
                )
            )
        content.text = out.text
    return content


def embedded_parts(package: ooxml.Package, problems: list[Unscannable]) -> set[str]:
    """The zip member names of the files embedded in a package: targets of OLE object,
    package and altChunk relationships of any part, and anything in an ``embeddings`` folder.
    A relationships part or a target that cannot be read is added to ``problems``: what it
    names may be an embedded file nobody read."""
    found: set[str] = set()
    for name in package.names():
        if "/_rels/" in f"/{name}" and name.endswith(".rels"):
            folder, rels = posixpath.split(name)
            source = posixpath.join(posixpath.dirname(folder), rels[: -len(".rels")])
            try:
                relationships = package.relationships(source)
            except Unscannable as problem:
                problems.append(problem)
                continue
            for relationship in relationships:
                if relationship.kind in EMBEDDING_RELATIONSHIPS and relationship.target:
                    found.add(relationship.target)
        elif "/embeddings/" in f"/{name}" and not name.endswith((".emf", ".wmf", ".png")):
            found.add(name)
    members = set()
    for name in found:
        try:
            info = package.info(name)
        except Unscannable as problem:
            problems.append(problem)
            continue
        if info is not None:
            members.add(info.filename)
    return members


def _word(package: ooxml.Package, main: str, out: Lines, content: Content) -> None:
    _part(package, main, _OOXML, out, content)
    relationships = package.relationships(main)
    for kind in _WORD_PARTS:
        for relationship in relationships:
            if relationship.kind != kind:
                continue
            if relationship.target is None:
                problem = f"{kind} part {relationship.problem}"
                content.problems.append(Unscannable("corrupt", problem))
            else:
                _part(package, relationship.target, _OOXML, out, content)


def _slides(package: ooxml.Package, main: str, out: Lines, content: Content) -> None:
    """Slides in presentation order, each followed by its speaker notes."""
    by_id = {r.id: r for r in package.relationships(main)}
    order: list[str] = []
    for element in ooxml.parse(package.read(main), main).iter():
        if ooxml.local_name(element) == "sldId":
            order.extend(value for key, value in element.attrib.items() if key.endswith("}id"))
    for number, rid in enumerate(order, 1):
        slide = by_id.get(rid)
        if slide is None or slide.target is None:
            why = "has no relationship" if slide is None else slide.problem
            content.problems.append(Unscannable("corrupt", f"slide {number} {why}"))
            continue
        _part(package, slide.target, _OOXML, out, content)
        for note in package.relationships(slide.target):
            if note.kind == "notesSlide" and note.target is not None:
                _part(package, note.target, _OOXML, out, content)


def _every_part(package: ooxml.Package, out: Lines, content: Content) -> None:
    """A package of a kind we do not know: every text of every XML part but relationships."""
    for name in sorted(package.names()):
        declared = (package.content_type(name) or "").lower()
        if declared.endswith("xml") and not name.endswith(".rels"):
            _part(package, name, _ANY, out, content)


def _part(package: ooxml.Package, name: str, rules: _Rules, out: Lines, content: Content) -> None:
    """Render one part; a part that cannot be read is a problem, and the others are read."""
    try:
        info = package.info(name)
        if info is None:
            raise Unscannable("corrupt", f"part {name} is missing")
        _render_member(package.archive, info, rules, out)
    except Unscannable as problem:
        if problem.reason == "limit":
            raise
        content.problems.append(problem)


def _render_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, rules: _Rules, out: Lines
) -> None:
    name = ooxml.normalise(info.filename)
    if info.flag_bits & 0x1:
        raise Unscannable("encrypted", f"part {name} is an encrypted zip member")
    try:
        with archive.open(info) as stream:
            render(stream, rules, out)
    except etree.XMLSyntaxError as exc:
        raise Unscannable("corrupt", f"part {name} is not well-formed XML ({exc.msg})") from None
    except NotImplementedError as exc:
        raise Unscannable("unsupported", f"part {name}: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise Unscannable("corrupt", f"part {name} unreadable ({exc})") from None


# --- ODF -------------------------------------------------------------------------------------


def read_odf(data: bytes, *, cap: int) -> Content:
    """The text of an odt or odp (content.xml, and the headers and footers in styles.xml), and
    its embedded objects: sub-documents (``Object 1/``) repackaged as files of their own, and
    objects stored as one file (an OLE object)."""
    content = Content()
    with open_zip(data) as archive:
        package = ooxml.Package(archive)
        out = Lines(cap)
        if not package.has("content.xml"):
            raise Unscannable("corrupt", "OpenDocument file without content.xml")
        for name in ("content.xml", "styles.xml"):
            if package.has(name):
                _part(package, name, _ODF, out, content)
        content.objects = odf_objects(package, content.problems)
        content.text = out.text
    return content


def odf_objects(package: ooxml.Package, problems: list[Unscannable]) -> list[tuple[str, bytes]]:
    """The embedded objects an ODF manifest lists: each sub-document written as an ODF file of
    its own, each object stored as a single file as it is. Their replacement images
    (``ObjectReplacements/``) show the same content and are not read."""
    if not package.has("META-INF/manifest.xml"):
        return []
    try:
        manifest = ooxml.parse(package.read("META-INF/manifest.xml"), "META-INF/manifest.xml")
    except Unscannable as problem:
        problems.append(problem)
        return []
    found = []
    for entry in manifest.iter(f"{{{_MANIFEST_NS}}}file-entry"):
        path = (entry.get(f"{{{_MANIFEST_NS}}}full-path") or "").lstrip("/")
        media = entry.get(f"{{{_MANIFEST_NS}}}media-type") or ""
        if not path or path == "/" or path.lower().startswith(("objectreplacements/", "meta-inf/")):
            continue
        if path.endswith("/") and media.startswith(_ODF_DOCUMENT):
            try:
                found.append((path.rstrip("/"), _subdocument(package, path, media)))
            except Unscannable as problem:
                problems.append(Unscannable(problem.reason, f"{path}: {problem.detail}"))
        elif media in _OLE_OBJECTS or (path.lower().startswith("object ") and "/" not in path):
            try:
                found.append((path, package.read(path)))
            except Unscannable as problem:
                problems.append(Unscannable(problem.reason, f"{path}: {problem.detail}"))
    return found


def _subdocument(package: ooxml.Package, folder: str, media: str) -> bytes:
    """The parts under ``folder`` written as an ODF file of their own: mimetype first, and a
    manifest naming them (calamine needs both)."""
    prefix = ooxml.normalise(folder)
    out = io.BytesIO()
    manifest = etree.Element(f"{{{_MANIFEST_NS}}}manifest", nsmap={"manifest": _MANIFEST_NS})
    entry = etree.SubElement(manifest, f"{{{_MANIFEST_NS}}}file-entry")
    entry.set(f"{{{_MANIFEST_NS}}}full-path", "/")
    entry.set(f"{{{_MANIFEST_NS}}}media-type", media)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        target.writestr("mimetype", media, zipfile.ZIP_STORED)
        for name in sorted(package.names()):
            if not name.startswith(prefix) or name[len(prefix) :] in ("mimetype", _MANIFEST):
                continue
            info = package.info(name)
            assert info is not None
            original = info.filename.replace("\\", "/").lstrip("/")[len(prefix) :]
            target.writestr(original, package.read(name, limit=max(info.file_size, 1)))
            entry = etree.SubElement(manifest, f"{{{_MANIFEST_NS}}}file-entry")
            entry.set(f"{{{_MANIFEST_NS}}}full-path", original)
            entry.set(f"{{{_MANIFEST_NS}}}media-type", "text/xml")
        if "content.xml" not in target.namelist():
            raise Unscannable("corrupt", "embedded object without content.xml")
        target.writestr("META-INF/manifest.xml", etree.tostring(manifest, xml_declaration=True))
    return out.getvalue()
