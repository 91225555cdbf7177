"""The scan command's work: find files under paths, inspect each, report a table or JSON."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from dlp_proxy.decide import Decision
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.inspect import Attachment, Limits, inspect_file
from dlp_proxy.inspect.filetype import hint_from_name, looks_like_message
from dlp_proxy.inspect.recipients import Recipients, header_addresses
from dlp_proxy.policy.directory import SenderInfo
from dlp_proxy.policy.load import LoadedPolicy, Policy
from dlp_proxy.policy.schema import PolicyFile
from dlp_proxy.scanner import evaluate


@dataclass(frozen=True, slots=True)
class Scanned:
    """One file that was read: a message (its attachments) or any other file (itself first).

    A message also has its recipients and, when a policy was given, the decision."""

    source: str
    attachments: tuple[Attachment, ...]
    recipients: Recipients | None = None
    decision: Decision | None = None


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


def envelope_of(data: bytes, policy: LoadedPolicy | None) -> Envelope:
    """The envelope a saved message most likely had: X-Original-To if our outbox wrote it,
    else every To/Cc/Bcc address; the sender from Return-Path, else From."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(data)
    recipients = header_addresses(headers, ("X-Original-To",)) or header_addresses(
        headers, ("To", "Cc", "Bcc")
    )
    senders = header_addresses(headers, ("Return-Path",)) or header_addresses(headers, ("From",))
    sender = senders[0] if senders else ""
    return Envelope(
        message_id="scan",
        mail_from=sender,
        rcpt_tos=tuple(dict.fromkeys(recipients)),
        client=Client(addr="local"),
        sender=policy.directory.sender_info(sender) if policy else SenderInfo(),
    )


NO_POLICY = Policy(version="none", config=PolicyFile(), files=())


def scan_message(data: bytes, source: str, *, policy: LoadedPolicy | None) -> Scanned:
    """Inspect a message exactly as the proxy's scanner would, recipients and decision included."""
    verdict = evaluate(data, envelope_of(data, policy), policy.policy if policy else NO_POLICY)
    return Scanned(
        source,
        verdict.inspection.attachments,
        verdict.recipients,
        verdict.decision if policy else None,
    )


def scan_file(
    path: Path, *, limits: Limits, policy: LoadedPolicy | None = None
) -> Scanned | Unreadable:
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
        return scan_message(data, str(path), policy=policy)
    return Scanned(str(path), inspect_file(data, path.name, limits=limits))


def to_json(results: Iterable[Scanned | Unreadable]) -> dict[str, Any]:
    """The ``--json`` document: ``files`` (the contract in docs) and ``errors``."""
    files: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for result in results:
        if isinstance(result, Unreadable):
            errors.append({"source": result.source, "error": result.error})
        else:
            files.append(file_json(result))
    return {"files": files, "errors": errors}


def file_json(result: Scanned, *, explain: bool = False) -> dict[str, Any]:
    """One file's entry; ``explain`` adds the rules that did not match and why."""
    entry: dict[str, Any] = {
        "source": result.source,
        "attachments": [_attachment(a) for a in result.attachments],
    }
    if result.recipients is not None:
        entry["recipients"] = result.recipients.as_json()
    if result.decision is not None:
        entry["decision"] = result.decision.as_json(explain=explain)
    return entry


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
        "status": attachment.status,
        "read_as": attachment.read_as,
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
        else:
            lines.append(f"  {'TYPE':<8} {'PERSONAL ROWS':>13} {'PERSONS':>8}  PATH")
            for attachment in result.attachments:
                lines.extend(_attachment_lines(attachment))
        lines.extend(_message_lines(result))
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


def _message_lines(result: Scanned, *, explain: bool = False) -> list[str]:
    lines = []
    if result.recipients is not None:
        r = result.recipients
        lines.append(
            f"  recipients: {r.internal} internal, {r.external} external "
            f"({r.external_visible} shown in To/Cc, {r.external_envelope_only} Bcc only) "
            f"in {len(r.external_domains)} external domain(s)"
        )
    decision = result.decision
    if decision is None:
        return lines
    if explain:
        lines.append("  rules:")
        for rule in (*decision.rules, *decision.not_matched):
            mark = "matched" if rule.matched else "no match"
            lines.append(f"    {rule.name}: {mark} -> {', '.join(rule.actions)} ({rule.mode})")
            lines.extend(f"      {printable(why)}" for why in rule.why)
            if rule.matched:
                lines.append(f"      reason: {printable(rule.reason.en)}")
    names = ", ".join(r.name for r in decision.rules) or "none"
    would = f", would be {decision.would}" if decision.mode == "monitor" else ""
    lines.append(
        f"  decision: {' + '.join(decision.actions)}{would} "
        f"(rules matched: {names}; policy {decision.policy_version})"
    )
    return lines


def render_explanation(result: Scanned) -> str:
    """``policy explain``: the findings, every rule with why it matched or not, the action."""
    lines = [printable(result.source)]
    for attachment in result.attachments:
        lines.extend(_attachment_lines(attachment))
    lines.extend(_message_lines(result, explain=True))
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
