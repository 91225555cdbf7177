"""The scan command's work: find files under paths, inspect each, report a table or JSON."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlp_proxy.inspect import Attachment, Limits, inspect_file, inspect_message
from dlp_proxy.inspect.filetype import hint_from_name, looks_like_message


@dataclass(frozen=True, slots=True)
class Scanned:
    """One file that was read: a message (its attachments) or any other file (itself first)."""

    source: str
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A path that could not be read: missing, no permission, not a file."""

    source: str
    error: str


def collect(paths: Sequence[Path]) -> Iterator[Path | Unreadable]:
    """The regular files named or found (recursively, in name order) under ``paths``."""
    for path in paths:
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield path
        elif path.exists() or path.is_symlink():
            reason = "broken symbolic link" if path.is_symlink() else "not a regular file"
            yield Unreadable(str(path), reason)
        else:
            yield Unreadable(str(path), "no such file or directory")


def _walk(directory: Path) -> Iterator[Path | Unreadable]:
    errors: list[OSError] = []
    for root, dirs, names in os.walk(directory, onerror=errors.append):
        dirs.sort()
        while errors:
            error = errors.pop()
            yield Unreadable(str(error.filename or root), error.strerror or str(error))
        for name in sorted(names):
            path = Path(root, name)
            if path.is_file():
                yield path  # sockets, FIFOs and devices have no content to scan
    for error in errors:
        yield Unreadable(str(error.filename or directory), error.strerror or str(error))


def scan_file(path: Path, *, limits: Limits) -> Scanned | Unreadable:
    """Read and inspect one file; a file bigger than the total budget is reported, not read."""
    try:
        size = path.stat().st_size
        if size > limits.max_total_bytes:
            too_big = Attachment(
                path=path.name,
                type=hint_from_name(path.name) or "unknown",
                size=size,
                unscannable="limit",
                detail=f"file of {size} bytes, over {limits.max_total_bytes}; not read",
            )
            return Scanned(str(path), (too_big,))
        data = path.read_bytes()
    except OSError as exc:
        return Unreadable(str(path), exc.strerror or str(exc))
    if path.suffix.lower() == ".eml" or looks_like_message(data):
        return Scanned(str(path), inspect_message(data, limits=limits).attachments)
    return Scanned(str(path), inspect_file(data, path.name, limits=limits))


def to_json(results: Iterable[Scanned | Unreadable]) -> dict[str, Any]:
    """The ``--json`` document: ``files`` (the contract in docs) and ``errors``."""
    files: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for result in results:
        if isinstance(result, Unreadable):
            errors.append({"source": result.source, "error": result.error})
        else:
            files.append(
                {
                    "source": result.source,
                    "attachments": [_attachment(a) for a in result.attachments],
                }
            )
    return {"files": files, "errors": errors}


def _attachment(attachment: Attachment) -> dict[str, Any]:
    return {
        "path": attachment.path,
        "type": attachment.type,
        "size": attachment.size,
        "personal_rows": attachment.personal_rows,
        "persons": attachment.persons,
        "columns": [
            {"sheet": c.sheet, "header": c.header, "kind": c.kind, "index": c.index}
            for c in attachment.columns
        ],
        "samples": list(attachment.samples),
        "unscannable": attachment.unscannable,
        "detail": attachment.detail,
    }


def printable(text: str) -> str:
    """Text safe for a terminal: control and format characters shown as escapes."""
    return "".join(
        repr(char)[1:-1] if unicodedata.category(char) in ("Cc", "Cf") else char for char in text
    )


def render_table(results: Sequence[Scanned | Unreadable]) -> str:
    """The readable report: one block per file, one line per attachment, totals at the end."""
    lines: list[str] = []
    scanned = [result for result in results if isinstance(result, Scanned)]
    for result in scanned:
        lines.append(printable(result.source))
        if not result.attachments:
            lines.append("  (no attachments)")
            continue
        lines.append(f"  {'TYPE':<8} {'PERSONAL ROWS':>13} {'PERSONS':>8}  PATH")
        for attachment in result.attachments:
            lines.extend(_attachment_lines(attachment))
        lines.append("")
    everything = [a for result in scanned for a in result.attachments]
    personal = [a for a in everything if a.personal_rows]
    unscannable = [a for a in everything if a.unscannable]
    unreadable = len(results) - len(scanned)
    lines.append(
        f"{len(scanned)} file(s) read, {unreadable} unreadable; "
        f"{sum(a.personal_rows for a in personal)} personal rows in {len(personal)} "
        f"attachment(s); {len(unscannable)} unscannable"
    )
    return "\n".join(lines)


def _attachment_lines(attachment: Attachment) -> list[str]:
    has_rows = attachment.personal_rows or attachment.columns
    rows = str(attachment.personal_rows) if has_rows else "-"
    persons = str(attachment.persons) if has_rows else "-"
    lines = [f"  {attachment.type:<8} {rows:>13} {persons:>8}  {printable(attachment.path)}"]
    indent = " " * 35
    if attachment.columns:
        several = len({c.sheet for c in attachment.columns}) > 1
        columns = ", ".join(
            f"{f'{c.sheet}!' if several else ''}{c.header or f'column {c.index + 1}'} ({c.kind})"
            for c in attachment.columns
        )
        lines.append(f"{indent}columns: {printable(columns)}")
    if attachment.samples:
        lines.append(f"{indent}samples: {printable(', '.join(attachment.samples))}")
    if attachment.unscannable:
        detail = f" ({attachment.detail})" if attachment.detail else ""
        lines.append(f"{indent}unscannable: {attachment.unscannable}{printable(detail)}")
    elif attachment.detail:
        lines.append(f"{indent}note: {printable(attachment.detail)}")
    return lines
