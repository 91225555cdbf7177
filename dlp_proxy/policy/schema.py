"""The shape of a policy file: every key, its type and its meaning; unknown keys are errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from dlp_proxy.inspect.model import UnscannableReason
from dlp_proxy.inspect.vocabulary import KINDS

Action = Literal["pass", "tag", "encrypt", "bcc", "hold", "block"]
Mode = Literal["enforce", "monitor"]
Language = Literal["ja", "en"]
Kind = Literal[KINDS]  # type: ignore[valid-type]

_COMPARISON = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*")


class Comparison(BaseModel):
    """A count test: ``">= 1000"``; a bare number means at least that many."""

    model_config = ConfigDict(frozen=True)

    op: Literal[">=", "<=", "==", "!=", ">", "<"]
    value: int = Field(ge=0)

    def test(self, actual: int) -> bool:
        match self.op:
            case ">=":
                return actual >= self.value
            case "<=":
                return actual <= self.value
            case "==":
                return actual == self.value
            case "!=":
                return actual != self.value
            case ">":
                return actual > self.value
            case _:
                return actual < self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value}"


def _comparison(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError('write a count test such as ">= 1000"')
    if isinstance(value, int):
        return {"op": ">=", "value": value}
    if isinstance(value, str):
        match = _COMPARISON.fullmatch(value)
        if not match:
            raise ValueError(f'write a count test such as ">= 1000", not {value!r}')
        return {"op": match.group(1), "value": int(match.group(2))}
    return value


Count = Annotated[Comparison, BeforeValidator(_comparison)]
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}")


def _domain(value: object) -> object:
    if isinstance(value, str):
        value = value.strip().lower().rstrip(".")
        if not _DOMAIN.fullmatch(value.encode("idna").decode() if value.isascii() else value):
            raise ValueError(f"not a domain name: {value!r}")
    return value


Domain = Annotated[str, BeforeValidator(_domain)]


class Texts(BaseModel):
    """A text shown to people, in Japanese and in English."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ja: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Conditions(BaseModel):
    """All keys given must hold. Counts are over the whole message."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # findings
    personal_rows: Count | None = None
    persons: Count | None = None
    column_kinds: tuple[Kind, ...] | None = None
    unscannable: bool | tuple[UnscannableReason, ...] | None = None
    attachment_types: tuple[str, ...] | None = None
    # recipients
    external_recipients: Count | None = None
    external_visible: Count | None = None
    external_envelope_only: Count | None = None
    external_domains: Count | None = None
    internal_recipients: Count | None = None
    to_domains: tuple[Domain, ...] | None = None
    only_to_domains: tuple[Domain, ...] | None = None
    # sender
    sender_groups: tuple[str, ...] | None = None
    sender_departments: tuple[str, ...] | None = None
    sender_in_directory: bool | None = None
    from_mismatch: bool | None = None
    # combinators
    any: tuple[Conditions, ...] | None = None
    all: tuple[Conditions, ...] | None = None
    not_: Conditions | None = Field(default=None, alias="not")

    @field_validator("attachment_types")
    @classmethod
    def _lower(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(v.lower() for v in value)


class Rule(BaseModel):
    """One rule: when its conditions hold (and its ``unless`` does not), it asks for its action."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    description: str | None = None
    reason: Texts
    when: Conditions = Conditions()
    unless: Conditions | None = None
    action: Action | tuple[Action, ...]
    encrypt_attachments: Literal["flagged", "all"] = "flagged"
    mode: Mode = "enforce"
    enabled: bool = True

    @property
    def actions(self) -> tuple[Action, ...]:
        return (self.action,) if isinstance(self.action, str) else self.action


Address = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]


class EncryptOptions(BaseModel):
    """How the encrypt action makes its zips."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    password_length: int = Field(default=16, ge=10, le=64)
    password_alphabet: str | None = Field(default=None, min_length=20)


class BccOptions(BaseModel):
    """How the bcc action rewrites To and Cc."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep_internal_visible: bool = True


class HoldOptions(BaseModel):
    """How long held mail waits, what happens then, and who approves when nobody is listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    expire_after_hours: float = Field(default=72.0, gt=0, le=24 * 90)
    on_expiry: Literal["reject", "release"] = "reject"
    fallback_approvers: tuple[Address, ...] = ()


class Notices(BaseModel):
    """Who is told what, from which address."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_address: Address | None = Field(default=None, alias="from")
    admins: tuple[Address, ...] = ()
    on_block: tuple[Literal["sender", "admins"], ...] = ("sender", "admins")
    password_to_recipients: bool = False
    contact: str | None = None
    file_transfer: str | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class PolicyFile(BaseModel):
    """The merged content of every policy file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "enforce"
    internal_domains: tuple[Domain, ...] = ()
    internal_subdomains: bool = True
    directory: Path | None = None
    default_language: Language = "ja"
    column_synonyms: dict[Kind, tuple[str, ...]] = Field(default_factory=dict)
    encrypt: EncryptOptions = Field(default_factory=EncryptOptions)
    bcc: BccOptions = Field(default_factory=BccOptions)
    unmodifiable: Literal["hold", "block"] = "hold"
    hold: HoldOptions = Field(default_factory=HoldOptions)
    notices: Notices = Field(default_factory=Notices)
    rules: tuple[Rule, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)
        return rules
