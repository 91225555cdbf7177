"""Byte ranges of every MIME entity in a raw message, numbered as inspect/mime.py numbers parts."""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from typing import Literal

from dlp_proxy.inspect.mime import HEADER_BLOCKS, MAX_MIME_DEPTH, decode_base64, oversized_fields

Kind = Literal["leaf", "multipart", "message", "opaque"]

ATTACHED_MESSAGES = frozenset({"message/rfc822", "message/global"})
# Read by inspection as one leaf each (header fields, a fragment, a reference), never as a
# message; not rewritten. Any other message/* type is an attached message to both.
OPAQUE = HEADER_BLOCKS | {"message/partial", "message/external-body"}
# RFC 2045 6.4: a multipart or message/rfc822 entity may not be transfer-encoded.
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
# Lines end as the email package ends them: CRLF, bare LF or bare CR.
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
_EOL = re.compile(rb"\r\n|\r|\n")
# email.feedparser.headerRE on bytes: what the email package accepts as a header line.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")


class Unsafe(Exception):
    """The structure is ambiguous or broken; rewriting it could touch the wrong bytes."""


@dataclass(frozen=True, slots=True)
class Field:
    """One header field as written: ``start``/``end`` cover its lines and their line endings.

    ``name`` is None for a line the email package ignores (a From_ line, a stray continuation).
    """

    name: str | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """The header lines of one entity and where its body starts.

    ``clean`` is False when the block ends at a line that is neither a header nor blank: the
    email package then starts the body there, other readers may not.
    """

    fields: tuple[Field, ...]
    end: int
    body_start: int
    clean: bool
    separated: bool
    headers: Message = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Entity:
    """One MIME entity: its header block ``[start, header_end)``, body ``[body_start, end)``.

    ``section`` is the name inspect/mime.py gives the part (``1``, ``2.1``; an attached message
    and the message inside it share one). ``message`` marks the header block of a whole message
    (the top level or an attached one) rather than of a body part. ``children`` are the parts of
    a multipart, or the one message inside a message/rfc822 entity.
    """

    section: str
    kind: Kind
    content_type: str
    start: int
    header_end: int
    body_start: int
    end: int
    message: bool
    header: HeaderBlock = field(compare=False, repr=False)
    children: tuple[Entity, ...] = ()

    def walk(self) -> Iterator[Entity]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Tree:
    """A parsed message, or the reason it is not safe to rewrite (``root`` is then None)."""

    root: Entity | None
    problem: str | None
    eol: bytes

    @property
    def rewritable(self) -> bool:
        return self.root is not None and self.problem is None

    def leaves(self) -> list[Entity]:
        """The leaves inspect/mime.py yields as parts, in its order."""
        if self.root is None:
            return []
        return [entity for entity in self.root.walk() if entity.kind == "leaf"]

    def lineage(self, section: str) -> tuple[Entity, ...] | None:
        """The leaf named ``section`` and the entities around it, outermost first."""
        if self.root is None:
            return None
        return _find(self.root, section, ())


def _find(entity: Entity, section: str, above: tuple[Entity, ...]) -> tuple[Entity, ...] | None:
    path = (*above, entity)
    if entity.kind == "leaf":
        return path if entity.section == section else None
    for child in entity.children:
        found = _find(child, section, path)
        if found is not None:
            return found
    return None


def parse(raw: bytes) -> Tree:
    """Split ``raw`` into entities; never raises: trouble makes a tree with a ``problem``."""
    eol = message_eol(raw)
    oversized = oversized_fields(raw)
    if oversized is not None:
        return Tree(None, oversized, eol)
    try:
        root = _Parser(raw).entity(
            0, len(raw), len(raw), section="", depth=0, digest=False, message=True, boundaries=()
        )
    except Unsafe as exc:
        return Tree(None, str(exc), eol)
    except RecursionError:
        return Tree(None, "MIME nesting too deep", eol)
    except Exception as exc:  # a parser bug must not become a crash of the caller
        return Tree(None, f"unparseable ({type(exc).__name__})", eol)
    return Tree(root, None, eol)


