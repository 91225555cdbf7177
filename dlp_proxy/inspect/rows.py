"""Count the rows that tie personal data to a person, and the distinct persons, in one file.

Row work is done a column at a time with C-level map() and list comprehensions: a 50,000-row
sheet must cost a fraction of what calamine needs to load it.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Final

from dlp_proxy.inspect import validators as v
from dlp_proxy.inspect.classify import EMPTY, Classified, SheetPlan
from dlp_proxy.inspect.masks import mask
from dlp_proxy.inspect.vocabulary import IDENTIFIER_KINDS, NAME_KINDS, PERSONAL_KINDS

# fmt: off
ROLE_MAILBOXES: Final = frozenset((
    "info", "information", "contact", "contactus", "inquiry", "inquiries", "enquiry", "enquiries",
    "toiawase", "otoiawase", "support", "help", "helpdesk", "service", "services", "customer",
    "customerservice", "cs", "sales", "eigyo", "office", "admin", "administrator", "webmaster",
    "postmaster", "hostmaster", "abuse", "noreply", "no-reply", "donotreply", "do-not-reply",
    "mail", "mailer", "news", "newsletter", "press", "pr", "media", "marketing", "hr", "jobs",
    "recruit", "recruiting", "careers", "saiyo", "jinji", "soumu", "somu", "keiri", "accounting",
    "billing", "invoice", "order", "orders", "shop", "store", "reception", "uketsuke", "desk",
    "team", "staff", "general", "main", "service-desk", "feedback", "privacy", "legal",
    "security", "compliance", "partners", "partner", "dealer", "ir",
))
# fmt: on
_SAMPLES_PER_KIND: Final = 3
_LONGEST_EMPTY: Final = max(len(text) for text in EMPTY if isinstance(text, str))


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation grouped by first letter: the regex engine tries far fewer branches."""
    by_first: dict[str, list[str]] = {}
    for word in sorted(words, key=len, reverse=True):
        by_first.setdefault(word[0], []).append(re.escape(word[1:]))
    return "|".join(
        f"{re.escape(first)}(?:{'|'.join(rests)})" for first, rests in sorted(by_first.items())
    )


# A role mailbox at the start of a line, digits and separators allowed: "sales01@", "info@".
_ROLE_LINE = re.compile(rf"(?m)^[ \t]*(?:{_alternation(ROLE_MAILBOXES)})[\d._\-]*@")
# Applied to a whole column joined by newlines: no pattern may cross a line (no \s there),
# or thousands of blank rows make the search quadratic.
_TOTAL_WORDS: Final = (
    r"[ \t\u3000]*(?:総合計|合計|小計|総計|累計|計"
    r"|(?i:grand[ \t]*total|sub[ \t]*total|totals?|sum))[ \t\u3000]*(?:[:：()（]|\d|人|名|件|$)"
)
_TOTAL_LINES: Final = re.compile(rf"(?m)^{_TOTAL_WORDS}")


@dataclass(slots=True)
class Persons:
    """Identity keys of personal rows across all sheets of a file, to count distinct persons.

    Per key kind: row ids, the (space-free) name on each row, and the key value. Email and
    phone keys count with the name when the row has one, so a switchboard number shared by a
    whole staff list does not merge everyone into one person.
    """

    rows: int = 0
    ids: dict[str, list[int]] = field(default_factory=dict)
    names: dict[str, list[object]] = field(default_factory=dict)
    keys: dict[str, list[object]] = field(default_factory=dict)

    def add(
        self, kind: str, ids: Sequence[int], names: Sequence[object], keys: Sequence[object]
    ) -> None:
        self.ids.setdefault(kind, []).extend(ids)
        self.names.setdefault(kind, []).extend(names)
        self.keys.setdefault(kind, []).extend(keys)

    def count(self) -> int:
        """Rows sharing a key are one person: union-find over the keys that repeat."""
        parent: dict[int, int] = {}

        def find(i: int) -> int:
            root = i
            while (up := parent.get(root, root)) != root:
                root = up
            while i != root:
                parent[i], i = root, parent.get(i, i)
            return root

        merged = 0
        for kind, keys in self.keys.items():
            if len(set(keys)) == len(keys):
                continue  # all distinct: the name cannot make them less so
            composite = list(zip(self.names[kind], keys, strict=True))
            counts = Counter(composite)
            repeated = set(compress(counts.keys(), map((1).__lt__, counts.values())))
            if not repeated:
                continue
            ids = self.ids[kind]
            first: dict[object, int] = {}
            for key, row in zip(composite, ids, strict=True):
                if key not in repeated:
                    continue
                other = first.setdefault(key, row)
                if other != row:
                    a, b = find(row), find(other)
                    if a != b:
                        parent[a] = b
                        merged += 1
        return self.rows - merged


