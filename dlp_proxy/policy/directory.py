"""The directory of people: each sender's managers, delegates, department, groups and language."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dlp_proxy.policy.errors import PolicyError, Problem
from dlp_proxy.policy.schema import Language


class PersonEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = None
    managers: tuple[str, ...] = ()
    delegates: tuple[str, ...] = ()
    department: str | None = None
    groups: tuple[str, ...] = ()
    language: Language | None = None

    @field_validator("email", "managers", "delegates", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower()
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().lower() for v in value)
        return value


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """What the policy may ask about a sender; resolved in the SMTP process, sent to scanners."""

    in_directory: bool = False
    department: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Directory:
    people: Mapping[str, PersonEntry] = field(default_factory=dict)

    def lookup(self, address: str) -> PersonEntry | None:
        return self.people.get(address.strip().lower())

    def approvers_of(self, sender: str, *, fallback: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Who may approve the sender's held mail: their managers and the managers' delegates;
        else the fallback group. Empty means admins only: nothing leaves unapproved."""
        person = self.lookup(sender)
        managers = person.managers if person is not None else ()
        approvers: list[str] = []
        for manager in managers:
            approvers.append(manager)
            entry = self.lookup(manager)
            approvers.extend(entry.delegates if entry is not None else ())
        return tuple(dict.fromkeys(approvers)) or tuple(a.lower() for a in fallback)

    def sender_info(self, address: str) -> SenderInfo:
        person = self.lookup(address)
        if person is None:
            return SenderInfo()
        return SenderInfo(True, person.department, person.groups)


_LIST_COLUMNS = ("managers", "delegates", "groups")


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        entry: dict[str, Any] = {}
        for key, raw in row.items():
            if key is None:
                raise PolicyError([Problem(None, reader.line_num, "", "more cells than headers")])
            value = (raw or "").strip()
            if key in _LIST_COLUMNS:
                parts = value.replace(",", ";").split(";")
                entry[key] = [part.strip() for part in parts if part.strip()]
            elif value:
                entry[key] = value
        rows.append((reader.line_num, entry))
    return rows


def _yaml_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    data = yaml.safe_load(text)
    if data is None:
        return []
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list) or node is None:
        raise PolicyError([Problem(None, 1, "people", "expected a list under the key 'people'")])
    items = next(v for k, v in node.value if k.value == "people").value
    return [(item.start_mark.line + 1, entry) for item, entry in zip(items, people, strict=True)]


def load_directory(path: Path) -> Directory:
    """Read a YAML (``people: [...]``) or CSV directory; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PolicyError(
            [Problem(path, None, "directory", f"cannot read: {exc.strerror}")]
        ) from exc
    try:
        rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _yaml_rows(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise PolicyError([Problem(path, line, "", f"YAML syntax: {exc}")]) from exc
    except PolicyError as exc:
        raise PolicyError([p.at(path) for p in exc.problems]) from None
    people: dict[str, PersonEntry] = {}
    problems: list[Problem] = []
    for line, entry in rows:
        if not isinstance(entry, dict):
            problems.append(Problem(path, line, "", "expected a mapping of person fields"))
            continue
        try:
            person = PersonEntry.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                key = ".".join(str(p) for p in error["loc"] if isinstance(p, str))
                problems.append(Problem(path, line, key, error["msg"]))
            continue
        if person.email in people:
            problems.append(Problem(path, line, "email", f"{person.email} is listed twice"))
        people[person.email] = person
    if problems:
        raise PolicyError(problems)
    return Directory(people)
