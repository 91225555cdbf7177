"""Carry out the modifying actions on the raw message (encrypt, Bcc, tag); runs in a scanner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dlp_proxy.actions.encrypt import UNAMBIGUOUS, EncryptedFile, encrypt_attachments, new_password
from dlp_proxy.actions.rewrite import (
    NotRewritable,
    prepend_headers,
    set_visible_recipients,
    signature,
)
from dlp_proxy.decide import Decision
from dlp_proxy.inspect.model import Attachment
from dlp_proxy.inspect.recipients import Domains
from dlp_proxy.policy.load import Policy

# Actions that change the message that goes out now (a held message changes on release).
MODIFYING = frozenset({"encrypt", "bcc", "tag"})


@dataclass(frozen=True, slots=True)
class Modified:
    """The message to relay, and what was done to it; ``problem`` says why it could not be."""

    content: bytes = field(repr=False)
    password: str | None = field(default=None, repr=False)
    encrypted: tuple[EncryptedFile, ...] = ()
    hidden: int = 0
    tagged: bool = False
    problem: str | None = None


def _section_key(section: str) -> tuple[int, ...]:
    return tuple(int(part) for part in section.split(".") if part.isdigit())


@dataclass(frozen=True, slots=True)
class Changes:
    """What to change in a message: taken from a decision now, or stored with held mail and
    carried out when it is released."""

    encrypt: bool = False
    encrypt_all: bool = False
    bcc: bool = False
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def any(self) -> bool:
        return self.encrypt or self.bcc or bool(self.tags)

    @classmethod
    def of(cls, decision: Decision, policy: Policy, queue_id: str) -> Changes:
        actions = set(decision.actions)
        rules = {rule.name: rule for rule in policy.rules}
        return cls(
            encrypt="encrypt" in actions,
            encrypt_all=any(
                result.mode == "enforce"
                and "encrypt" in result.actions
                and result.name in rules
                and rules[result.name].encrypt_attachments == "all"
                for result in decision.rules
            ),
            bcc="bcc" in actions,
            tags=tuple(tags(decision, queue_id)) if "tag" in actions else (),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "encrypt": self.encrypt,
            "encrypt_all": self.encrypt_all,
            "bcc": self.bcc,
            "tags": [list(pair) for pair in self.tags],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Changes:
        pairs = data.get("tags") or []
        assert isinstance(pairs, list)
        return cls(
            encrypt=bool(data.get("encrypt")),
            encrypt_all=bool(data.get("encrypt_all")),
            bcc=bool(data.get("bcc")),
            tags=tuple((str(name), str(value)) for name, value in pairs),
        )


def sections_to_encrypt(attachments: Sequence[Attachment], *, every_one: bool) -> list[str]:
    """The MIME parts to replace by zips: those carrying personal data or that could not be
    read; every attachment when ``every_one`` or none is flagged."""
    sections = {a.section for a in attachments if a.section}
    flagged = {a.section for a in attachments if a.section and (a.personal_rows or a.unscannable)}
    chosen = sections if every_one or not flagged else flagged
    return sorted(chosen, key=_section_key)


def tags(decision: Decision, queue_id: str) -> list[tuple[str, str]]:
    return [
        ("X-DLP-Decision", " ".join(decision.actions)),
        ("X-DLP-Rules", ", ".join(r.name for r in decision.enforced_rules) or "none"),
        ("X-DLP-Policy", decision.policy_version),
        ("X-DLP-Queue-ID", queue_id),
    ]


def modify(
    raw: bytes,
    changes: Changes,
    *,
    attachments: Sequence[Attachment],
    policy: Policy,
    internal: Domains,
    sender: str,
) -> Modified:
    """Encrypt, convert to Bcc and tag, in that order, as ``changes`` asks.

    A signed message (S/MIME, PGP) is never modified by encrypt or Bcc conversion, nor is one
    whose structure cannot be rewritten exactly: the result then carries a ``problem``.
    """
    content = raw
    sections = (
        sections_to_encrypt(attachments, every_one=changes.encrypt_all) if changes.encrypt else []
    )
    if sections and not sender:
        return Modified(raw, problem="no sender to give the password of the encrypted copy to")
    if sections or changes.bcc:
        signed = signature(raw)
        if signed is not None:
            return Modified(raw, problem=f"the message is signed or encrypted ({signed})")
    password = None
    encrypted: list[EncryptedFile] = []
    hidden: list[str] = []
    try:
        if sections:
            options = policy.config.encrypt
            password = new_password(
                length=options.password_length,
                alphabet=options.password_alphabet or UNAMBIGUOUS,
            )
            content, encrypted = encrypt_attachments(content, sections, password, filenames={})
        if changes.bcc:
            keep_internal = policy.config.bcc.keep_internal_visible
            content, hidden = set_visible_recipients(
                content, keep=lambda address: keep_internal and internal.is_internal(address)
            )
    except NotRewritable as exc:
        return Modified(raw, problem=f"the message cannot be rewritten safely: {exc}")
    if changes.tags:
        content = prepend_headers(content, changes.tags)
    return Modified(
        content,
        password=password,
        encrypted=tuple(encrypted),
        hidden=len(hidden),
        tagged=bool(changes.tags),
    )