def count_rows(plan: SheetPlan, persons: Persons, samples: dict[str, list[str]]) -> tuple[int, int]:
    """Return (non-blank data rows, personal rows) of a sheet; add to persons and samples."""
    rows = plan.sheet.rows
    data = rows[plan.data_start :] if plan.data_start else rows
    if not isinstance(data, list):
        data = list(data)
    nonblank = len(data) - sum(map(EMPTY.issuperset, data))
    personal_cols = [c for c in plan.columns if c.kind in PERSONAL_KINDS]
    if not personal_cols or not data:
        return nonblank, 0
    identifiers = IDENTIFIER_KINDS
    if not any(c.kind in NAME_KINDS for c in personal_cols) and any(
        c.kind == "company_name" for c in plan.columns
    ):
        identifiers = identifiers - {"email"}  # without a person's name, the firm's address
    groups: dict[str, list[Classified]] = {}
    for col in sorted(personal_cols, key=lambda c: c.kind not in NAME_KINDS | identifiers):
        groups.setdefault("name" if col.kind in NAME_KINDS else col.kind, []).append(col)
    anchor_groups = {g for g in groups if g == "name" or g in identifiers}
    if not anchor_groups or len(groups) < 2:
        return nonblank, 0
    cells = _Cells(data, ragged=min(map(len, data)) <= max(c.index for c in plan.columns))
    group_blank: dict[str, list[bool] | None] = {}
    settled = False
    for group, cols in groups.items():
        blank = cells.blank(cols[0])
        for col in cols[1:]:
            blank = _both(blank, cells.blank(col))
        group_blank[group] = blank
        dense = [g for g, b in group_blank.items() if b is None]
        if len(dense) >= 2 and anchor_groups.intersection(dense):
            settled = True  # every row has an anchor and two attributes: look no further
            break
    if settled:
        candidates = list(range(len(data)))
    else:
        candidates = _personal_rows(group_blank, anchor_groups, len(data))
    candidates = _drop_labels(plan, cells, candidates)
    _collect_keys(plan, cells, candidates, persons, whole=len(candidates) == len(data))
    _collect_samples(plan, data, candidates, samples)
    return nonblank, len(candidates)


def _personal_rows(
    group_blank: dict[str, list[bool] | None], anchor_groups: set[str], count: int
) -> list[int]:
    """Rows with a name or an identifier, and at least two groups of attributes filled in."""
    no_anchor: list[bool] | None = [True] * count
    for group in anchor_groups:
        no_anchor = _both(no_anchor, group_blank[group])
    partial = [b for b in group_blank.values() if b is not None]
    blank_groups: list[int] = list(partial[0]) if partial else [0] * count
    for other in partial[1:]:
        blank_groups = list(map(operator.add, blank_groups, other))
    enough = map((len(group_blank) - 2).__ge__, blank_groups)
    anchored = map(operator.not_, no_anchor) if no_anchor is not None else repeat(True)
    return list(compress(range(count), map(operator.and_, anchored, enough)))


