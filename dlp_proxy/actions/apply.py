"""Carry out the modifying actions on the raw message (encrypt, Bcc, tag); runs in a scanner."""

from __future__ import annotations

from collections.abc import Sequence
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


def sections_to_encrypt(
    decision: Decision, attachments: Sequence[Attachment], policy: Policy
) -> list[str]:
    """The MIME parts to replace by zips: those carrying personal data or that could not be
    read; every attachment when a rule says ``encrypt_attachments: all`` or none is flagged."""
    rules = {rule.name: rule for rule in policy.rules}
    every_one = any(
        result.mode == "enforce"
        and "encrypt" in result.actions
        and result.name in rules
        and rules[result.name].encrypt_attachments == "all"
        for result in decision.rules
    )
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
    *,
    decision: Decision,
    attachments: Sequence[Attachment],
    policy: Policy,
    internal: Domains,
    queue_id: str,
    sender: str,
) -> Modified:
    """Apply what ``decision.actions`` asks of encrypt, bcc and tag, in that order.

    A signed message (S/MIME, PGP) is never modified by encrypt or Bcc conversion, nor is one
    whose structure cannot be rewritten exactly: the result then carries a ``problem``.
    """
    actions = set(decision.actions)
    content = raw
    sections = sections_to_encrypt(decision, attachments, policy) if "encrypt" in actions else []
    if sections and not sender:
        return Modified(raw, problem="no sender to give the password of the encrypted copy to")
    if sections or "bcc" in actions:
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
        if "bcc" in actions:
            keep_internal = policy.config.bcc.keep_internal_visible
            content, hidden = set_visible_recipients(
                content, keep=lambda address: keep_internal and internal.is_internal(address)
            )
    except NotRewritable as exc:
        return Modified(raw, problem=f"the message cannot be rewritten safely: {exc}")
    if "tag" in actions:
        content = prepend_headers(content, tags(decision, queue_id))
    return Modified(
        content,
        password=password,
        encrypted=tuple(encrypted),
        hidden=len(hidden),
        tagged="tag" in actions,
    )
