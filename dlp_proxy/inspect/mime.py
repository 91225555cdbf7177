"""Walk every leaf of a message: file names and contents decoded, damage noted, never raising."""

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
from dlp_proxy.inspect.model import Unscannable

# Deeper multipart nesting than this is an attack, not mail.
MAX_MIME_DEPTH = 60
# Header text decoded for display (subjects in notices and the web UI), in characters.
HEADER_SOURCE_LIMIT = 32768
_ATTACHED_MESSAGES = frozenset({"message/rfc822", "message/global"})
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_PADDING = re.compile(rb"=+")
_WHITESPACE = b" \t\r\n\x0b\x0c"
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BOUNDARY_LINE = re.compile(rb"^--([^\r\n]{1,70}?)(--)?[ \t]*\r?$", re.MULTILINE)
_HEADER_START = re.compile(rb"[!-9;-~]+:")
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf of the MIME tree, or an attached message (``message=True``, parts follow).

    ``path`` names it for people: its file name, else ``part 2.1`` (IMAP section numbers),
    under the path of any attached message it sits in. ``depth`` counts those messages.
    ``section`` is that IMAP section number, the key actions/mimetree.py rewrites by; None
    for parts recovered from a damaged structure (they cannot be rewritten safely).
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


def walk(raw: bytes) -> Iterator[Part]:
    """Yield the leaves of a message in order; malformed structure yields what can be recovered
    plus a part carrying the damage."""
    try:
        message = message_from_bytes(raw, policy=compat32)
    except RecursionError:
        yield _lost("message", "MIME nesting too deep to parse", reason="limit")
        return
    except Exception as exc:
        yield _lost("message", f"message unparseable ({type(exc).__name__})")
        return
    yield from _entity(message, section="", prefix="", depth=0, nesting=0)


def _lost(path: str, detail: str, *, reason: str = "corrupt", data: bytes = b"") -> Part:
    problem = Unscannable("limit" if reason == "limit" else "corrupt", detail)
    return Part(path, False, "application/octet-stream", None, data, 0, damage=problem)


def _child(section: str, index: int) -> str:
    return f"{section}.{index}" if section else str(index)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _entity(
    entity: Message, *, section: str, prefix: str, depth: int, nesting: int
) -> Iterator[Part]:
    if nesting > MAX_MIME_DEPTH:
        yield _lost(_join(prefix, f"part {section}"), "MIME nesting too deep", reason="limit")
        return
    content_type = _content_type(entity)
    payload = _payload(entity)
    if isinstance(payload, list):
        if content_type in _ATTACHED_MESSAGES:
            yield from _attached(entity, payload, section=section, prefix=prefix, depth=depth)
        elif content_type.startswith("multipart/"):
            for index, child in enumerate(payload, 1):
                if isinstance(child, Message):
                    yield from _entity(
                        child,
                        section=_child(section, index),
                        prefix=prefix,
                        depth=depth,
                        nesting=nesting + 1,
                    )
        return  # message/delivery-status and kin: header blocks, no content
    if content_type.startswith("multipart/"):
        yield from _broken_multipart(
            entity, section=section, prefix=prefix, depth=depth, nesting=nesting
        )
        return
    yield _leaf(entity, section=section or "1", prefix=prefix, depth=depth)


def _attached(
    entity: Message, payload: Sequence[object], *, section: str, prefix: str, depth: int
) -> Iterator[Part]:
    name = filename(entity)
    path = _join(prefix, name or f"part {section or '1'}")
    yield Part(
        path,
        name is not None,
        _content_type(entity),
        None,
        b"",
        depth,
        message=True,
        section=section or "1",
    )
    for inner in payload:
        if isinstance(inner, Message):
            yield from _entity(inner, section=section, prefix=path, depth=depth + 1, nesting=0)


def _broken_multipart(
    entity: Message, *, section: str, prefix: str, depth: int, nesting: int
) -> Iterator[Part]:
    """A multipart whose boundary is missing or never appears: split it on a guessed boundary,
    else hand its whole body on as one damaged part."""
    body = _raw_payload(entity)
    boundary = _guess_boundary(body)
    if boundary is not None:
        header = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
        recovered = message_from_bytes(header + body, policy=compat32)
        if isinstance(recovered.get_payload(), list):
            yield from _entity(
                recovered, section=section, prefix=prefix, depth=depth, nesting=nesting + 1
            )
            return
    path = _join(prefix, f"part {section or '1'}")
    problem = Unscannable("corrupt", "multipart without a usable boundary; parts not separated")
    yield Part(path, False, "text/plain", None, body, depth, damage=problem)


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


def _leaf(entity: Message, *, section: str, prefix: str, depth: int) -> Part:
    name = filename(entity)
    content_type = _content_type(entity)
    data, damage = _decoded(entity)
    try:
        charset = entity.get_content_charset()
    except Exception:
        charset = None
    path = _join(prefix, name or f"part {section}")
    return Part(
        path, name is not None, content_type, charset, data, depth, damage=damage, section=section
    )


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


def _decoded(entity: Message) -> tuple[bytes, Unscannable | None]:
    """The part's content with its transfer encoding undone, and damage found on the way."""
    encoding = str(entity.get("content-transfer-encoding", "")).strip().strip('"').lower()
    if encoding == "base64":
        return decode_base64(_raw_payload(entity))
    try:
        data = entity.get_payload(decode=True)
    except Exception as exc:
        problem = Unscannable("corrupt", f"{encoding or '7bit'} content undecodable ({exc})")
        return _raw_payload(entity), problem
    return (data if isinstance(data, bytes) else b""), None


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