class _Cells:
    """Columns of one sheet's data rows, copied out and checked for blanks only when asked."""

    def __init__(self, data: list[Sequence[object]], *, ragged: bool) -> None:
        self.data = data
        self.ragged = ragged
        self._values: dict[int, Sequence[object]] = {}
        self._blanks: dict[int, list[bool] | None] = {}

    def __len__(self) -> int:
        return len(self.data)

    def values(self, index: int) -> Sequence[object]:
        if index not in self._values:
            self._values[index] = _column(self.data, index, ragged=self.ragged)
        return self._values[index]

    def blank(self, col: Classified) -> list[bool] | None:
        """Which rows are blank in ``col`` (None: none is). Role mailboxes count as blank."""
        if col.index not in self._blanks:
            blank = _blanks(self.values(col.index))
            if col.kind == "email":
                blank = _role_emails_blank(self.values(col.index), blank)
            self._blanks[col.index] = blank
        return self._blanks[col.index]


def _name_columns(plan: SheetPlan) -> list[int]:
    """The columns whose text names the person in identity keys: kanji/latin, else kana."""
    names = [c.index for c in plan.columns if c.kind == "person_name"]
    return names or [c.index for c in plan.columns if c.kind == "kana_name"]


def _blanks(values: Sequence[object]) -> list[bool] | None:
    """Blank cells of a column, or None when it has none.

    Hashing every cell for a set lookup costs more than the rest of the row work, so text
    longer than any placeholder is passed over by its length alone.
    """
    try:
        lengths = list(map(len, values))  # type: ignore[arg-type]
    except TypeError:  # numbers or dates among the cells
        return None if EMPTY.isdisjoint(values) else list(map(EMPTY.__contains__, values))
    if min(lengths, default=_LONGEST_EMPTY + 1) > _LONGEST_EMPTY:
        return None
    short = [i for i, n in enumerate(lengths) if n <= _LONGEST_EMPTY]
    blank_rows = [i for i in short if values[i] in EMPTY]
    if not blank_rows:
        return None
    blank = [False] * len(values)
    for i in blank_rows:
        blank[i] = True
    return blank


def _both(a: list[bool] | None, b: list[bool] | None) -> list[bool] | None:
    """Blank in both columns of a group (None: never blank)."""
    if a is None or b is None:
        return None
    return list(map(operator.and_, a, b))


def _column(data: list[Sequence[object]], index: int, *, ragged: bool) -> list[object]:
    if ragged:
        return [row[index] if index < len(row) else None for row in data]
    return list(map(operator.itemgetter(index), data))


def _role_emails_blank(values: Sequence[object], blank: list[bool] | None) -> list[bool] | None:
    """Count role mailboxes (info@, sales@...) as blank: they name an organisation, not a person."""
    try:
        joined = "\n".join(values).lower()  # type: ignore[arg-type]
    except TypeError:  # a number or a date in an email column
        joined = "\n".join(value if isinstance(value, str) else "" for value in values).lower()
    if not _ROLE_LINE.search(joined):
        return blank
    roles = [
        isinstance(value, str) and _ROLE_LINE.match(value.lower()) is not None for value in values
    ]
    return roles if blank is None else list(map(operator.or_, blank, roles))


def _drop_labels(plan: SheetPlan, cells: _Cells, candidates: list[int]) -> list[int]:
    """Skip repeated header rows and total rows (合計, 小計, Total) among the candidates."""
    label_cols = {c.index for c in plan.columns[:1] if c.kind in NAME_KINDS}
    label_cols |= {next((c.index for c in plan.columns if c.kind in NAME_KINDS), -1)} - {-1}
    if not label_cols:
        label_cols = {min(c.index for c in plan.columns if c.kind in PERSONAL_KINDS)}
    header = plan.header
    drop: set[int] = set()
    for index in label_cols:
        values = cells.values(index)
        head = header[index] if header is not None and index < len(header) else None
        pattern = _TOTAL_LINES
        if isinstance(head, str) and head.strip():
            pattern = re.compile(rf"(?m)^(?:{re.escape(head)}$|{_TOTAL_WORDS})")
        try:
            joined = "\n".join(values)  # type: ignore[arg-type]
        except TypeError:  # numbers, dates
            joined = "\n".join(text if isinstance(text, str) else "" for text in values)
        if not pattern.search(joined):
            continue
        if joined.count("\n") != len(values) - 1:  # a cell holds line breaks
            joined = "\n".join(t.replace("\n", " ") if isinstance(t, str) else "" for t in values)
        starts = [0, *(match.end() for match in re.finditer("\n", joined))]
        drop.update(bisect_right(starts, match.start()) - 1 for match in pattern.finditer(joined))
    return [i for i in candidates if i not in drop] if drop else candidates


