"""Who sees the message: internal or external, shown in To/Cc or envelope-only (Bcc)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message

VISIBLE_HEADERS = ("To", "Cc", "Resent-To", "Resent-Cc")
# Routing operators followed in a local part; more than this many hops is routed all the same.
MAX_HOPS = 16
# Address fields of one message read exactly, in bytes; the rest coarsely (every word that
# holds an "@" counts as an address: never fewer than the field shows).
MAX_EXACT = 64 << 10
# Addresses taken from a message's fields at most: every rule's threshold is far below, and
# each costs a few microseconds (a field of millions of them must not outlast the scan).
MAX_ADDRESSES = 100_000
_COARSE_SEPARATORS = re.compile(rb'[\s<>,;:()"\[\]]+')

# Address lists are read by the loop below, not email.utils.getaddresses: that one recurses
# once per group (`a: b: c: ...`) and per nested comment, so a header of thousands of them
# raised RecursionError, and it copies a group's list for every member (quadratic time).
_ORDINARY = re.compile(rb'[^"(\[\x1b=<>:,;\s]+')
_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")
_JIS_BACK = re.compile(rb"\x1b\([BJ]")


@dataclass(frozen=True, slots=True)
class Recipients:
    """Counts for the policy; addresses only by domain, so findings stay small and shareable."""

    internal: int
    external: int
    external_visible: int
    external_envelope_only: int
    external_domains: tuple[str, ...]
    sender: str
    from_address: str | None
    from_mismatch: bool

    def as_json(self) -> dict[str, int]:
        return {
            "internal": self.internal,
            "external_visible": self.external_visible,
            "external_envelope_only": self.external_envelope_only,
            "external_domains": len(self.external_domains),
        }


class Domains:
    """The organisation's own domains; with ``subdomains``, ``a.example.jp`` is internal too.

    An address that routes elsewhere (see ``route``) is never internal, whatever its domain.
    """

    def __init__(self, domains: Iterable[str], *, subdomains: bool = True) -> None:
        self._domains = frozenset(d.lower().strip(".") for d in domains)
        self._subdomains = subdomains

    def is_internal(self, address: str) -> bool:
        return not route(address) and self.is_internal_domain(domain_of(address))

    def is_internal_domain(self, domain: str) -> bool:
        if domain in self._domains:
            return True
        if self._subdomains:
            parts = domain.split(".")
            return any(".".join(parts[i:]) in self._domains for i in range(1, len(parts)))
        return False

    def reached(self, address: str) -> tuple[str, ...]:
        """The domains that decide where mail to ``address`` goes: its domain; for a routed
        address the domains it routes through, and its own domain unless that is internal."""
        hops = tuple(hop for hop in route(address) if hop)
        domain = domain_of(address)
        if not hops:
            return (domain,)
        return hops if self.is_internal_domain(domain) else (*hops, domain)


def domain_of(address: str) -> str:
    """The domain after the address's last "@" (where the first hop delivers it)."""
    return address.rpartition("@")[2].strip().strip(".").lower()


def route(address: str) -> tuple[str, ...]:
    """The domains an address sends mail on to after the domain it names, in the order mail
    reaches them; empty for a plain address.

    Routing is a source route (``@a,@b:user@c``) or an operator in the local part, quoted or
    not, as a mail server for the named domain may follow it (Postfix's resolver does):
    ``"user@b"@c``, ``b!user@c`` (bang path, swap_bangpath), ``user%b@c`` (percent hack).
    An operator with no domain after it gives an empty string: still routed.
    """
    text = address.strip().strip("<>")
    hops: list[str] = []
    if text.startswith("@"):
        colon = _route_end(text)
        if colon > 0:
            hops += [hop.strip(" \t@").lower() for hop in text[:colon].split(",")]
            text = text[colon + 1 :]
    local = text.rpartition("@")[0] if "@" in text else text
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    for _ in range(MAX_HOPS):
        if "@" in local:
            local, _, hop = local.rpartition("@")
        elif "!" in local:
            hop, _, local = local.partition("!")
        elif "%" in local:
            local, _, hop = local.rpartition("%")
        else:
            break
        hops.append(hop.strip().strip(".").lower())
    else:
        if any(operator in local for operator in "@!%"):
            hops.append("")
    return tuple(hops)


def _route_end(text: str) -> int:
    """The colon that ends a source route, outside domain literals; -1 when there is none."""
    literal = False
    for index, char in enumerate(text):
        if char == "[":
            literal = True
        elif char == "]":
            literal = False
        elif char == ":" and not literal:
            return index
    return -1


def normalise(address: str) -> str:
    return address.strip().strip("<>").lower()


def header_addresses(message: Message, names: Sequence[str] = VISIBLE_HEADERS) -> list[str]:
    """Addresses listed in the given header fields; malformed entries are skipped, not fatal.
    The first ``MAX_EXACT`` bytes of fields are read exactly, the rest coarsely; at most
    ``MAX_ADDRESSES`` are returned."""
    found: list[str] = []
    budget = MAX_EXACT
    for name in names:
        for value in message.get_all(name, []):
            raw = str(value).encode("utf-8", "surrogateescape")
            if len(raw) <= budget:
                budget -= len(raw)
                addresses = mailboxes(raw)
            else:
                addresses = coarse_mailboxes(raw)
            room = MAX_ADDRESSES - len(found)
            found += [normalise(a) for a in addresses[:room] if "@" in a]
            if len(found) >= MAX_ADDRESSES:
                return found
    return found


def coarse_mailboxes(value: bytes) -> list[str]:
    """Every word of an address list that holds an "@", split at white space and address
    syntax, in C: for fields too long to read exactly in the time a scan has."""
    return [
        word.decode("utf-8", "surrogateescape")
        for word in _COARSE_SEPARATORS.split(value)
        if b"@" in word
    ]


