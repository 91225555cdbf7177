"""Rewrite raw messages in place: replace parts, trim To/Cc, add header fields; all else kept."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import HeaderRegistry
from email.policy import SMTP
from email.utils import collapse_rfc2231_value
from typing import Literal

from dlp_proxy.actions import mimetree
from dlp_proxy.actions.mimetree import Entity, Field
from dlp_proxy.inspect.recipients import MAX_EXACT, comment_end, mailboxes, quoted_end

Signature = Literal["smime", "pgp"]

# Entities whose bytes a signature or an encryption covers: never rewritten from inside.
_PROTECTING = frozenset(
    {
        "multipart/signed",
        "multipart/encrypted",
        "application/pkcs7-mime",
        "application/x-pkcs7-mime",
    }
)
_SMIME_LEAVES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_ARMOR = re.compile(rb"^-----BEGIN PGP (?:SIGNED )?MESSAGE-----[ \t]*\r?$", re.MULTILINE)
_SIGNED_IN_RAW = re.compile(
    rb"^content-type:[ \t]*(?:\r?\n[ \t]+)?"
    rb"(multipart/signed|multipart/encrypted|application/(?:x-)?pkcs7-mime)",
    re.IGNORECASE | re.MULTILINE,
)
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")
_JIS_BACK = re.compile(rb"\x1b\([BJ]")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_FOLD_AT = 78
_UNSTRUCTURED = SMTP.clone(header_factory=HeaderRegistry(use_default_map=False))


class NotRewritable(ValueError):
    """The message cannot be rewritten without guessing; the caller must hold or refuse it."""


def replace_entities(raw: bytes, replacements: Mapping[str, bytes]) -> bytes:
    """Put new entities (header fields, a blank line, the body) in place of the leaves named by
    their section; every byte outside those leaves stays as it was.

    A leaf that is a whole message (a single-part message, or the body of an attached one)
    keeps its header fields except the ``Content-*`` ones, which the replacement's replace.
    The replacement's CRLF line endings become LF in a bare-LF message.
    """
    return replace_in(raw, mimetree.verified(raw), replacements)


def replace_in(raw: bytes, tree: mimetree.Tree, replacements: Mapping[str, bytes]) -> bytes:
    """``replace_entities`` for a message already parsed into ``tree``."""
    if not tree.rewritable:
        raise NotRewritable(f"message structure: {tree.problem}")
    edits: list[tuple[int, int, bytes]] = []
    for section, replacement in replacements.items():
        lineage = _lineage(tree, section)
        for entity in lineage:
            boundary = entity.header.headers.get_boundary() if entity.kind == "multipart" else None
            if boundary and _starts_a_line(
                replacement, b"--" + boundary.encode("ascii", "surrogateescape")
            ):
                raise ValueError(f"the replacement for part {section} holds a boundary delimiter")
        leaf = lineage[-1]
        edits.append((leaf.start, leaf.end, _entity_bytes(raw, leaf, replacement, tree.eol)))
    return _apply(raw, edits)


def _starts_a_line(data: bytes, needle: bytes) -> bool:
    at = data.find(needle)
    while at >= 0:
        if at == 0 or data[at - 1] in b"\r\n":
            return True
        at = data.find(needle, at + 1)
    return False


def target(tree: mimetree.Tree, section: str) -> Entity:
    """The leaf a section names, if rewriting it leaves every signature and encryption intact."""
    return _lineage(tree, section)[-1]


def _lineage(tree: mimetree.Tree, section: str) -> tuple[Entity, ...]:
    lineage = tree.lineage(section)
    if lineage is None:
        raise NotRewritable(f"no part {section} in the message")
    for entity in lineage:
        if entity.content_type in _PROTECTING:
            raise NotRewritable(f"part {section} lies inside {entity.content_type}")
        if entity.kind == "message" and not (entity.header.clean and entity.header.separated):
            # What follows such a header block would be read as more header fields.
            raise NotRewritable(f"part {section}: no blank line before the attached message")
    return lineage


def _entity_bytes(raw: bytes, leaf: Entity, replacement: bytes, eol: bytes) -> bytes:
    if eol != b"\r\n":
        replacement = replacement.replace(b"\r\n", eol)
    if not leaf.message:
        return replacement
    if not leaf.header.clean:
        raise NotRewritable(f"part {leaf.section}: header block not ended by a blank line")
    if replacement.startswith(eol):
        head, body = b"", replacement[len(eol) :]
    else:
        head, blank, body = replacement.partition(eol + eol)
        if not blank:
            raise ValueError("a replacement entity needs a blank line after its header fields")
        head += eol
    kept = bytearray()
    mime_version = False
    for item in leaf.header.fields:
        name = (item.name or "").rstrip().lower()
        mime_version = mime_version or name == "mime-version"
        if not name.startswith("content-"):
            kept += raw[item.start : min(item.end, leaf.end)]
            if not kept.endswith((b"\n", b"\r")):
                kept += eol
    if not mime_version:
        kept += b"MIME-Version: 1.0" + eol
    return bytes(kept) + head + eol + body


def _apply(raw: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out: list[bytes] = []
    position = 0
    for start, end, data in sorted(edits, key=lambda edit: edit[:2]):
        if start < position:
            raise ValueError("overlapping edits")
        out += (raw[position:start], data)
        position = end
    out.append(raw[position:])
    return b"".join(out)


# Visible recipients ---------------------------------------------------------------------------


@dataclass
class _Group:
    display: bytes
    members: list[bytes] = field(default_factory=list)


_Item = bytes | _Group


def set_visible_recipients(raw: bytes, *, keep: Callable[[str], bool]) -> tuple[bytes, list[str]]:
    """Keep in To and Cc only the addresses ``keep`` accepts; return the message and the
    addresses taken out. Kept entries keep their text; an emptied To becomes
    ``undisclosed-recipients:;``, an emptied Cc goes. Nothing else changes, body included."""
    block = mimetree.read_headers(raw)
    if not block.clean:
        raise NotRewritable("header block not ended by a blank line")
    listed = [f for f in block.fields if (f.name or "").rstrip().lower() in ("to", "cc")]
    if sum(f.end - f.start for f in listed) > MAX_EXACT:
        raise NotRewritable("To and Cc too long to rewrite exactly")
    eol = mimetree.message_eol(raw)
    removed: list[str] = []
    edits: list[tuple[int, int, bytes]] = []
    for wanted, empty in (("to", b"To: undisclosed-recipients:;" + eol), ("cc", b"")):
        fields = [f for f in block.fields if (f.name or "").rstrip().lower() == wanted]
        results = [_trim(raw, f, keep, removed) for f in fields]
        if not any(changed for _, changed in results):
            continue
        if not any(pieces for pieces, _ in results):
            edits += [(f.start, f.end, empty if i == 0 else b"") for i, f in enumerate(fields)]
            continue
        for item, (pieces, changed) in zip(fields, results, strict=True):
            if changed:
                name = raw[item.start : raw.index(b":", item.start)]
                edits.append((item.start, item.end, _fold(name, pieces, eol) if pieces else b""))
    return _apply(raw, edits), removed


def _trim(
    raw: bytes, item: Field, keep: Callable[[str], bool], removed: list[str]
) -> tuple[list[bytes], bool]:
    """The entries of one address field that stay, and whether any went."""
    value = raw[raw.index(b":", item.start) + 1 : item.end]
    pieces: list[bytes] = []
    changed = False
    for entry in _split(value):
        if isinstance(entry, bytes):
            if _keeps(entry, keep, removed):
                pieces.append(entry)
            else:
                changed = True
            continue
        members = [m for m in entry.members if _keeps(m, keep, removed)]
        changed = changed or len(members) < len(entry.members)
        if members or not entry.members:
            listed = b" " + b", ".join(members) if members else b""
            pieces.append(entry.display + listed + b";")
    return pieces, changed


def _keeps(entry: bytes, keep: Callable[[str], bool], removed: list[str]) -> bool:
    address = _address(entry)
    if keep(address):
        return True
    removed.append(address)
    return False


def _address(entry: bytes) -> str:
    """The addr-spec of one mailbox, read as inspection reads To/Cc (a source route kept, so a
    routed address is never taken for an internal one); unreadable entries as written."""
    found = mailboxes(entry)
    if found:
        return found[0]
    return " ".join(entry.decode("utf-8", "surrogateescape").split())


def _scan(value: bytes) -> Iterator[tuple[int, bytes]]:
    """The characters of a header value that are syntax, skipping quoted strings, comments,
    encoded words and raw ISO-2022-JP runs (whose bytes may look like anything)."""
    index = 0
    while index < len(value):
        char = value[index : index + 1]
        if char == b'"':
            index = quoted_end(value, index)
        elif char == b"(":
            index = comment_end(value, index)
        elif char == b"\x1b" and not _JIS_BACK.match(value, index):
            back = _JIS_BACK.search(value, index + 1)
            index = back.end() if back else len(value)
        elif char == b"=" and (word := _ENCODED_WORD.match(value, index)):
            index = word.end()
        else:
            yield index, char
            index += 1


def _split(value: bytes) -> list[_Item]:
    """Split an address list at its top-level commas into mailboxes and groups."""
    items: list[_Item] = []
    group: _Group | None = None
    start = 0
    angle = False

    def close(end: int) -> None:
        entry = value[start:end].strip(b" \t\r\n")
        if entry:
            (group.members if group is not None else items).append(entry)

    for index, char in _scan(value):
        if char == b"<":
            angle = True
        elif char == b">":
            angle = False
        elif angle:
            continue
        elif char == b":" and group is None:
            group = _Group(value[start : index + 1].strip(b" \t\r\n"))
            items.append(group)
            start = index + 1
        elif char == b";" and group is not None:
            close(index)
            group, start = None, index + 1
        elif char == b",":
            close(index)
            start = index + 1
    close(len(value))
    return items


def _fold(name: bytes, pieces: list[bytes], eol: bytes) -> bytes:
    """``Name: a, b, c`` with a fold before an entry that would pass column 78; an entry
    folded inside keeps its folds."""
    out = bytearray(name + b":")
    column = len(out)
    for index, piece in enumerate(pieces):
        chunk = piece + (b"," if index < len(pieces) - 1 else b"")
        lines = _LINE_BREAK.split(chunk)
        if index and column + 1 + len(lines[0]) > _FOLD_AT:
            out += eol
            column = 0
        out += b" " + chunk
        column = column + 1 + len(chunk) if len(lines) == 1 else len(lines[-1])
    return bytes(out + eol)


# Tags -----------------------------------------------------------------------------------------


def prepend_headers(raw: bytes, fields: Sequence[tuple[str, str]]) -> bytes:
    """Put header fields on top of the message, in the order given: ASCII values folded at
    spaces, others as RFC 2047 encoded words."""
    eol = mimetree.message_eol(raw)
    out = bytearray()
    for name, value in fields:
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"not a header field name: {name!r}")
        if any(char in value for char in "\r\n\0"):
            raise ValueError(f"header field {name} value holds a line break or NUL")
        if value.isascii():
            out += _fold_text(f"{name}: {value}", eol.decode())
        else:
            policy = _UNSTRUCTURED.clone(linesep=eol.decode())
            out += policy.header_factory(name, value).fold(policy=policy).encode("ascii")
    return bytes(out) + raw


def _fold_text(line: str, eol: str) -> bytes:
    """Fold before spaces so that unfolding gives back exactly ``line``; a word longer than a
    line stays whole (up to RFC 5322's 998)."""
    out: list[str] = []
    lowest = line.index(": ") + 2  # never fold between the name and the first word
    while len(line) > _FOLD_AT:
        cut = line.rfind(" ", lowest, _FOLD_AT + 1)
        if cut < 0:
            cut = line.find(" ", max(lowest, _FOLD_AT + 1))
            if cut < 0:
                break
        out.append(line[:cut])
        line, lowest = line[cut:], 1
    out.append(line)
    return (eol.join(out) + eol).encode("ascii")


# Signatures -----------------------------------------------------------------------------------


def signature(raw: bytes) -> Signature | None:
    """``smime`` or ``pgp`` when any part of the message (an attached message included) is
    signed or encrypted, else None. Rewriting such a message breaks or defeats the signature."""
    tree = mimetree.parse(raw)
    if tree.root is None:
        return _signature_in_raw(raw)
    for entity in tree.root.walk():
        kind = _entity_signature(raw, entity)
        if kind is not None:
            return kind
    return None


def _entity_signature(raw: bytes, entity: Entity) -> Signature | None:
    if entity.content_type in ("multipart/signed", "multipart/encrypted"):
        param = entity.header.headers.get_param("protocol", "")
        protocol = collapse_rfc2231_value(param or "").lower()
        if "pkcs7" in protocol:
            return "smime"
        return "pgp" if "pgp" in protocol or entity.content_type.endswith("encrypted") else "smime"
    if entity.content_type in _SMIME_LEAVES:
        return "smime"
    if entity.kind == "leaf" and entity.content_type.startswith("text/"):
        text = mimetree.content(raw, entity)
        if _ARMOR.search(raw[entity.body_start : entity.end] if text is None else text):
            return "pgp"
    return None


def _signature_in_raw(raw: bytes) -> Signature | None:
    """For a message too broken to parse: look for the telltale lines anywhere."""
    found = _SIGNED_IN_RAW.search(raw)
    if found is not None:
        return "smime" if b"pkcs7" in found.group(1).lower() else _protocol_guess(raw)
    return "pgp" if _ARMOR.search(raw) else None


def _protocol_guess(raw: bytes) -> Signature:
    return "smime" if re.search(rb"pkcs7-signature", raw, re.IGNORECASE) else "pgp"