def _collect_keys(
    plan: SheetPlan, cells: _Cells, candidates: list[int], persons: Persons, *, whole: bool
) -> None:
    count = len(candidates)

    def pick(index: int) -> Sequence[object]:
        column = cells.values(index)
        return column if whole else [column[i] for i in candidates]

    name_cols = _name_columns(plan)
    names: list[object] = [""] * count
    for index in name_cols:
        part = _no_spaces(pick(index))
        names = part if index == name_cols[0] else list(map(operator.add, names, part))
    ids = range(persons.rows, persons.rows + count)
    persons.rows += count
    for kind in ("email", "phone", "birth_date"):
        for col in (c for c in plan.columns if c.kind == kind):
            index = col.index
            values = pick(index)
            keys: Sequence[object]
            if kind == "email":
                keys = _lowered(values)
            elif kind == "phone":
                keys = _phone_keys(values)
            else:
                keys = values
            column_blank = cells.blank(col)
            if column_blank is None:
                blank = [False] * count
            else:
                blank = column_blank if whole else [column_blank[i] for i in candidates]
            if kind == "birth_date":
                blank = list(map(operator.or_, blank, map(operator.not_, names)))
            row_ids: Sequence[int] = ids
            row_names: Sequence[object] = names
            if any(blank):
                keep = list(map(operator.not_, blank))
                row_ids, row_names = list(compress(ids, keep)), list(compress(names, keep))
                keys = list(compress(keys, keep))
            if kind != "birth_date" and len(keys) >= 4 and 2 * len(set(keys)) < len(keys):
                continue  # a switchboard or shop number shared by many rows: not a person's
            persons.add(kind, row_ids, row_names, keys)


# The str methods below, unbound, raise TypeError on a number or a date (a bound method call
# would not: datetime has a replace() of its own), which sends us to the slow path.


def _no_spaces(values: Sequence[object]) -> list[object]:
    try:
        return list(map("".join, map(str.split, values)))  # type: ignore[arg-type]
    except TypeError:
        return [
            "".join(value.split()) if isinstance(value, str) else _non_text_key(value)
            for value in values
        ]


def _phone_keys(values: Sequence[object]) -> list[object]:
    keys: list[object]
    try:
        keys = list(map(str.replace, values, repeat("-"), repeat("")))  # type: ignore[arg-type]
        joined = "".join(keys)  # type: ignore[arg-type]
    except TypeError:
        keys = [
            value.replace("-", "") if isinstance(value, str) else _non_text_key(value)
            for value in values
        ]
        joined = "".join(k for k in keys if isinstance(k, str))
    if not joined.isdigit():  # other separators, full-width digits, +81
        keys = [v.phone_digits(v.nfkc(k)) or k if isinstance(k, str) else k for k in keys]
    return keys


def _lowered(values: Sequence[object]) -> list[object]:
    try:
        return list(map(str.lower, values))  # type: ignore[arg-type]
    except TypeError:
        return [value.lower() if isinstance(value, str) else value for value in values]


def _non_text_key(value: object) -> object:
    if isinstance(value, float) and (phone := v.phone_from_number(value)):
        return phone
    return "" if value in EMPTY else v.nfkc(value)


def _collect_samples(
    plan: SheetPlan,
    data: list[Sequence[object]],
    candidates: list[int],
    samples: dict[str, list[str]],
) -> None:
    for col in plan.columns:
        if col.kind not in PERSONAL_KINDS:
            continue
        bucket = samples.setdefault(col.kind, [])
        for i in candidates[:30]:
            if len(bucket) >= _SAMPLES_PER_KIND:
                break
            row = data[i]
            value = row[col.index] if col.index < len(row) else None
            if value not in EMPTY:
                masked = mask(col.kind, value)
                if masked not in bucket:
                    bucket.append(masked)
