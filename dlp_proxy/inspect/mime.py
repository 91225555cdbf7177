"""Walk every leaf of a message: file names and contents decoded, damage noted, never raising.

Where mail programs can disagree about what a message contains (docs/inspection.md,
"Ambiguous structure"), the part, or for a multipart a record of its own, is *ambiguous*;
every reading that can be made is walked, none is chosen.
"""

from __future__ import annotations

import binascii
import quopri
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from dlp_proxy.inspect import charsets
from dlp_proxy.inspect.model import Unscannable, UnscannableReason

# Deeper nesting than this (multiparts and attached messages together) is an attack, not mail.
MAX_MIME_DEPTH = 60
# Header text decoded for display (subjects in notices and the web UI), in characters.
HEADER_SOURCE_LIMIT = 32768
# Parts made of header fields (RFC 3464 and 6533 delivery status, RFC 8098 MDNs, RFC 5965
# feedback reports, RFC 6533 returned headers): read as the text they are.
HEADER_BLOCKS = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/global-disposition-notification",
        "message/feedback-report",
        "message/global-headers",
    }
)
IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
STANDARD_ENCODINGS = IDENTITY_ENCODINGS | {"base64", "quoted-printable"}
# Declared base64 whose characters are more than this share junk is not base64 text at all:
# mail programs may decode it (to garbage) or show it as written.
NOT_BASE64_SHARE = 0.05
# Readings made of one ambiguous part at most (declared encodings, later Content-Types):
# thousands of fields must not mean thousands of decodings of one body.
MAX_READINGS = 4
# The email package's parameter parser takes time in proportion to a field's length times its
# semicolons (it runs while parsing, for every multipart's boundary, and again for charsets and
# names): a message whose Content-Type and Content-Disposition fields add up to more than this
# is not parsed. Real mail stays far below (a long RFC 2231 name costs about 100K).
MAX_PARAMETER_WORK = 32 << 20
_PARAMETER_FIELD = re.compile(
    rb"content-(?:type|disposition)[ \t]*:[^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*",
    re.IGNORECASE,
)
_PARAMETER_FIELD_LATER = re.compile(rb"[\r\n]" + _PARAMETER_FIELD.pattern, re.IGNORECASE)
_CONTENT_FIELDS = frozenset({"content-type", "content-transfer-encoding", "content-disposition"})
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_INNER_SPACE = re.compile(rb"(?<=[^\s])[ \t]+(?=[^\s])")
_PADDING = re.compile(rb"=+")
_WHITESPACE = b" \t\r\n\x0b\x0c"
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BOUNDARY_LINE = re.compile(rb"^--([^\r\n]{1,70}?)(--)?[ \t]*\r?$", re.MULTILINE)
_HEADER_START = re.compile(rb"[!-9;-~]+:")
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_BOUNDARY_NAME = re.compile(r"boundary(?:\*(\d+))?(\*)?")
# A quoted string, a parameter's name (after ";", before "="), or a run of anything else.
_PARAMETER_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|;([^=;"]*)=|[^";]+|;')


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf of the MIME tree, an attached message (``message=True``, its parts follow), or
    a multipart's own record (``structure=True``: no content, listed for its ``damage``).

    ``path`` names it for people: its file name, else ``part 2.1`` (IMAP section numbers),
    under the path of any attached message it sits in; a whole message's own structure is
    ``message``. ``depth`` counts the attached messages around it. ``section`` is that IMAP
    section number, the key actions/mimetree.py rewrites by; None for records of structure.
    A leaf read more than one way (an ambiguous transfer encoding) is yielded once per reading,
    with the same path and section.
    """

    path: str
    named: bool
    content_type: str
    charset: str | None
    data: bytes
    depth: int
    message: bool = False
    damage: Unscannable | None = None
    section: str | None = None
    structure: bool = False


def walk(raw: bytes, *, max_depth: int | None = None) -> Iterator[Part]:
    """Yield the leaves of a message in order; malformed structure yields what can be recovered
    plus a part carrying the damage. Messages attached deeper than ``max_depth`` are listed
    but not opened."""
    oversized = oversized_fields(raw)
    if oversized is not None:
        yield _lost("message", oversized, reason="limit")
        return
    try:
        message = message_from_bytes(raw, policy=compat32)
    except RecursionError:
        yield _lost("message", "MIME nesting too deep to parse", reason="limit")
        return
    except Exception as exc:
        yield _lost("message", f"message unparseable ({type(exc).__name__})")
        return
    walker = _Walker(MAX_MIME_DEPTH if max_depth is None else max_depth)
    yield from walker.entity(message, _Place("", "", 0, 0, (), root=True))


def oversized_fields(raw: bytes) -> str | None:
    """Why the email package cannot parse ``raw`` in time: its Content-Type and
    Content-Disposition fields (anywhere in it) too long for their many parameters."""
    if raw.count(b";") * len(raw) <= MAX_PARAMETER_WORK:
        return None  # the work below is at most semicolons x field length: within the bound
    first = _PARAMETER_FIELD.match(raw)
    matches = ([first] if first else []) + list(_PARAMETER_FIELD_LATER.finditer(raw))
    work = parameters = 0
    for count, match in enumerate(matches, 1):
        field = match.group()
        semicolons = field.count(b";")
        work += max(semicolons, 1) * len(field)
        parameters += semicolons
        if work > MAX_PARAMETER_WORK:
            return (
                f"{parameters:,} parameters in {count:,} Content-Type and Content-Disposition "
                "field(s): too many to parse"
            )
    return None


def _lost(path: str, detail: str, *, reason: str = "corrupt", data: bytes = b"") -> Part:
    problem = Unscannable("limit" if reason == "limit" else "corrupt", detail)
    return Part(path, False, "application/octet-stream", None, data, 0, damage=problem)


def _child(section: str, index: int) -> str:
    return f"{section}.{index}" if section else str(index)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an entity sits: its section, the path of the message around it, how many
    attached messages and how many levels of nesting in all are above it, the boundaries of
    the multiparts around it, and whether it is the root of a message."""

    section: str
    prefix: str
    depth: int
    nesting: int
    outer: tuple[str, ...]
    root: bool = False

    def part(self, index: int, boundary: str | None) -> _Place:
        outer = (*self.outer, boundary) if boundary else self.outer
        return _Place(_child(self.section, index), self.prefix, self.depth, self.nesting + 1, outer)

    def inside(self, path: str) -> _Place:
        """The root of a message attached at this place."""
        return _Place(self.section, path, self.depth + 1, self.nesting + 1, (), root=True)

    def again(self) -> _Place:
        """The same entity read another way (recovered boundary, decoded transfer encoding)."""
        return _Place(
            self.section, self.prefix, self.depth, self.nesting + 1, self.outer, self.root
        )

    @property
    def name(self) -> str:
        return f"part {self.section or '1'}"

    @property
    def record(self) -> str:
        """The path of a multipart's own record."""
        return _join(self.prefix, "message" if self.root else f"part {self.section}")


class _Walker:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def entity(self, entity: Message, place: _Place) -> Iterator[Part]:
        if place.nesting > MAX_MIME_DEPTH:
            path = _join(place.prefix, place.name)
            yield _lost(path, "MIME nesting too deep", reason="limit")
            return
        content_type = _content_type(entity)
        maintype = content_type.partition("/")[0]
        if content_type in HEADER_BLOCKS:
            yield from self.header_blocks(entity, content_type, place)
        elif content_type in ("message/partial", "message/external-body"):
            yield self.reference(entity, content_type, place)
        elif maintype == "message":
            yield from self.attached(entity, content_type, place)
        elif maintype == "multipart":
            yield from self.multipart(entity, content_type, place)
        else:
            yield from self.leaf(entity, content_type, place)

    def attached(
        self, entity: Message, content_type: str, place: _Place, *, also: Sequence[str] = ()
    ) -> Iterator[Part]:
        """An attached message: its record (carrying any ambiguity of the part), then its
        parts. One sent base64 or quoted-printable (RFC 2046 forbids it; the email package
        reads the encoded text as the message) is decoded and walked: a program that does not
        decode it shows encoded text, so the decoded reading is the one to inspect."""
        problems = [*_ambiguities(entity, place), *also]
        payload = _payload(entity)
        if isinstance(payload, list):
            inner = [m for m in payload if isinstance(m, Message)]
        else:
            inner = [_parse(_raw_payload(entity))]
        encoding = _encodings(entity)[0]
        damage = None
        if encoding not in STANDARD_ENCODINGS:
            problems.append(_encoded_container(content_type, encoding))
        elif encoding not in IDENTITY_ENCODINGS:
            text = _message_text(inner[0]) if len(inner) == 1 else None
            if text is not None and encoding in STANDARD_ENCODINGS:
                decoded, damage = _decode(text, encoding)
                inner = [_parse(decoded)]
        name = filename(entity)
        path = _join(place.prefix, name or place.name)
        yield Part(
            path,
            name is not None,
            content_type,
            None,
            b"",
            place.depth,
            message=True,
            damage=_problem(problems, damage),
            section=place.section or "1",
        )
        if place.depth + 1 > self.max_depth:
            return  # listed; inspection reports it too deep and opens nothing inside
        for message in inner:
            yield from self.entity(message, place.inside(path))

    def multipart(self, entity: Message, content_type: str, place: _Place) -> Iterator[Part]:
        problems = _ambiguities(entity, place)
        encoding = _encodings(entity)[0]
        payload = _payload(entity)
        decoded: Message | None = None
        damage = None
        if encoding not in STANDARD_ENCODINGS:
            problems.append(_encoded_container(content_type, encoding))
        elif encoding not in IDENTITY_ENCODINGS and isinstance(payload, str):
            # Encoded, against RFC 2045 6.4: only a program that decodes it sees its parts.
            data, damage = _decode(_raw_payload(entity), encoding)
            decoded = _parse(_field_bytes(entity, "content-type") + b"\r\n" + data)
        if problems:
            yield Part(
                place.record,
                False,
                content_type,
                None,
                b"",
                place.depth,
                damage=_problem(problems, damage),
                structure=True,
            )
        if decoded is not None and isinstance(_payload(decoded), list):
            entity, payload = decoded, _payload(decoded)
        if isinstance(payload, list):
            boundary = _boundary(entity)
            for index, child in enumerate(payload, 1):
                if isinstance(child, Message):
                    yield from self.entity(child, place.part(index, boundary))
            return
        yield from self.broken_multipart(entity, place)

    def broken_multipart(self, entity: Message, place: _Place) -> Iterator[Part]:
        """A multipart whose boundary is missing or never appears: split it on a guessed
        boundary, else hand its whole body on as one damaged part."""
        body = _raw_payload(entity)
        boundary = _guess_boundary(body)
        if boundary is not None:
            header = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            recovered = message_from_bytes(header + body, policy=compat32)
            if isinstance(recovered.get_payload(), list):
                yield from self.multipart(recovered, "multipart/mixed", place.again())
                return
        path = _join(place.prefix, place.name)
        problem = Unscannable("corrupt", "multipart without a usable boundary; parts not separated")
        yield Part(path, False, "text/plain", None, body, place.depth, damage=problem)

    def leaf(self, entity: Message, content_type: str, place: _Place) -> Iterator[Part]:
        """A leaf, once for each reading of its content (two Content-Transfer-Encoding
        fields, base64 that is not base64 text); a Content-Type field after the first that
        makes it a multipart or a message is walked as that too."""
        problems = _ambiguities(entity, place)
        name = filename(entity)
        try:
            charset = entity.get_content_charset()
        except Exception:
            charset = None
        section = place.section or "1"
        path = _join(place.prefix, name or f"part {section}")
        readings = _readings(entity)
        problems += dict.fromkeys(why for _, _, why, _ in readings if why)
        for data, damage, _why, how in readings:
            said = [*problems, how] if problems and len(readings) > 1 else problems
            yield Part(
                path,
                name is not None,
                content_type,
                charset,
                data,
                place.depth,
                damage=_problem(said, damage),
                section=section,
            )
        others = dict.fromkeys(_fields(entity, "content-type")[1:])
        for other in list(others)[:MAX_READINGS]:
            declared = other.split(";", 1)[0].strip().lower()
            if declared.startswith(("multipart/", "message/")):
                again = _parse(
                    b"Content-Type: "
                    + other.encode("ascii", "surrogateescape")
                    + b"\r\n\r\n"
                    + _raw_payload(entity)
                )
                yield from self.entity(again, place.again())

    def header_blocks(self, entity: Message, content_type: str, place: _Place) -> Iterator[Part]:
        """Delivery status and kin: header fields, read as text. message/delivery-status is
        parsed block by block, each ending at a blank line, so no block holds a MIME body; a
        message/global-* part the email package found one in is not what it says: ambiguous,
        and walked as a message."""
        inner = [m for m in _payload_list(entity) if isinstance(m, Message)]
        if content_type == "message/delivery-status":
            texts = [_block_text(block) for block in inner]
        else:
            texts = [_message_text(block) or b"" for block in inner]
            if any(_message_text(block) is None for block in inner):
                problem = f"{content_type} holds a MIME body, not header fields; read as a message"
                yield from self.attached(entity, content_type, place, also=[problem])
                return
        data = b"\r\n".join(texts)
        problems = _ambiguities(entity, place)
        damage = None
        encoding = _encodings(entity)[0]
        if encoding not in IDENTITY_ENCODINGS:
            if encoding in STANDARD_ENCODINGS:
                data, damage = _decode(data, encoding)
            else:
                problems.append(_unknown_encoding(encoding))
        name = filename(entity)
        yield Part(
            _join(place.prefix, name or place.name),
            name is not None,
            content_type,
            None,
            data,
            place.depth,
            damage=_problem(problems, damage),
            section=place.section or "1",
        )

    def reference(self, entity: Message, content_type: str, place: _Place) -> Part:
        """message/partial (a fragment that mail programs may join with others sent apart)
        and message/external-body (content that is not in the mail)."""
        inner = [m for m in _payload_list(entity) if isinstance(m, Message)]
        text = _message_text(inner[0]) if len(inner) == 1 else None
        reason: UnscannableReason
        if content_type == "message/partial":
            reason = "ambiguous"
            number = _shown(str(entity.get_param("number", "?")), 10)
            total = _shown(str(entity.get_param("total", "?")), 10)
            detail = (
                f"message/partial (fragment {number} of {total}): mail programs may join it "
                "with fragments sent in other mails"
            )
        else:
            reason = "unsupported"
            access = _shown(str(entity.get_param("access-type", "?")), 20)
            detail = f"message/external-body (access-type {access}): the content is elsewhere"
        problems = [*_ambiguities(entity, place), detail]
        return Part(
            _join(place.prefix, place.name),
            False,
            content_type,
            None,
            text or b"",
            place.depth,
            damage=Unscannable(reason if len(problems) == 1 else "ambiguous", "; ".join(problems)),
            section=place.section or "1",
        )


def _problem(problems: Sequence[str], damage: Unscannable | None) -> Unscannable | None:
    """Ambiguity first (it decides what the part is), then damage to what could be read."""
    if not problems:
        return damage
    details = [*problems, *([damage.detail] if damage is not None else [])]
    return Unscannable("ambiguous", "; ".join(details))


def _fields(entity: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [str(value) for key, value in entity.raw_items() if key.lower() == wanted]


def _field_bytes(entity: Message, name: str) -> bytes:
    """The first ``name`` field as a header line (bytes as sent), or nothing."""
    values = _fields(entity, name)
    if not values:
        return b""
    return name.encode() + b": " + values[0].encode("ascii", "surrogateescape") + b"\r\n"


def _ambiguities(entity: Message, place: _Place) -> list[str]:
    """What mail programs may read differently in this entity's header fields: one detail
    each, naming the field."""
    found: list[str] = []
    fields: dict[str, list[str]] = {}
    for key, value in entity.raw_items():
        if key.lower() in _CONTENT_FIELDS:
            fields.setdefault(key.lower(), []).append(str(value))
    for name in ("Content-Type", "Content-Transfer-Encoding"):
        count = len(fields.get(name.lower(), ()))
        if count > 1:
            found.append(f"{count} {name} fields")
    dispositions = {" ".join(v.lower().split()) for v in fields.get("content-disposition", ())}
    if len(dispositions) > 1:
        found.append(f"{len(dispositions)} different Content-Disposition fields")
    if _content_type(entity).startswith("multipart/"):
        if _boundary_given_twice(entity):
            found.append("boundary parameter of Content-Type given more than once")
        boundary = _boundary(entity)
        if boundary is not None and boundary in place.outer:
            found.append("boundary of Content-Type reused from an enclosing multipart")
    return found


def _boundary_given_twice(entity: Message) -> bool:
    """Whether the first Content-Type field names the boundary twice, in any spelling RFC 2231
    allows: ``boundary``, ``boundary*``, or one segment ``boundary*N`` / ``boundary*N*`` twice,
    or more than one of these forms."""
    values = _fields(entity, "content-type")
    if not values:
        return False
    forms: Counter[tuple[str, int]] = Counter()
    for name in _parameter_names(values[0]):
        match = _BOUNDARY_NAME.fullmatch(name)
        if match is None:
            continue
        if match.group(1) is not None:
            forms["segment", int(match.group(1))] += 1
        else:
            forms["extended" if match.group(2) else "plain", 0] += 1
    kinds = {kind for kind, _ in forms}
    return len(kinds) > 1 or any(count > 1 for count in forms.values())


def _parameter_names(value: str) -> list[str]:
    """The parameter names of a structured field value, lower case (quoted strings skipped)."""
    return [
        match.group(1).strip().lower()
        for match in _PARAMETER_TOKEN.finditer(value)
        if match.group(1) is not None
    ]


def _boundary(entity: Message) -> str | None:
    try:
        return entity.get_boundary()
    except Exception:
        return None


def _encodings(entity: Message) -> list[str]:
    """The declared transfer encodings, normalised, in order and without repeats (the first
    ``MAX_READINGS``); ``[""]`` when none is declared."""
    found = [_normalised_encoding(v) for v in _fields(entity, "content-transfer-encoding")]
    return list(dict.fromkeys(found))[:MAX_READINGS] or [""]


def _normalised_encoding(value: str) -> str:
    return value.strip().strip('"').strip().lower()


def _readings(entity: Message) -> list[tuple[bytes, Unscannable | None, str | None, str]]:
    """Each way the leaf's content can be read: (bytes, damage, why that is ambiguous, how
    it was read), without repeats."""
    raw = _raw_payload(entity)
    readings: list[tuple[bytes, Unscannable | None, str | None, str]] = []
    for encoding in _encodings(entity):
        how = f"read as {_shown(encoding, 30) or '7bit'}"
        if encoding == "base64":
            data, damage = decode_base64(raw)
            spaced = (b" " in raw or b"\t" in raw) and _INNER_SPACE.search(raw)
            share = _junk_share(raw) if damage or spaced else 0.0
            if share > NOT_BASE64_SHARE:
                why = f"declared base64, but {share:.0%} of its characters are not base64"
                readings += [(data, damage, why, how), (raw, None, why, "read as written")]
                continue
            readings.append((data, damage, None, how))
        elif encoding in IDENTITY_ENCODINGS:
            readings.append((raw, None, None, how))  # what get_payload(decode=True) gives
        elif encoding in STANDARD_ENCODINGS:
            readings.append((*_decode_with(encoding, raw), None, how))
        else:
            # The email package decodes uuencode and passes other values through: read as
            # it reads it, and as written when that differs.
            why = _unknown_encoding(encoding)
            data, damage = _decode_with(encoding, raw)
            readings.append((data, damage, why, how))
            readings.append((raw, None, why, "read as written"))
    if len(readings) == 1:
        return readings
    unique: dict[bytes, tuple[bytes, Unscannable | None, str | None, str]] = {}
    for reading in readings:
        unique.setdefault(reading[0], reading)
    return list(unique.values())


def _decode_with(encoding: str, raw: bytes) -> tuple[bytes, Unscannable | None]:
    """The email package's decoding of ``raw`` under ``encoding`` (qp, uuencode, identity)."""
    probe = Message(policy=compat32)
    try:
        probe["Content-Transfer-Encoding"] = encoding
        probe.set_payload(raw.decode("ascii", "surrogateescape"))
        data = probe.get_payload(decode=True)
    except Exception as exc:
        problem = Unscannable("corrupt", f"{encoding or '7bit'} content undecodable ({exc})")
        return raw, problem
    return (data if isinstance(data, bytes) else b""), None


def _decode(data: bytes, encoding: str) -> tuple[bytes, Unscannable | None]:
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        return quopri.decodestring(data), None
    return data, None


def _junk_share(text: bytes) -> float:
    """The share of characters in declared base64 that base64 text never has: characters
    outside its alphabet, and spaces inside a line."""
    compact = text.translate(None, _WHITESPACE)
    if not compact:
        return 0.0
    junk = len(_BASE64_JUNK.findall(compact)) + len(_INNER_SPACE.findall(text))
    return junk / len(compact)


def _encoded_container(content_type: str, encoding: str) -> str:
    if content_type.startswith("multipart/"):
        kind, rule = "multipart", "RFC 2045 6.4"
    else:
        kind, rule = content_type, "RFC 2046 5.2.1"
    return (
        f"{kind} with Content-Transfer-Encoding {_shown(encoding, 30)} ({rule} allows only "
        "7bit, 8bit or binary): mail programs differ"
    )


def _unknown_encoding(encoding: str) -> str:
    return f"Content-Transfer-Encoding {_shown(encoding, 30)} is not a standard encoding"


def _shown(value: str, limit: int) -> str:
    """A header value fit for a detail: printable ASCII, cut short."""
    text = "".join(c if " " <= c <= "~" else "?" for c in value.strip())
    return text[:limit] + ("..." if len(text) > limit else "")


def _payload_list(entity: Message) -> list[object]:
    payload = _payload(entity)
    return payload if isinstance(payload, list) else []


def _message_text(message: Message) -> bytes | None:
    """A message the email package parsed, as text again: its header fields and its body;
    None when its body was parsed into parts (that text is gone)."""
    if isinstance(_payload(message), list):
        return None
    head = _header_lines(message)
    body = _raw_payload(message)
    return head + b"\r\n" + body if head else body


def _header_lines(message: Message) -> bytes:
    return b"".join(
        key.encode("ascii", "surrogateescape")
        + b": "
        + str(value).encode("ascii", "surrogateescape")
        + b"\r\n"
        for key, value in message.raw_items()
    )


def _block_text(block: Message, levels: int = 3) -> bytes:
    """A block of a message/delivery-status part as text. A block with a Content-Type of
    message/* or multipart/* was parsed into parts that end at the block's blank line: only
    header fields and a few lines, taken as text too (to a few levels)."""
    text = _message_text(block)
    if text is not None:
        return text
    inner = b"".join(
        _block_text(part, levels - 1)
        for part in _payload_list(block)
        if isinstance(part, Message) and levels > 0
    )
    return _header_lines(block) + b"\r\n" + inner


def _parse(data: bytes) -> Message:
    try:
        return message_from_bytes(data, policy=compat32)
    except RecursionError:
        return message_from_bytes(b"\r\n" + data, policy=compat32)  # a body: read as text


def _guess_boundary(body: bytes) -> bytes | None:
    """The delimiter line that most often introduces a header block, if any does."""
    seen: Counter[bytes] = Counter()
    for match in _BOUNDARY_LINE.finditer(body):
        following = body[match.end() : match.end() + 200].lstrip(b"\r\n")
        if match.group(2) or _HEADER_START.match(following):
            seen[match.group(1).rstrip()] += 1
    for boundary, _count in seen.most_common():
        if b'"' not in boundary:
            return boundary
    return None


def _content_type(entity: Message) -> str:
    try:
        return entity.get_content_type()
    except Exception:
        return "application/octet-stream"


def _payload(entity: Message) -> list[object] | str | bytes:
    """The payload exactly as parsed: a list of parts, or text whose non-ASCII bytes are
    surrogate escapes. ``get_payload()`` would re-decode 8-bit text with the declared charset,
    replacing bytes (or raising on a malformed charset), so read the stored value."""
    payload: object = getattr(entity, "_payload", b"")
    if isinstance(payload, list | str | bytes):
        return payload
    return b""


def _raw_payload(entity: Message) -> bytes:
    payload = _payload(entity)
    if isinstance(payload, bytes):
        return payload
    if not isinstance(payload, str):
        return b""
    try:
        return payload.encode("ascii", "surrogateescape")  # the bytes as they were sent
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogateescape")


def decode_base64(text: bytes) -> tuple[bytes, Unscannable | None]:
    """Decode base64 as far as it goes; junk characters and a cut-off end are damage.

    Padding inside the text starts a new run (some mailers concatenate encoded blocks).
    """
    compact = text.translate(None, _WHITESPACE)
    pad = compact.find(b"=")
    padded_at_end = pad < 0 or (
        pad >= len(compact) - 2 and compact.endswith(b"=" * (len(compact) - pad))
    )
    if len(compact) % 4 == 0 and padded_at_end and not _BASE64_JUNK.search(compact):
        return binascii.a2b_base64(compact), None  # well-formed: one pass, no extra copies
    problems: list[str] = []
    if _BASE64_JUNK.search(compact):
        compact = _BASE64_JUNK.sub(b"", compact)
        problems.append("invalid characters in base64")
    runs = [run for run in _PADDING.split(compact) if run]
    out = bytearray()
    for index, run in enumerate(runs):
        extra = len(run) % 4
        last = index == len(runs) - 1
        if extra == 1 or (extra and last and not compact.endswith(b"=")):
            problems.append("base64 ends mid-group (truncated?)")
        usable = run[: len(run) - 1] if extra == 1 else run
        out += binascii.a2b_base64(usable + b"=" * (-len(usable) % 4))
    return bytes(out), Unscannable("corrupt", "; ".join(problems)) if problems else None


def filename(entity: Message) -> str | None:
    """The attachment's file name, decoded: RFC 2231 with its charset, RFC 2047 encoded words
    (ISO-2022-JP with NEC characters too), or raw 8-bit bytes guessed as UTF-8/cp932/EUC-JP."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        try:
            name = _param(entity, header, param)
        except Exception:
            name = None
        if name:
            return name
    return None


def _param(entity: Message, header: str, param: str) -> str | None:
    raw = next(
        (str(value) for key, value in entity.raw_items() if key.lower() == header),
        None,
    )
    if raw is None:
        return None
    # Re-read the header with each raw byte as one latin-1 character, so 8-bit names survive
    # compat32's parameter parsing and come back as the bytes that were sent.
    holder = Message()
    holder[header] = _FOLD.sub("", raw.encode("ascii", "surrogateescape").decode("latin-1"))
    value = holder.get_param(param, None, header)
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _language, text = value
        name = charsets.decode(text.encode("latin-1", "replace"), charset or None)
    else:
        name = _unstructured(value)
    name = " ".join(name.replace("\x00", "").split()) if name.strip() else ""
    return name.replace("\\", "/").rsplit("/", 1)[-1] or None


def header_text(value: str, *, limit: int = HEADER_SOURCE_LIMIT) -> str:
    """An unstructured header value as people read it (Subject): unfolded, encoded words and
    8-bit text decoded, from at most its first ``limit`` characters (a header of a million
    encoded words is shown by its start, never decoded whole)."""
    try:
        as_latin = value[:limit].encode("ascii", "surrogateescape").decode("latin-1")
    except UnicodeEncodeError:
        return value[:limit]  # a header set by our own code: already decoded text
    return _unstructured(_FOLD.sub("", as_latin))


def _unstructured(value: str) -> str:
    """Decode RFC 2047 encoded words, even inside quotes where mailers put them against the
    rules; a word that does not decode cleanly is kept as written."""
    data = value.encode("latin-1", "replace")
    if b"=?" not in data:
        return charsets.guess(data)
    # (pieces of bytes, charset or None for literal text); adjacent words in one charset are
    # joined before decoding, since ISO-2022-JP escapes may be split across them. Pieces are
    # joined once at the end: adding bytes to a run word by word would take quadratic time.
    runs: list[tuple[list[bytes], str | None]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(data):
        between = data[position : match.start()]
        position = match.end()
        follows_word = bool(runs) and runs[-1][1] is not None
        if between and not (follows_word and not between.strip()):
            runs.append(([between], None))
        charset, raw = _word_bytes(match)
        if charset is None:
            runs.append(([match.group(0)], None))
        elif runs and runs[-1][1] == charset:
            runs[-1][0].append(raw)
        else:
            runs.append(([raw], charset))
    runs.append(([data[position:]], None))
    return "".join(
        charsets.decode(b"".join(pieces), charset) if charset else charsets.guess(b"".join(pieces))
        for pieces, charset in runs
    )


def _word_bytes(match: re.Match[bytes]) -> tuple[str | None, bytes]:
    """The charset and bytes of one encoded word; no charset if it does not decode cleanly."""
    charset = match.group(1).split(b"*", 1)[0].decode("ascii", "replace").lower()
    encoding, text = match.group(2).lower(), match.group(3)
    if encoding == b"q":
        return charset, quopri.decodestring(text.replace(b"_", b" "), header=False)
    raw, damage = decode_base64(text)
    if damage is not None or (text and not raw):
        return None, b""
    return charset, raw
