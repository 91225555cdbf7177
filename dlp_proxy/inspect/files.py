"""Inspect files by content: open containers, read tables, list every file once, never raise."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Iterable, Iterator
from typing import Any

import msoffcrypto

from dlp_proxy.inspect import archives, charsets, detect, filetype, mime, tables
from dlp_proxy.inspect.archives import Budget, Limits, Member
from dlp_proxy.inspect.model import Attachment, TableFindings, Unscannable
from dlp_proxy.inspect.vocabulary import Vocabulary

# Excel opens files locked with this password without asking; so do we.
EXCEL_DEFAULT_PASSWORD = "VelvetSweatshop"
_PLAIN_CHARSETS = frozenset({"us-ascii", "ascii", "utf-8", "utf8"})
_EMBEDDING_DIRS = ("word/embeddings/", "ppt/embeddings/", "xl/embeddings/")
_STREAM_SUFFIXES = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz2"), "xz": (".xz", ".txz")}


def _scan_table(
    kind: str, data: bytes, name: str, vocabulary: Vocabulary | None = None
) -> TableFindings:
    """Read the sheets of a workbook or delimited text and count the personal rows in them."""
    if kind in filetype.DELIMITED:
        sheets = tables.read_delimited(data, name=name)
    else:
        sheets = tables.read_workbook(data)
    return detect.analyze(sheets, vocabulary=vocabulary)


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
    parts = mime.walk(raw)
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
        if part.message:
            attached = Attachment(path=path, type="eml", size=0)
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


def _refused(path: str, problem: Unscannable) -> Attachment:
    return _with_problem(Attachment(path=path, type="unknown", size=0), problem)


def _with_problem(attachment: Attachment, problem: Unscannable) -> Attachment:
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
    interesting = True
    try:
        interesting = _inspect(
            run, index, data, hints=hints, depth=depth, text_charset=text_charset
        )
    except Unscannable as exc:
        run.update(index, unscannable=exc.reason, detail=exc.detail)
    except (MemoryError, RecursionError) as exc:
        run.update(index, unscannable="limit", detail=f"{type(exc).__name__} while reading")
    except Exception as exc:
        run.update(
            index, unscannable="corrupt", detail=f"unexpected {type(exc).__name__} while reading"
        )
    run.seen.setdefault(key, index)
    found = run.out[index]
    if damage is not None:
        if found.unscannable is None:
            run.update(index, unscannable=damage.reason, detail=damage.detail)
        else:
            run.update(index, detail=f"{found.detail}; {damage.detail}")
    elif not named and not interesting and found.unscannable is None and index == len(run.out) - 1:
        del run.out[index]  # a message body that is plain prose, not a file
        del run.seen[key]


def _inspect(
    run: _Run,
    index: int,
    data: bytes,
    *,
    hints: tuple[str | None, ...],
    depth: int,
    text_charset: str | None,
    decrypted: bool = False,
) -> bool:
    """Fill in the record at ``index``; True when the file is a table or a container."""
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
                return True
        raise found.problem
    if found.family in ("workbook", "delimited"):
        if data.startswith(b"PK"):
            archives.check_package(data, run.budget.limits)
        name = run.out[index].path.rsplit("/", 1)[-1]
        findings = _scan_table(found.kind, data, name, run.vocabulary)
        run.update(
            index,
            personal_rows=findings.personal_rows,
            persons=findings.persons,
            columns=findings.columns,
            samples=findings.samples,
        )
        return True
    if found.family == "other":
        return False
    if depth >= run.budget.limits.max_depth:
        raise _too_deep(run.budget.limits.max_depth)
    _open(run, run.out[index].path, data, found, depth=depth)
    return True


def _as_utf8(data: bytes, charset: str) -> bytes:
    """Text in a declared charset (an ISO-2022-JP mail body) as UTF-8 for the table reader."""
    if filetype.binary_type(data) is not None:
        return data  # mislabelled binary content: leave it to the sniffer
    return charsets.decode(data, charset).encode("utf-8")


def _open(run: _Run, path: str, data: bytes, found: filetype.FileType, *, depth: int) -> None:
    """Record the contents of a container at ``path``, one level deeper."""
    if found.family == "message":
        _message(run, data, prefix=path, depth=depth + 1)
        return
    if found.family == "stream":
        inner = archives.decompress(data, found.kind, run.budget)
        name = _unwrapped_name(path.rsplit("/", 1)[-1], found.kind)
        hints = (filetype.hint_from_name(name),)
        _item(run, inner, path=_join(path, name), hints=hints, depth=depth + 1)
        return
    if found.family == "tar":
        members = archives.tar_members(data, run.budget)
    elif found.family == "document":
        members = archives.zip_members(data, run.budget, only=_is_embedding)
    else:
        members = archives.zip_members(data, run.budget)
    for member in members:
        _member(run, member, prefix=path, depth=depth + 1)


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


def _is_embedding(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(_EMBEDDING_DIRS) and not lowered.endswith((".emf", ".wmf", ".png"))


def _unwrapped_name(name: str, kind: str) -> str:
    lowered = name.lower()
    for suffix in _STREAM_SUFFIXES[kind]:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return f"{stem}.tar" if suffix.startswith(".t") else stem
    return "content"


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
