"""Turn findings, recipients and sender into one decision, with every rule's reasons."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dlp_proxy.inspect.model import Attachment
from dlp_proxy.inspect.recipients import Recipients
from dlp_proxy.policy.directory import SenderInfo
from dlp_proxy.policy.load import Policy
from dlp_proxy.policy.schema import Action, Comparison, Conditions, Mode, Rule, Texts

STRICTNESS: dict[Action, int] = {"pass": 0, "tag": 1, "bcc": 2, "encrypt": 2, "hold": 3, "block": 4}
# What still applies beside the strictest action: a held message is encrypted on release.
COMPOSES_WITH: dict[Action, tuple[Action, ...]] = {
    "block": (),
    "hold": ("encrypt", "bcc", "tag"),
    "encrypt": ("bcc", "tag"),
    "bcc": ("encrypt", "tag"),
    "tag": (),
    "pass": (),
}


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a rule can test."""

    attachments: tuple[Attachment, ...]
    recipients: Recipients
    sender: SenderInfo = field(default_factory=SenderInfo)

    @property
    def personal_rows(self) -> int:
        return sum(a.personal_rows for a in self.attachments)

    @property
    def persons(self) -> int:
        return sum(a.persons for a in self.attachments)


@dataclass(frozen=True, slots=True)
class RuleResult:
    name: str
    matched: bool
    mode: Mode
    actions: tuple[Action, ...]
    reason: Texts
    why: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "matched": self.matched,
            "mode": self.mode,
            "actions": list(self.actions),
            "reason": {"ja": self.reason.ja, "en": self.reason.en},
            "why": list(self.why),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The action to carry out, what else applies with it, and every rule that asked for it.

    ``would`` is the action an enforcing policy would have taken; it differs from ``action``
    only when the whole policy is in monitor mode.
    """

    action: Action
    actions: tuple[Action, ...]
    rules: tuple[RuleResult, ...] = ()
    not_matched: tuple[RuleResult, ...] = ()
    policy_version: str = ""
    mode: Mode = "enforce"
    would: Action = "pass"

    @property
    def enforced_rules(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.mode == "enforce")

    def as_json(self, *, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "actions": list(self.actions),
            "rules": [r.as_json() for r in self.rules],
            "policy_version": self.policy_version,
            "mode": self.mode,
        }
        if self.mode == "monitor":
            out["would"] = self.would
        if explain:
            out["not_matched"] = [r.as_json() for r in self.not_matched]
        return out


PASS = Decision(action="pass", actions=("pass",))

Check = Callable[[Any, Facts], tuple[bool, str]]


def _count(label: str, value: Callable[[Facts], int]) -> Check:
    def check(test: Comparison, facts: Facts) -> tuple[bool, str]:
        actual = value(facts)
        return test.test(actual), f"{label} is {actual} ({test})"

    return check


def _kinds(wanted: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    found = sorted({c.kind for a in facts.attachments for c in a.columns if c.kind in wanted})
    return bool(found), f"columns of kind {', '.join(found) or 'none'} among {', '.join(wanted)}"


def _unscannable(wanted: bool | tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    reasons = sorted({a.unscannable for a in facts.attachments if a.unscannable})
    if isinstance(wanted, bool):
        return bool(reasons) == wanted, f"unscannable attachments: {', '.join(reasons) or 'none'}"
    hit = [r for r in reasons if r in wanted]
    return bool(hit), f"unscannable: {', '.join(reasons) or 'none'} (asked: {', '.join(wanted)})"


def _types(wanted: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    types = sorted({a.type for a in facts.attachments})
    hit = [t for t in types if t in wanted]
    return bool(hit), f"attachment types {', '.join(types) or 'none'} (asked: {', '.join(wanted)})"


def _domain_in(domain: str, listed: tuple[str, ...]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in listed)


def _to_domains(listed: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    hit = [d for d in facts.recipients.external_domains if _domain_in(d, listed)]
    return bool(hit), f"external domains in the list: {', '.join(hit) or 'none'}"


def _only_to(listed: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
    domains = facts.recipients.external_domains
    outside = [d for d in domains if not _domain_in(d, listed)]
    ok = bool(domains) and not outside
    return ok, f"external domains outside the list: {', '.join(outside) or 'none'}"


def _members(label: str, value: Callable[[Facts], Sequence[str]]) -> Check:
    def check(wanted: tuple[str, ...], facts: Facts) -> tuple[bool, str]:
        have = list(value(facts))
        return bool(set(have) & set(wanted)), f"sender {label}: {', '.join(have) or 'none'}"

    return check


def _flag(label: str, value: Callable[[Facts], bool]) -> Check:
    def check(wanted: bool, facts: Facts) -> tuple[bool, str]:
        actual = value(facts)
        return actual == wanted, f"{label} is {str(actual).lower()}"

    return check


CHECKS: dict[str, Check] = {
    "personal_rows": _count("personal rows", lambda f: f.personal_rows),
    "persons": _count("distinct persons", lambda f: f.persons),
    "column_kinds": _kinds,
    "unscannable": _unscannable,
    "attachment_types": _types,
    "external_recipients": _count("external recipients", lambda f: f.recipients.external),
    "external_visible": _count(
        "external addresses in To/Cc", lambda f: f.recipients.external_visible
    ),
    "external_envelope_only": _count(
        "external envelope-only (Bcc) recipients", lambda f: f.recipients.external_envelope_only
    ),
    "external_domains": _count("external domains", lambda f: len(f.recipients.external_domains)),
    "internal_recipients": _count("internal recipients", lambda f: f.recipients.internal),
    "to_domains": _to_domains,
    "only_to_domains": _only_to,
    "sender_groups": _members("groups", lambda f: f.sender.groups),
    "sender_departments": _members(
        "department", lambda f: (f.sender.department,) if f.sender.department else ()
    ),
    "sender_in_directory": _flag("sender in directory", lambda f: f.sender.in_directory),
    "from_mismatch": _flag(
        "From differs from envelope sender", lambda f: f.recipients.from_mismatch
    ),
}


def holds(conditions: Conditions, facts: Facts) -> tuple[bool, list[str]]:
    """Whether every given condition holds, with one line per condition tested."""
    ok = True
    why: list[str] = []
    for name, check in CHECKS.items():
        wanted = getattr(conditions, name)
        if wanted is None:
            continue
        passed, text = check(wanted, facts)
        ok = ok and passed
        why.append(("✓ " if passed else "✗ ") + text)
    for sub in conditions.all or ():
        passed, lines = holds(sub, facts)
        ok = ok and passed
        why.append(("✓ " if passed else "✗ ") + "all of: " + "; ".join(lines))
    if conditions.any is not None:
        results = [holds(sub, facts) for sub in conditions.any]
        passed = any(r for r, _ in results)
        ok = ok and passed
        parts = " | ".join("; ".join(lines) for _, lines in results)
        why.append(("✓ " if passed else "✗ ") + "any of: " + parts)
    if conditions.not_ is not None:
        inner, lines = holds(conditions.not_, facts)
        ok = ok and not inner
        why.append(("✓ " if not inner else "✗ ") + "not: " + "; ".join(lines))
    return ok, why


def evaluate(rule: Rule, facts: Facts) -> RuleResult:
    matched, why = holds(rule.when, facts)
    if matched and rule.unless is not None:
        exempt, unless_why = holds(rule.unless, facts)
        why.append(("✗ " if exempt else "✓ ") + "unless: " + "; ".join(unless_why))
        matched = not exempt
    return RuleResult(rule.name, matched, rule.mode, rule.actions, rule.reason, tuple(why))


def combine(requested: set[Action]) -> tuple[Action, tuple[Action, ...]]:
    """The strictest action wins; what composes with it comes along."""
    if not requested:
        return "pass", ("pass",)
    strictest = max(requested, key=lambda a: (STRICTNESS[a], a == "encrypt"))
    extra = tuple(a for a in COMPOSES_WITH[strictest] if a in requested)
    return strictest, (strictest, *extra)


def decide(policy: Policy, facts: Facts) -> Decision:
    results = [evaluate(rule, facts) for rule in policy.rules]
    matched = tuple(r for r in results if r.matched)
    requested = {a for r in matched if r.mode == "enforce" for a in r.actions}
    would, actions = combine(requested)
    monitor = policy.config.mode == "monitor"
    return Decision(
        action="pass" if monitor else would,
        actions=("pass",) if monitor else actions,
        rules=matched,
        not_matched=tuple(r for r in results if not r.matched),
        policy_version=policy.version,
        mode=policy.config.mode,
        would=would,
    )


UNMODIFIABLE = Texts(
    ja="このメールは署名または暗号化されているか、構造が特殊なため、ポリシーが求める変更"
    "（添付ファイルの暗号化、宛先のBcc化）を安全に行えません。",
    en="The message is signed or encrypted, or its structure cannot be rewritten safely, so "
    "the change the policy asks for (encrypting attachments, moving addresses to Bcc) "
    "cannot be made.",
)


def cannot_modify(decision: Decision, action: Action, why: str) -> Decision:
    """The policy asked to modify a message that must not or cannot be: hold or block it."""
    rule = RuleResult(
        name="message-cannot-be-modified",
        matched=True,
        mode="enforce",
        actions=(action,),
        reason=UNMODIFIABLE,
        why=(f"✓ {why}", f"✓ the policy asked for {', '.join(decision.actions)}"),
    )
    return replace(
        decision, action=action, actions=(action,), rules=(*decision.rules, rule), would=action
    )
