"""Who sees the message: internal or external, shown in To/Cc or envelope-only (Bcc)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

VISIBLE_HEADERS = ("To", "Cc", "Resent-To", "Resent-Cc")


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
    """The organisation's own domains; with ``subdomains``, ``a.example.jp`` is internal too."""

    def __init__(self, domains: Iterable[str], *, subdomains: bool = True) -> None:
        self._domains = frozenset(d.lower().strip(".") for d in domains)
        self._subdomains = subdomains

    def is_internal(self, address: str) -> bool:
        domain = domain_of(address)
        if domain in self._domains:
            return True
        if self._subdomains:
            parts = domain.split(".")
            return any(".".join(parts[i:]) in self._domains for i in range(1, len(parts)))
        return False


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".").lower()


def normalise(address: str) -> str:
    return address.strip().strip("<>").lower()


def header_addresses(message: Message, names: Sequence[str] = VISIBLE_HEADERS) -> list[str]:
    """Addresses listed in the given header fields; malformed entries are skipped, not fatal."""
    values: list[str] = []
    for name in names:
        values.extend(str(value) for value in message.get_all(name, []))
    return [normalise(addr) for _, addr in getaddresses(values) if "@" in addr]


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
    return Recipients(
        internal=len(rcpts) - len(external_rcpts),
        external=len(external_rcpts),
        external_visible=len(external_visible),
        external_envelope_only=len(external_rcpts - visible),
        external_domains=tuple(sorted({domain_of(a) for a in external_rcpts | external_visible})),
        sender=sender,
        from_address=from_address,
        from_mismatch=bool(sender and from_address and sender != from_address),
    )