def mailboxes(value: bytes) -> list[str]:
    """The addr-specs of an address list (RFC 5322 with obsolete forms), as written.

    One pass, no recursion: groups at any depth (``a: b: x@y;;``) lose their names, comments
    go, a route-addr keeps its source route, entries with no angle brackets give each word
    that holds an address (``a@x b@y``, a missing comma) or, failing that, all their words
    joined (``a @ x . example``). Quoted strings, encoded words, domain literals and raw
    ISO-2022-JP are taken whole, so the bytes in them are never syntax.
    """
    return [address.decode("utf-8", "surrogateescape") for address in _mailboxes(value) if address]


def _mailboxes(value: bytes) -> list[bytes]:
    state = _ListState()
    index, end = 0, len(value)
    while index < end:
        plain = _ORDINARY.match(value, index)
        if plain is not None:
            state.text(plain.group())
            index = plain.end()
            continue
        taken = _token_end(value, index)
        if taken > index:
            state.text(value[index:taken])
            index = taken
            continue
        char = value[index : index + 1]
        if char == b"(":
            index = comment_end(value, index)
            state.text(b" ")
            continue
        index += 1
        if char in (b" ", b"\t", b"\r", b"\n"):
            state.text(b" ")
        else:
            state.syntax(char)
    return state.close(last=True)


class _ListState:
    """Where one pass over an address list is: the entry so far, its angle-addrs."""

    def __init__(self) -> None:
        self.found: list[bytes] = []
        self.entry = bytearray()  # outside angle brackets; comments and folds as spaces
        self.angles: list[bytes] = []
        self.angle: bytearray | None = None

    def text(self, data: bytes) -> None:
        if self.angle is None:
            self.entry += data
        else:
            self.angle += data

    def syntax(self, char: bytes) -> None:
        if self.angle is not None:
            if char == b">":
                self.angles.append(bytes(self.angle))
                self.angle = None
            elif char == b"<":
                self.angle = bytearray()  # `<<<x>>>`: the innermost opening counts
            else:
                self.angle += char
        elif char == b"<":
            self.angle = bytearray()
        elif char == b":":
            self.entry.clear()  # what came before was a group's name
        elif char in (b",", b";"):
            self.close()
        else:
            self.entry += char

    def close(self, *, last: bool = False) -> list[bytes]:
        if last and self.angle is not None:
            self.angles.append(bytes(self.angle))
        self.found += _entry(bytes(self.entry), self.angles)
        self.entry = bytearray()
        self.angles = []
        return self.found


def _token_end(value: bytes, index: int) -> int:
    """The end of a quoted string, domain literal, encoded word or ISO-2022-JP run starting at
    ``index``; ``index`` itself when none starts there."""
    char = value[index : index + 1]
    if char == b'"':
        return quoted_end(value, index)
    if char == b"[":
        close = value.find(b"]", index)
        return len(value) if close < 0 else close + 1
    if char == b"\x1b" and not _JIS_BACK.match(value, index):
        back = _JIS_BACK.search(value, index + 1)
        return back.end() if back else len(value)
    if char == b"=":
        word = _ENCODED_WORD.match(value, index)
        return word.end() if word else index
    return index


def quoted_end(value: bytes, index: int) -> int:
    """Where the quoted string starting at ``index`` ends (after its closing quote)."""
    index += 1
    while index < len(value):
        char = value[index : index + 1]
        if char == b"\\":
            index += 2
        elif char == b'"':
            return index + 1
        else:
            index += 1
    return len(value)


def comment_end(value: bytes, index: int) -> int:
    """Where the (nested) comment starting at ``index`` ends, counting depth, not recursing."""
    depth = 0
    while index < len(value):
        char = value[index : index + 1]
        if char == b"\\":
            index += 2
            continue
        if char == b"(":
            depth += 1
        elif char == b")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(value)


def _entry(entry: bytes, angles: list[bytes]) -> Iterator[bytes]:
    if angles:
        for inner in angles:
            yield b"".join(_words(inner))
        return
    words = _words(entry)
    whole = [word for word in words if 0 < word.rfind(b"@") < len(word) - 1]
    if whole:
        yield from whole
    elif any(b"@" in word for word in words):
        yield b"".join(words)


def _words(text: bytes) -> list[bytes]:
    """``text`` split at white space outside quoted strings and domain literals."""
    words: list[bytes] = []
    current = bytearray()
    index = 0
    while index < len(text):
        taken = _token_end(text, index)
        if taken > index:
            current += text[index:taken]
            index = taken
            continue
        char = text[index : index + 1]
        if char in (b" ", b"\t", b"\r", b"\n"):
            if current:
                words.append(bytes(current))
                current = bytearray()
        else:
            current += char
        index += 1
    if current:
        words.append(bytes(current))
    return words


def analyse(
    message: Message, *, envelope_from: str, envelope_to: Sequence[str], internal: Domains
) -> Recipients:
    visible = set(header_addresses(message))
    external_visible = {a for a in visible if not internal.is_internal(a)}
    rcpts = {normalise(a) for a in envelope_to}
    external_rcpts = {a for a in rcpts if not internal.is_internal(a)}
    from_list = header_addresses(message, ("From",))
    from_address = from_list[0] if from_list else None
    sender = normalise(envelope_from)
    domains = {d for a in external_rcpts | external_visible for d in internal.reached(a)}
    return Recipients(
        internal=len(rcpts) - len(external_rcpts),
        external=len(external_rcpts),
        external_visible=len(external_visible),
        external_envelope_only=len(external_rcpts - visible),
        external_domains=tuple(sorted(domains)),
        sender=sender,
        from_address=from_address,
        from_mismatch=bool(sender and from_address and sender != from_address),
    )
