"""Read the policy directory: YAML files merged in name order, validated all or nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dlp_proxy.inspect.recipients import Domains
from dlp_proxy.policy.directory import Directory, load_directory
from dlp_proxy.policy.errors import PolicyError, Problem
from dlp_proxy.policy.schema import (
    BccOptions,
    Conditions,
    EncryptOptions,
    HoldOptions,
    Notices,
    PolicyFile,
    Rule,
    Texts,
)

Path_ = tuple[str | int, ...]
_FIELD_NAMES = frozenset(
    name
    for model in (
        PolicyFile,
        Rule,
        Conditions,
        Texts,
        EncryptOptions,
        BccOptions,
        HoldOptions,
        Notices,
    )
    for name in (*model.model_fields, *(f.alias for f in model.model_fields.values() if f.alias))
)
Origins = dict[Path_, tuple[Path, int]]


@dataclass(frozen=True)
class Policy:
    """A validated policy. ``version`` hashes every file it was made from."""

    version: str
    config: PolicyFile
    files: tuple[Path, ...]

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.config.rules if rule.enabled)

    @property
    def internal(self) -> Domains:
        return Domains(self.config.internal_domains, subdomains=self.config.internal_subdomains)


@dataclass(frozen=True)
class LoadedPolicy:
    """The policy for scanners plus what only the SMTP process needs (the directory)."""

    policy: Policy
    directory: Directory


def policy_files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file()
    )


def _origins(node: yaml.Node, path: Path_, file: Path, out: Origins) -> None:
    out[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = (file, key.start_mark.line + 1)
            _origins(value, (*path, key.value), file, out)
            out[(*path, key.value)] = (file, key.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _origins(item, (*path, index), file, out)


def _read(file: Path) -> tuple[dict[str, Any], Origins]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(file, None, "", f"cannot read: {exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(
            [Problem(file, mark.line + 1 if mark else None, "", f"YAML syntax: {problem}")]
        ) from exc
    origins: Origins = {}
    if node is not None:
        _origins(node, (), file, origins)
    if data is None:
        return {}, origins
    if not isinstance(data, dict):
        raise PolicyError([Problem(file, 1, "", "a policy file must be a mapping of keys")])
    return data, origins


def _rule_named(rules: list[Any], name: object) -> int | None:
    for index, rule in enumerate(rules):
        if name is not None and isinstance(rule, dict) and rule.get("name") == name:
            return index
    return None


def _merge(documents: list[tuple[dict[str, Any], Origins]]) -> tuple[dict[str, Any], Origins]:
    """Later files win key by key; a rule named again has the later keys replace earlier ones."""
    merged: dict[str, Any] = {}
    origins: Origins = {}
    problems: list[Problem] = []

    def take(src: Origins, old: Path_, new: Path_) -> None:
        """Origins under ``new`` now come from ``src`` under ``old``."""
        for path in [p for p in origins if p[: len(new)] == new]:
            del origins[path]
        for path, where in src.items():
            if path[: len(old)] == old:
                origins[new + path[len(old) :]] = where

    for data, src in documents:
        for key, value in data.items():
            if key != "rules" or not isinstance(value, list):
                merged[key] = value
                take(src, (key,), (key,))
                continue
            rules: list[Any] = merged.setdefault("rules", [])
            origins[("rules",)] = src[("rules",)]
            seen: set[object] = set()
            for index, rule in enumerate(value):
                name = rule.get("name") if isinstance(rule, dict) else None
                if name is not None and name in seen:
                    file, line = src[("rules", index)]
                    problems.append(Problem(file, line, "name", f"rule {name!r} appears twice"))
                    continue
                seen.add(name)
                earlier = _rule_named(rules, name)
                if earlier is None:
                    rules.append(rule)
                    take(src, ("rules", index), ("rules", len(rules) - 1))
                    continue
                rules[earlier] = {**rules[earlier], **rule}
                for field in rule:
                    take(src, ("rules", index, field), ("rules", earlier, field))
    if problems:
        raise PolicyError(problems)
    return merged, origins


def _where(loc: tuple[Any, ...], origins: Origins) -> tuple[Path | None, int | None, str]:
    """Map a pydantic error location onto the deepest key we know a line for."""
    path: Path_ = ()
    for part in loc:
        candidate = (*path, part)
        if candidate in origins:
            path = candidate
        elif part == "not_" and (*path, "not") in origins:
            path = (*path, "not")
    file, line = origins.get(path, (None, None))
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    for part in loc[len(path) :]:
        if part in _FIELD_NAMES and part not in path:
            key = f"{key}.{part}" if key else str(part)
            break
    return file, line, key


def load_policy(directory: Path) -> LoadedPolicy:
    """Load and validate; raise PolicyError listing every problem with file:line: key."""
    if not directory.is_dir():
        raise PolicyError([Problem(directory, None, "", "policy directory not found")])
    files = policy_files(directory)
    if not files:
        raise PolicyError([Problem(directory, None, "", "no policy files (*.yaml) in it")])
    documents: dict[Path, tuple[dict[str, Any], Origins]] = {}
    problems: list[Problem] = []
    for file in files:
        try:
            documents[file] = _read(file)
        except PolicyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    merged, origins = _merge(list(documents.values()))
    people_file = merged.get("directory")
    if isinstance(people_file, str) and (directory / people_file) in documents:
        # A YAML directory of people sits beside the policy files but is not one of them.
        files.remove(directory / people_file)
        del documents[directory / people_file]
        merged, origins = _merge(list(documents.values()))
    try:
        config = PolicyFile.model_validate(merged)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(Problem(*_where(error["loc"], origins), error["msg"]))
        raise PolicyError(problems) from None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    people = Directory()
    if config.directory is not None:
        path = config.directory if config.directory.is_absolute() else directory / config.directory
        people = load_directory(path)
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    policy = Policy(version=digest.hexdigest()[:12], config=config, files=tuple(files))
    return LoadedPolicy(policy=policy, directory=people)