def verified(raw: bytes) -> Tree:
    """``parse``, then a check that the email package (which inspection reads messages with)
    sees the same entities with the same bodies, byte for byte; any difference is a problem,
    so a section can never name one part for inspection and another for rewriting."""
    tree = parse(raw)
    if tree.root is None:
        return tree
    try:
        difference = _difference(raw, tree.root, message_from_bytes(raw, policy=compat32))
    except RecursionError:
        difference = "nesting too deep for it"
    except Exception as exc:
        difference = f"it failed ({type(exc).__name__})"
    if difference is None:
        return tree
    return Tree(None, f"the email package reads the structure differently: {difference}", tree.eol)


def _difference(raw: bytes, entity: Entity, message: Message) -> str | None:
    if message.get_content_type() != entity.content_type:
        return f"part {entity.section or '1'} type"
    payload: object = getattr(message, "_payload", None)
    if entity.kind == "leaf":
        if not isinstance(payload, str):
            return f"part {entity.section} is not a leaf"
        if payload.encode("ascii", "surrogateescape") != raw[entity.body_start : entity.end]:
            return f"part {entity.section} body"
    elif entity.kind in ("multipart", "message"):
        if not isinstance(payload, list) or len(payload) != len(entity.children):
            return f"part {entity.section or '1'} children"
        for child, inner in zip(entity.children, payload, strict=True):
            found = _difference(raw, child, inner)
            if found is not None:
                return found
    return None


def message_eol(raw: bytes) -> bytes:
    """The line ending the message uses: LF for a bare-LF message, else CRLF."""
    match = _EOL.search(raw, 0, 4096)
    return b"\n" if match is not None and match.group() == b"\n" else b"\r\n"


def read_headers(raw: bytes, start: int = 0, stop: int | None = None) -> HeaderBlock:
    """The header block starting at ``start``, split the way email.feedparser splits it."""
    stop = len(raw) if stop is None else stop
    lines: list[tuple[int, int]] = []
    pos = start
    body_start = stop
    clean = separated = True
    while pos < stop:
        line = _LINE.match(raw, pos, stop)
        assert line is not None  # the pattern matches at least one byte before stop
        if not _HEADER_LINE.match(raw, pos, line.end()):
            if raw[pos] in b"\r\n":
                body_start = line.end()
            else:
                body_start, clean = pos, False
            break
        lines.append((pos, line.end()))
        pos = line.end()
    else:
        separated = False
    fields: list[Field] = []
    named_last = False
    for index, (begin, end) in enumerate(lines):
        if raw[begin] in b" \t":
            if named_last:
                fields[-1] = Field(fields[-1].name, fields[-1].start, end)
            else:
                fields.append(Field(None, begin, end))
            continue
        named_last = False
        if raw.startswith(b"From ", begin):
            if 0 < index == len(lines) - 1:
                # email.feedparser takes a From_ line closing the block as the first body line.
                body_start, clean, separated = begin, False, False
                break
            fields.append(Field(None, begin, end))
            continue
        colon = raw.index(b":", begin, end)
        if colon == begin:
            fields.append(Field(None, begin, end))
            continue
        fields.append(Field(raw[begin:colon].decode("ascii"), begin, end))
        named_last = True
    header_end = fields[-1].end if fields else start
    return HeaderBlock(
        tuple(fields), header_end, body_start, clean, separated, _headers(raw, fields)
    )


def _headers(raw: bytes, fields: list[Field]) -> Message:
    """The fields as the email package stores them (compat32), to read types and parameters."""
    message = Message(policy=compat32)
    for item in fields:
        if item.name is not None:
            text = raw[item.start : item.end].decode("ascii", "surrogateescape")
            message.set_raw(*compat32.header_source_parse([text]))
    return message


def _eol_before(raw: bytes, start: int, stop: int) -> int:
    if stop - start >= 2 and raw[stop - 2 : stop] == b"\r\n":
        return 2
    if stop > start and raw[stop - 1] in b"\r\n":
        return 1
    return 0


