"""Inspect files by content: every file read by one reader or unscannable, never raising.

The completeness rule (docs/inspection.md) is kept here and only here: each file gets an
``Attachment`` that starts *unscannable* and becomes *read* only when a reader says how it
read it (``Item.tables``, ``Item.text``, a file inside, ``Item.not_applicable``). A reader
that raises, returns without reading, or meets a type nobody reads leaves it unscannable
with a reason.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import msoffcrypto

from dlp_proxy.inspect import (
    archives,
    charsets,
    cms,
    datauri,
    detect,
    documents,
    filetype,
    legacy,
    mapi,
    markup,
    mime,
    oleobjects,
    ooxml,
    outlook,
    pdf,
    pgp,
    rtf,
    sevenzip,
    tables,
    tnef,
    uuencode,
    xmldoc,
)
from dlp_proxy.inspect.archives import Budget, Limits, Member
from dlp_proxy.inspect.model import Attachment, ReadAs, Sheet, Unscannable, UnscannableReason
from dlp_proxy.inspect.vocabulary import Vocabulary

# Excel opens files locked with this password without asking; so do we.
EXCEL_DEFAULT_PASSWORD = "VelvetSweatshop"
_PLAIN_CHARSETS = frozenset({"us-ascii", "ascii", "utf-8", "utf8"})
_STREAM_SUFFIXES = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz2"), "xz": (".xz", ".txz")}
# What each way of reading is worth when a file is read more than one way (an xlsx whose
# tables were read and whose embedded files were listed is "table").
_RANK: dict[ReadAs, int] = {"not-applicable": 0, "container": 1, "text": 2, "table": 3}
NOT_READ = "no reader took it"
_NO_DAMAGE = Unscannable("ambiguous", "structure recorded without a reason")
# The most text one document may yield (characters): some 10,000 pages.
_DOCUMENT_TEXT = 32 << 20
# Problems of one file named in its detail; a hostile file can have one per record.
_PROBLEMS_LISTED = 10


def _looks_delimited(data: bytes) -> bool:
    return tables.looks_delimited(data)


class _Run:
    """The findings and remaining budget of one inspection."""

    def __init__(self, limits: Limits, vocabulary: Vocabulary | None) -> None:
        self.budget = Budget(limits)
        self.vocabulary = vocabulary
        self.out: list[Attachment] = []
        # Content already inspected in this run: (digest, hints, charset) -> its record.
        self.seen: dict[tuple[bytes, tuple[str | None, ...], str | None], int] = {}

    def update(self, index: int, **changes: Any) -> None:
        self.out[index] = dataclasses.replace(self.out[index], **changes)


class Item:
    """One file being inspected: what a reader reports through.

    A reader calls ``tables`` (sheets it read), ``text`` (text it extracted), ``file`` /
    ``member`` / ``message`` (files inside, each inspected in turn), ``part`` (a part inside
    with no bytes of its own, read by a function of the reader's), ``not_applicable``, or
    ``damage`` (a problem that costs part of the file, reading goes on); it raises
    ``Unscannable`` when the file cannot be read at all.
    """

    def __init__(self, run: _Run, index: int, *, depth: int, found: filetype.FileType) -> None:
        self._run = run
        self.index = index
        self.depth = depth
        self.found = found

    @property
    def path(self) -> str:
        return self._run.out[self.index].path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def budget(self) -> Budget:
        return self._run.budget

    @property
    def limits(self) -> Limits:
        return self._run.budget.limits

    def _read(self, how: ReadAs) -> None:
        current = self._run.out[self.index].read_as
        if current is None or _RANK[how] > _RANK[current]:
            self._run.update(self.index, read_as=how)

    def tables(self, sheets: Sequence[Sheet]) -> None:
        """Count the personal rows of tables read from this file. Read more than one way
        (an HTML body's rendering and its source), the reading with most personal rows wins."""
        findings = detect.analyze(sheets, vocabulary=self._run.vocabulary)
        record = self._run.out[self.index]
        if record.read_as != "table" or findings.personal_rows > record.personal_rows:
            self._run.update(
                self.index,
                personal_rows=findings.personal_rows,
                persons=findings.persons,
                columns=findings.columns,
                samples=findings.samples,
            )
        self._read("table")

    def text(self, text: str) -> None:
        """Text extracted from this file (a document's, a body's) goes through detection: a
        delimited table anywhere in it is read as one."""
        if tables.has_table(text):
            self.tables(tables.read_text_table(text, name=self.name))
        else:
            self._read("text")

    def file(
        self,
        name: str,
        data: bytes,
        *,
        hints: Iterable[str | None] = (),
        damage: Unscannable | None = None,
    ) -> None:
        """A file inside this one (an archive member, an embedded object, a decoded block);
        ``damage`` when ``data`` is only what could be recovered of it (it is read, and
        unscannable for that reason)."""
        self._inside()
        hinted = (filetype.hint_from_name(name), *hints)
        path = _join(self.path, name)
        _item(self._run, data, path=path, hints=hinted, depth=self.depth + 1, damage=damage)

    def member(self, member: Member) -> None:
        """An archive member: its bytes, or why they were not read."""
        self._inside()
        _member(self._run, member, prefix=self.path, depth=self.depth + 1)

    def members(self, members: Iterable[Member]) -> None:
        self._inside()
        for member in members:
            self.member(member)

    def message(self, raw: bytes) -> None:
        """A MIME message inside this file (an attached or unwrapped message)."""
        self._inside()
        _message(self._run, raw, prefix=self.path, depth=self.depth + 1)

    def part(self, name: str, kind: filetype.FileType, read: Callable[[Item], None]) -> None:
        """A part of this file that is not a file of bytes of its own (a message embedded in
        an Outlook .msg, a storage of the same compound file): recorded like a file inside,
        of type ``kind``, and read by ``read``."""
        self._inside()
        _part(self._run, _join(self.path, name), found=kind, depth=self.depth + 1, read=read)

    def prose(self) -> None:
        """This file's text went through detection already (``filetype.sniff`` ran the
        table check on its bytes), or it has no text at all."""
        self._read("text")

    def not_applicable(self) -> None:
        """This file is of a kind that cannot carry a list (decided by its content)."""
        self._read("not-applicable")

    def damage(self, problem: Unscannable) -> None:
        """Part of this file could not be read: recorded, and reading goes on."""
        record = self._run.out[self.index]
        if record.unscannable is None:
            self._run.update(self.index, unscannable=problem.reason, detail=problem.detail)
        else:
            self._run.update(self.index, detail=f"{record.detail}; {problem.detail}")

    def _inside(self) -> None:
        if self.depth >= self.limits.max_depth:
            raise _too_deep(self.limits.max_depth)
        self._read("container")


Reader = Callable[[Item, bytes], None]


def inspect_file(
    data: bytes, name: str, *, limits: Limits, vocabulary: Vocabulary | None = None
) -> tuple[Attachment, ...]:
    """Every file in ``data``: the file itself first, then what it contains."""
    run = _Run(limits, vocabulary)
    _item(run, data, path=name, hints=(filetype.hint_from_name(name),), depth=0)
    return tuple(run.out)


def inspect_message(
    raw: bytes, *, limits: Limits, vocabulary: Vocabulary | None = None
) -> tuple[Attachment, ...]:
    """Every attachment of a message and every file inside them; the message itself is not one."""
    run = _Run(limits, vocabulary)
    _message(run, raw, prefix="", depth=0, top=True)
    return tuple(run.out)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _message(run: _Run, raw: bytes, *, prefix: str, depth: int, top: bool = False) -> None:
    """Inspect every part; in the top-level message, tag what each part yields with its
    section (a message inside a zip keeps the zip's section)."""
    for section, first in _parts(run, raw, prefix=prefix, depth=depth):
        if top and section is not None:
            for index in range(first, len(run.out)):
                run.update(index, section=section)


def _parts(run: _Run, raw: bytes, *, prefix: str, depth: int) -> Iterator[tuple[str | None, int]]:
    """Inspect the parts one by one; after each, yield its section and its first finding."""
    max_depth = run.budget.limits.max_depth
    parts = mime.walk(raw, max_depth=max(0, max_depth - depth))
    while True:
        try:
            part = next(parts)
        except StopIteration:
            return
        except Exception as exc:  # a walker bug must not cost the parts already found
            lost = Unscannable("corrupt", f"MIME structure unreadable ({type(exc).__name__})")
            run.out.append(_refused(_join(prefix, "remaining parts"), lost))
            return
        path = _join(prefix, part.path)
        level = depth + part.depth
        if level > max_depth:
            continue  # inside an attached message that was too deep to open
        try:
            run.budget.check()
        except Unscannable as exc:
            run.out.append(_refused(f"{path} and later parts", exc))
            return
        first = len(run.out)
        if part.structure:
            # A multipart's own record: an ambiguity in its header fields, no content.
            kind = part.content_type.partition("/")[0]
            run.out.append(_refused(path, part.damage or _NO_DAMAGE, kind=kind))
            yield None, first
            continue
        if part.message:
            attached = Attachment(path=path, type="eml", size=0, read_as="container")
            if part.damage is not None:
                attached = _with_problem(attached, part.damage)
            if level >= max_depth:
                attached = _with_problem(attached, _too_deep(max_depth))
            run.out.append(attached)
            yield part.section, first
            continue
        hints = (
            filetype.hint_from_name(part.path.rsplit("/", 1)[-1]) if part.named else None,
            filetype.hint_from_content_type(part.content_type),
        )
        text_charset = part.charset if part.content_type.startswith("text/") else None
        _item(
            run,
            part.data,
            path=path,
            hints=hints,
            depth=level,
            named=part.named,
            damage=part.damage,
            text_charset=text_charset,
        )
        yield part.section, first


def _refused(path: str, problem: Unscannable, *, kind: str = "unknown") -> Attachment:
    return _with_problem(Attachment(path=path, type=kind, size=0), problem)


def _with_problem(attachment: Attachment, problem: Unscannable) -> Attachment:
    """``attachment`` unscannable for ``problem``; one already unscannable keeps its reason."""
    if attachment.unscannable is not None:
        return dataclasses.replace(attachment, detail=f"{attachment.detail}; {problem.detail}")
    return dataclasses.replace(attachment, unscannable=problem.reason, detail=problem.detail)


def _too_deep(max_depth: int) -> Unscannable:
    return Unscannable("limit", f"nested more than {max_depth} containers deep")


def _item(
    run: _Run,
    data: bytes,
    *,
    path: str,
    hints: Iterable[str | None],
    depth: int,
    named: bool = True,
    damage: Unscannable | None = None,
    text_charset: str | None = None,
) -> None:
    """Record one file at ``path`` and everything inside it; any failure becomes its finding."""
    index = len(run.out)
    run.out.append(Attachment(path=path, type="unknown", size=len(data)))
    hints = tuple(hints)
    key = (hashlib.blake2b(data, digest_size=16).digest(), hints, text_charset)
    first = run.seen.get(key) if data and damage is None else None
    if first is not None:
        # A copy (the same list attached twice, 42.zip's sixteen identical members): the same
        # findings, and its contents are listed once, under the first.
        earlier = run.out[first]
        same = f"same content as {earlier.path}"
        detail = f"{earlier.detail}; {same}" if earlier.detail else same
        run.out[index] = dataclasses.replace(earlier, path=path, detail=detail)
        return
    _guarded(
        run,
        index,
        lambda: _inspect(run, index, data, hints=hints, depth=depth, text_charset=text_charset),
    )
    run.seen.setdefault(key, index)
    found = run.out[index]
    if damage is not None:
        if found.unscannable is None:
            run.update(index, unscannable=damage.reason, detail=damage.detail)
        else:
            run.update(index, detail=f"{found.detail}; {damage.detail}")
    elif (
        not named
        and found.read_as == "text"
        and found.status == "read"
        and index == len(run.out) - 1
    ):
        del run.out[index]  # a message body of plain prose, read: not a file
        del run.seen[key]


def _guarded(run: _Run, index: int, read: Callable[[], None]) -> None:
    """Run a reader on the record at ``index``: whatever it raises becomes the record's
    finding, and a record nobody read is unscannable (the completeness rule)."""
    try:
        read()
    except Unscannable as exc:
        _fail(run, index, exc)
    except (MemoryError, RecursionError) as exc:
        _fail(run, index, Unscannable("limit", f"{type(exc).__name__} while reading"))
    except Exception as exc:
        _fail(run, index, Unscannable("corrupt", f"unexpected {type(exc).__name__} while reading"))
    found = run.out[index]
    if found.read_as is None and found.unscannable is None:
        run.update(index, unscannable="unsupported", detail=NOT_READ)


def _part(
    run: _Run, path: str, *, found: filetype.FileType, depth: int, read: Callable[[Item], None]
) -> None:
    """Record a part that has no bytes of its own and read it with ``read``."""
    index = len(run.out)
    run.out.append(Attachment(path=path, type=found.kind, size=0))
    _guarded(run, index, lambda: read(Item(run, index, depth=depth, found=found)))


def _fail(run: _Run, index: int, problem: Unscannable) -> None:
    """The reader stopped: the file is unscannable (what was read before still counts)."""
    found = run.out[index]
    if found.unscannable is None:
        run.update(index, unscannable=problem.reason, detail=problem.detail)
    else:
        run.update(index, detail=f"{found.detail}; {problem.detail}")


def _inspect(
    run: _Run,
    index: int,
    data: bytes,
    *,
    hints: tuple[str | None, ...],
    depth: int,
    text_charset: str | None,
    decrypted: bool = False,
) -> None:
    """Type the file at ``index`` by its content and hand it to the reader of its family."""
    if text_charset and text_charset.lower() not in _PLAIN_CHARSETS and data:
        data = _as_utf8(data, text_charset)
    found = filetype.sniff(data, hints=hints, looks_delimited=_looks_delimited)
    run.update(index, type=found.kind)
    if found.problem is not None:
        if found.problem.reason == "encrypted" and not decrypted:
            opened = _open_with_default_password(data, run.budget)
            if opened is not None:
                _inspect(
                    run, index, opened, hints=hints, depth=depth, text_charset=None, decrypted=True
                )
                run.update(index, detail="opened with Excel's default password")
                return
        raise found.problem
    reader = READERS.get(found.family)
    if reader is None:
        raise Unscannable("unsupported", f"no reader for {found.kind}")
    reader(Item(run, index, depth=depth, found=found), data)


def _as_utf8(data: bytes, charset: str) -> bytes:
    """Text in a declared charset (an ISO-2022-JP mail body) as UTF-8 for the table reader."""
    if filetype.binary_type(data) is not None:
        return data  # mislabelled binary content: leave it to the sniffer
    return charsets.decode(data, charset).encode("utf-8")


# Readers, one per family of filetype.sniff. Each reads the whole file or raises.


def _read_workbook(item: Item, data: bytes) -> None:
    if data.startswith(b"PK"):
        archives.check_package(data, item.limits)
    item.tables(tables.read_workbook(data, damage=item.damage))
    _embedded(item, data)


def _embedded(item: Item, data: bytes) -> None:
    """The files embedded in a workbook or document, each inspected like an archive member."""
    if data.startswith(b"PK"):
        with archives.open_zip(data) as archive:
            package = ooxml.Package(archive)
            if item.found.kind in ("ods", "odt", "odp"):
                problems: list[Unscannable] = []
                objects = documents.odf_objects(package, problems)
                names: set[str] = set()
            else:
                objects, problems = [], []
                names = documents.embedded_parts(package, problems)
        if names:
            item.members(archives.zip_members(data, item.budget, only=names.__contains__))
        _objects(item, objects)
        for problem in problems:
            item.damage(problem)
    elif item.found.kind == "xls":
        _objects(item, oleobjects.embedded_storages(data, prefix="MBD"))


def _objects(item: Item, objects: list[tuple[str, bytes]]) -> None:
    for name, inner in objects:
        item.budget.take_member()
        item.budget.spend(len(inner))
        item.file(name, inner)


def _read_delimited(item: Item, data: bytes) -> None:
    rest = _carried(item, data)
    item.tables(tables.read_delimited(data if rest is None else rest, name=item.name))


def _read_text(item: Item, data: bytes, *, sniffed: bool = True) -> None:
    """Text: what it carries (``_carried``), then its table if it holds one. ``sniffed`` when
    filetype.sniff ran the table check on these bytes already (not so for the text around
    blocks, or a message body taken out of a TNEF or Outlook file)."""
    rest = _carried(item, data)
    text = data if rest is None else rest
    if (rest is not None or not sniffed) and tables.looks_delimited(text):
        item.tables(tables.read_delimited(text, name=item.name))
        return
    if len(text) > tables.SAMPLE and tables.looks_delimited(text, everywhere=True):
        item.tables(tables.read_delimited(text, name=item.name))  # a table past the sample
    else:
        item.prose()


def _carried(item: Item, data: bytes) -> bytes | None:
    """What text carries besides text: uuencoded files (read as files inside), armoured PGP
    messages (signed ones read, encrypted ones reported), clear-signed text (unwrapped).
    Returns the text that remains, or None when there was nothing of the kind."""
    rest = data
    found = uuencode.blocks(rest)
    for block in found:
        item.budget.take_member()
        item.file(block.name, block.data, damage=block.problem)
    if found:
        rest = uuencode.without(rest, found)
    if b"-----BEGIN PGP " not in rest:
        return rest if found else None
    unsigned = pgp.clear_signed(rest)
    spans = pgp.message_blocks(rest if unsigned is None else unsigned)
    rest = rest if unsigned is None else unsigned
    problems: dict[tuple[UnscannableReason, str], int] = {}
    for start, end in spans:
        item.budget.take_member()
        problem = _pgp_message(item, rest[start:end], embedded=True)
        if problem is not None:
            key = (problem.reason, problem.detail)
            problems[key] = problems.get(key, 0) + 1
    for (reason, detail), count in problems.items():
        blocks = "a PGP message" if count == 1 else f"{count} PGP messages"
        item.damage(Unscannable(reason, f"{blocks} in the text: {detail}"))
    if spans:
        pieces = [
            rest[stop:start] for (_, stop), (start, _) in itertools.pairwise([(0, 0), *spans])
        ]
        rest = b"".join([*pieces, rest[spans[-1][1] :]])
    return rest if found or spans or unsigned is not None else None


def _read_pgp(item: Item, data: bytes) -> None:
    spans = pgp.message_blocks(data)
    if len(spans) == 1 and not (data[: spans[0][0]] + data[spans[0][1] :]).strip():
        _pgp_message(item, data, embedded=False)  # one armoured message and nothing else
    elif spans:
        _read_text(item, data)  # armoured blocks and text around them
    else:
        _pgp_message(item, data, embedded=False)  # binary packets


def _pgp_message(item: Item, data: bytes, *, embedded: bool) -> Unscannable | None:
    """An OpenPGP message: its literal data read as a file inside when it is only signed or
    compressed; encrypted, damaged or unknown ones raise, or when the message is a block in
    a text (whose other text is still read) come back as the problem."""
    try:
        literal = pgp.read_message(data, item.budget)
    except Unscannable as problem:
        if not embedded:
            raise
        return problem
    name = literal.name or ("message.txt" if embedded else _unwrapped_pgp_name(item.name))
    item.file(name, literal.data)
    return None


def _read_html(item: Item, data: bytes) -> None:
    _read_laid_out(item, markup.read_html(data, check=item.budget.check))


def _read_laid_out(item: Item, content: markup.HtmlContent) -> None:
    item.text(content.text)
    if content.plain is not None:
        item.text(content.plain)  # plain text declared as HTML: its lines as they are
    if content.problem is not None:
        item.damage(content.problem)
    _read_data_uris(item, content.data_uris)


def _read_data_uris(item: Item, uris: Sequence[str]) -> None:
    """Each data: URI is a file of its own (``data-uri-N.csv``: the declared type is a hint,
    the content decides); one that does not decode is listed as unscannable."""
    for number, uri in enumerate(uris, 1):
        name = datauri.file_name(uri, number=number)
        item.budget.take_member()
        try:
            found = datauri.decode(uri, cap=item.budget.cap())
        except Unscannable as problem:
            item.member(Member(name=name, data=None, problem=problem))
            continue
        item.budget.spend(len(found.data))
        data = found.data
        charset = (found.charset or "utf-8").lower()
        if found.media_type.startswith("text/") and charset not in _PLAIN_CHARSETS:
            data = _as_utf8(data, charset)
        item.file(name, data, hints=(filetype.hint_from_content_type(found.media_type),))


def _read_xml(item: Item, data: bytes) -> None:
    content = xmldoc.read_xml(data, check=item.budget.check)
    if content.xhtml:
        _read_html(item, data)
        return
    if content.sheets is not None:
        item.tables(content.sheets)
    else:
        item.text(content.text)
        if content.records:
            item.tables(content.records)
    if content.problem is not None:
        item.damage(content.problem)


def _read_rtf(item: Item, data: bytes) -> None:
    content = rtf.read_rtf(data, check=item.budget.check)
    item.text(content.text)
    if content.problem is not None:
        item.damage(content.problem)
    if content.html is not None:  # Outlook's encapsulated HTML: its tables, its data: URIs
        html = content.html.encode("utf-8", "surrogatepass")
        _read_laid_out(item, markup.read_html(html, check=item.budget.check))
    for number, found in enumerate(content.objects, 1):
        name = f"object {number}"
        item.budget.take_member()
        if found.problem is None and len(found.data) > item.budget.cap():
            found.problem = Unscannable("limit", f"embedded object of {len(found.data):,} bytes")
        if found.problem is not None:
            item.member(Member(name=name, data=None, problem=found.problem))
            continue
        item.budget.spend(len(found.data))
        if found.class_name.lower() == "package":
            try:
                inner, data = oleobjects.packaged(found.data)
            except Unscannable as problem:
                item.member(Member(name=name, data=None, problem=problem))
                continue
            item.file(f"{name}/{inner}", data)
        else:
            item.file(name, found.data)


def _read_document(item: Item, data: bytes) -> None:
    archives.check_package(data, item.limits)
    cap = min(item.limits.max_member_bytes, _DOCUMENT_TEXT)
    if item.found.kind in ("odt", "odp"):
        content = documents.read_odf(data, cap=cap)
    else:
        content = documents.read_ooxml(data, cap=cap)
    for problem in content.problems:
        item.damage(problem)
    if content.text.strip():
        item.text(content.text)
    else:
        item.prose()  # a document with no text at all (its embedded files are listed)
    _embedded(item, data)


def _read_legacy(item: Item, data: bytes) -> None:
    """A binary Word or PowerPoint 97-2003 file: its text, then its embedded objects."""
    cap = min(item.limits.max_member_bytes, _DOCUMENT_TEXT)
    if item.found.kind == "doc":
        content = legacy.read_doc(data, cap=cap, check=item.budget.check)
    else:
        content = legacy.read_ppt(
            data,
            cap=cap,
            object_cap=item.budget.cap(),
            max_ratio=item.limits.max_ratio,
            check=item.budget.check,
        )
    for problem in content.problems[:_PROBLEMS_LISTED]:
        item.damage(problem)
    if len(content.problems) > _PROBLEMS_LISTED:
        more = len(content.problems) - _PROBLEMS_LISTED
        item.damage(Unscannable("corrupt", f"{more:,} more problems"))
    if content.text.strip():
        item.text(content.text)
    else:
        item.prose()  # a document with no text at all (its embedded files are listed)
    _objects(item, content.objects)


def _read_ole_object(item: Item, data: bytes) -> None:
    _objects(item, oleobjects.contents(data))


def _read_zip(item: Item, data: bytes) -> None:
    item.members(archives.zip_members(data, item.budget))


def _read_tar(item: Item, data: bytes) -> None:
    item.members(archives.tar_members(data, item.budget))


def _read_sevenzip(item: Item, data: bytes) -> None:
    item.members(sevenzip.seven_zip_members(data, item.budget))


def _read_stream(item: Item, data: bytes) -> None:
    kind = item.found.kind
    inner = archives.decompress(data, kind, item.budget)
    item.file(_unwrapped_name(item.name, kind), inner)


def _read_message(item: Item, data: bytes) -> None:
    item.message(data)


def _read_pdf(item: Item, data: bytes) -> None:
    content = pdf.read_pdf(data, check=item.budget.check)
    for name, inner in content.files:
        item.file(name, inner)
    if content.image_pages:
        pages = f"{content.image_pages} of {len(content.pages)} page(s)"
        item.damage(Unscannable("image-only", f"{pages} are images with no text layer"))
    if content.text.strip():
        item.text(content.text)
    else:
        item.prose()  # no text at all: a blank document, or the image pages above


def _read_pkcs7(item: Item, data: bytes) -> None:
    found = cms.read_cms(data, item.budget)
    if found.content is None:
        item.not_applicable()  # a detached signature or a bag of certificates
    elif filetype.is_mime_entity(found.content):
        item.message(found.content)  # S/MIME: what the recipient's mail program shows
    else:
        item.file(_unwrapped_p7_name(item.name), found.content)  # a file someone signed


def _read_tnef(item: Item, data: bytes) -> None:
    found = tnef.read_tnef(data, item.budget)
    _bodies(item, found.body)
    for attached in found.attachments:
        if attached.data is not None:  # an attached message is a TNEF stream of its own
            item.file(attached.name, attached.data, damage=attached.problem)
        else:
            item.member(Member(attached.name, None, attached.problem))
    for problem in found.damage:
        item.damage(problem)
    if not found.attachments and found.body == mapi.Body():
        item.prose()  # no body and no attachments: nothing to read


def _read_msg(item: Item, data: bytes) -> None:
    ole = outlook.open_msg(data)
    try:
        _read_outlook(item, ole, outlook.ROOT)
    finally:
        ole.close()


def _read_outlook(item: Item, ole: outlook.Ole, storage: outlook.Storage) -> None:
    """One message of an Outlook file: its bodies, its attachments, its embedded messages."""
    found = outlook.read_message(ole, storage, item.budget)
    _bodies(item, found.body)
    for attached in found.attachments:
        if attached.message is not None:
            embedded = functools.partial(_read_outlook, ole=ole, storage=attached.message)
            item.part(attached.name, filetype.FileType("msg", "msg"), embedded)
        elif attached.data is not None:
            item.file(attached.name, attached.data)
        else:
            item.member(Member(attached.name, None, attached.problem))
    for problem in found.damage:
        item.damage(problem)
    if not found.attachments and found.body == mapi.Body():
        item.prose()  # a message with no body and no attachments: nothing to read


def _bodies(item: Item, body: mapi.Body) -> None:
    """The bodies of a message in a TNEF or Outlook file: plain text read as this file's text;
    HTML and RTF as files inside, read by their own readers."""
    if body.text is not None:
        _read_text(item, body.text.encode("utf-8", "surrogatepass"), sniffed=False)
    if body.html is not None:
        item.file("body.html", body.html)
    if body.rtf is not None:
        item.file("body.rtf", body.rtf)


def _read_media(item: Item, data: bytes) -> None:
    item.not_applicable()


READERS: dict[filetype.Family, Reader] = {
    "workbook": _read_workbook,
    "delimited": _read_delimited,
    "text": _read_text,
    "html": _read_html,
    "xml": _read_xml,
    "document": _read_document,
    "legacy": _read_legacy,
    "pdf": _read_pdf,
    "rtf": _read_rtf,
    "zip": _read_zip,
    "tar": _read_tar,
    "stream": _read_stream,
    "sevenzip": _read_sevenzip,
    "message": _read_message,
    "tnef": _read_tnef,
    "msg": _read_msg,
    "ole-object": _read_ole_object,
    "pkcs7": _read_pkcs7,
    "pgp": _read_pgp,
    "media": _read_media,
}


def _member(run: _Run, member: Member, *, prefix: str, depth: int) -> None:
    path = _join(prefix, member.name)
    hint = filetype.hint_from_name(member.name)
    if member.data is None:
        problem = member.problem or Unscannable("corrupt", "member unreadable")
        run.out.append(
            _with_problem(Attachment(path=path, type=hint or "unknown", size=0), problem)
        )
        return
    _item(run, member.data, path=path, hints=(hint,), depth=depth)


def _unwrapped_name(name: str, kind: str) -> str:
    lowered = name.lower()
    for suffix in _STREAM_SUFFIXES[kind]:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return f"{stem}.tar" if suffix.startswith(".t") else stem
    return "content"


def _unwrapped_pgp_name(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return stem if dot and stem and suffix.lower() in ("gpg", "pgp", "asc") else "content"


def _unwrapped_p7_name(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return stem if dot and stem and suffix.lower() in ("p7m", "p7s", "p7") else "content"


def _open_with_default_password(data: bytes, budget: Budget) -> bytes | None:
    """The decrypted file when it is locked only with Excel's built-in password, else None."""
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password=EXCEL_DEFAULT_PASSWORD, verify_password=True)
        out = io.BytesIO()
        office.decrypt(out)
    except Exception:
        return None
    opened = out.getvalue()
    budget.spend(len(opened))
    return opened
