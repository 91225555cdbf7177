"""Header words that name column kinds, loaded from columns.yaml and extendable by policy."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

import yaml

KINDS: Final = (
    "person_name",
    "kana_name",
    "email",
    "phone",
    "postal_code",
    "address",
    "birth_date",
    "gender",
    "my_number",
    "corporate_number",
    "vin",
    "chassis_number",
    "licence_plate",
    "customer_id",
    "employee_id",
    "card_number",
    "bank_account",
    "company_name",
)
OTHER: Final = "other"
NAME_KINDS: Final = frozenset({"person_name", "kana_name"})
# Values that single out a person even without a name.
IDENTIFIER_KINDS: Final = frozenset(
    {"email", "birth_date", "my_number", "card_number", "customer_id", "employee_id"}
)
# Everything that, next to a name or an identifier, makes a row personal. Company names and
# corporate numbers belong to organisations and are left out on purpose.
PERSONAL_KINDS: Final = NAME_KINDS | IDENTIFIER_KINDS | {
    "phone", "postal_code", "address", "gender", "vin", "chassis_number", "licence_plate",
    "bank_account",
}  # fmt: skip
_PUNCTUATION = re.compile(r"[\s\-_・.,:;()\[\]{}<>/\\#*※\"'!?|~=+&@、。「」『』【】〈〉《》〔〕]+")
_TOKENS = re.compile(r"[^\W_]+")
# Too generic to name a kind when they are only one word of a longer header ("Part Name").
_WEAK_TOKENS: Final = frozenset({"name", "no", "id", "number", "code", "date", "type", "姓", "名"})

SynonymMapping = Mapping[str, Mapping[str, Sequence[str]] | Sequence[str]]


def normalize_header(text: str) -> str:
    """Fold a header for comparison: NFKC, case folded, without spaces and punctuation."""
    return _PUNCTUATION.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Header synonyms per column kind; look a header up to get the kinds it may name."""

    exact: Mapping[str, tuple[str, ...]]
    contains: tuple[tuple[str, str], ...]

    @classmethod
    def default(cls) -> Vocabulary:
        """Return the vocabulary shipped with the package (dlp_proxy/inspect/columns.yaml)."""
        return _default()

    @classmethod
    def from_mapping(cls, mapping: SynonymMapping) -> Vocabulary:
        """Build a vocabulary from ``{kind: {"exact": [...], "contains": [...]}}``.

        A kind may also map straight to a list of words, taken as exact headers.
        Raises ValueError on an unknown kind or a malformed entry.
        """
        return cls({}, ()).extended(mapping)

    def extended(self, mapping: SynonymMapping) -> Vocabulary:
        """Return a copy with more words; ``mapping`` has the shape of columns.yaml."""
        exact = {key: list(kinds) for key, kinds in self.exact.items()}
        contains = list(self.contains)
        for kind, entry in mapping.items():
            if kind not in KINDS and kind != OTHER:
                raise ValueError(f"unknown column kind {kind!r}; known: {', '.join(KINDS)}, other")
            groups = {"exact": entry} if isinstance(entry, list | tuple) else entry
            if not isinstance(groups, Mapping) or set(groups) - {"exact", "contains"}:
                raise ValueError(f"{kind}: expected a list, or a mapping with exact/contains")
            for group, words in groups.items():
                if not isinstance(words, list | tuple):
                    raise ValueError(f"{kind}.{group}: expected a list of strings")
                for word in words:
                    if not isinstance(word, str):
                        raise ValueError(
                            f"{kind}.{group}: {word!r} is not a string (quote it in YAML)"
                        )
                for word in words:
                    key = normalize_header(word)
                    if not key:
                        continue
                    if group == "exact" and kind not in exact.setdefault(key, []):
                        exact[key].append(kind)
                    elif group == "contains" and (key, kind) not in contains:
                        contains.append((key, kind))
        contains.sort(key=lambda item: -len(item[0]))
        return Vocabulary({k: tuple(v) for k, v in exact.items()}, tuple(contains))

    def lookup(self, header: object) -> tuple[str, ...]:
        """Return the kinds a header cell may name, best first; empty when it names none."""
        if not isinstance(header, str) or len(header) > 60:
            return ()
        key = normalize_header(header)
        if not key:
            return ()
        if kinds := self.exact.get(key):
            return kinds
        best = 0
        found: list[str] = []
        for word, kind in self.contains:
            if len(word) < best:
                break
            if word in key:
                best = len(word)
                found.append(kind)
        if found:
            return tuple(dict.fromkeys(found))
        tokens = _TOKENS.findall(unicodedata.normalize("NFKC", header).casefold())
        if len(tokens) > 1:
            for token in tokens:
                if token not in _WEAK_TOKENS and (kinds := self.exact.get(token)):
                    return kinds
        return ()


@cache
def _default() -> Vocabulary:
    text = files("dlp_proxy.inspect").joinpath("columns.yaml").read_text(encoding="utf-8")
    return Vocabulary.from_mapping(yaml.safe_load(text))