class _Parser:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def entity(
        self,
        start: int,
        stop: int,
        end: int,
        *,
        section: str,
        depth: int,
        digest: bool,
        message: bool,
        boundaries: tuple[bytes, ...],
    ) -> Entity:
        """``[start, stop)`` holds the entity's lines; its content ends at ``end`` (the line
        ending before a boundary delimiter belongs to the delimiter, RFC 2046 5.1.1)."""
        if depth > MAX_MIME_DEPTH:
            raise Unsafe("MIME nesting too deep")
        block = read_headers(self.raw, start, stop)
        headers = block.headers
        if digest:
            headers.set_default_type("message/rfc822")
        _check_content_type_fields(block)
        content_type = headers.get_content_type()
        header_end, body_start = min(block.end, end), min(block.body_start, end)
        label = section or "1"
        shape = (start, header_end, body_start, end, message, block)
        if content_type in OPAQUE:
            return Entity(label, "opaque", content_type, *shape)
        if headers.get_content_maintype() == "message":
            _check_identity_encoding(headers, content_type)
            inner = self.entity(
                block.body_start,
                stop,
                end,
                section=section,
                depth=depth + 1,
                digest=False,
                message=True,
                boundaries=boundaries,
            )
            return Entity(label, "message", content_type, *shape, (inner,))
        if headers.get_content_maintype() == "multipart":
            _check_identity_encoding(headers, content_type)
            boundary = _boundary(headers, boundaries)
            children = tuple(
                self.entity(
                    part_start,
                    part_stop,
                    part_stop - _eol_before(self.raw, part_start, part_stop),
                    section=f"{section}.{index}" if section else str(index),
                    depth=depth + 1,
                    digest=content_type == "multipart/digest",
                    message=False,
                    boundaries=(*boundaries, boundary),
                )
                for index, (part_start, part_stop) in enumerate(
                    self.parts(boundary, block.body_start, stop), 1
                )
            )
            return Entity(section, "multipart", content_type, *shape, children)
        return Entity(label, "leaf", content_type, *shape)

    def parts(self, boundary: bytes, start: int, stop: int) -> list[tuple[int, int]]:
        """The line ranges between the delimiters of one multipart body."""
        raw = self.raw
        pattern = re.compile(b"--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")
        delimiters = [
            (match.start(), match.end(), match.group(1) is not None)
            for match in pattern.finditer(raw, start, stop)
            if match.start() == start or raw[match.start() - 1] in b"\r\n"
        ]
        if not delimiters or delimiters[0][2]:
            raise Unsafe("multipart boundary not found")
        parts: list[tuple[int, int]] = []
        for (_, opened_end, closing), following in zip(
            delimiters, [*delimiters[1:], None], strict=True
        ):
            if closing:
                if following is not None:
                    raise Unsafe("boundary delimiter after the closing delimiter")
                return parts
            if following is None:
                break
            if following[0] == opened_end:
                raise Unsafe("two boundary delimiters with no part between them")
            parts.append((opened_end, following[0]))
        raise Unsafe("multipart without its closing delimiter")


def _check_content_type_fields(block: HeaderBlock) -> None:
    """Fields mail programs may read differently (inspection calls the part ambiguous)."""
    for name in ("Content-Type", "Content-Transfer-Encoding"):
        if sum(1 for f in block.fields if (f.name or "").lower() == name.lower()) > 1:
            raise Unsafe(f"several {name} fields in one entity")
    dispositions = {
        " ".join(str(value).lower().split())
        for value in block.headers.get_all("content-disposition", [])
    }
    if len(dispositions) > 1:
        raise Unsafe("different Content-Disposition fields in one entity")


def _check_identity_encoding(headers: Message, content_type: str) -> None:
    encoding = str(headers.get("content-transfer-encoding", "")).strip().lower()
    if encoding not in _IDENTITY_ENCODINGS:
        raise Unsafe(f"{content_type} with Content-Transfer-Encoding {encoding[:20]}")


def _boundary(headers: Message, outer: tuple[bytes, ...]) -> bytes:
    if sum(1 for name, _ in headers.get_params([]) if name.lower() == "boundary") > 1:
        raise Unsafe("boundary parameter given twice")
    boundary = headers.get_boundary()
    if not boundary:
        raise Unsafe("multipart without a boundary")
    if "\r" in boundary or "\n" in boundary:
        raise Unsafe("boundary with a line break")
    encoded = boundary.encode("ascii", "surrogateescape")
    if encoded in outer:
        raise Unsafe("nested multipart reuses an outer boundary")
    return encoded


def content(raw: bytes, entity: Entity) -> bytes | None:
    """A leaf's body with its transfer encoding undone; None when that cannot be done exactly
    (damaged base64, an unknown encoding), so nothing is rewritten from a guess."""
    body = raw[entity.body_start : entity.end]
    encoding = str(entity.header.headers.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        data, damage = decode_base64(body)
        return None if damage is not None else data
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    if encoding in _IDENTITY_ENCODINGS:
        return body
    return None
