"""Classify the columns of each sheet, then count the rows that tie personal data to a person."""

from __future__ import annotations

import datetime as dt
import operator
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Final

from dlp_proxy.inspect import gcpause
from dlp_proxy.inspect import validators as v
from dlp_proxy.inspect.model import Column, Sheet, TableFindings
from dlp_proxy.inspect.vocabulary import KINDS, OTHER, Vocabulary

__all__ = ["KINDS", "Vocabulary", "analyze", "mask"]

NAME_KINDS: Final = frozenset({"person_name", "kana_name"})
# Values that single out a person even without a name.
IDENTIFIER_KINDS: Final = frozenset(
    {"email", "birth_date", "my_number", "card_number", "customer_id", "employee_id"}
)
# Everything that, next to a name or an identifier, makes a row personal. Company names and
# corporate numbers belong to organisations and are left out on purpose.
PERSONAL_KINDS: Final = (
    NAME_KINDS
    | IDENTIFIER_KINDS
    | {
        "phone",
        "postal_code",
        "address",
        "gender",
        "vin",
        "chassis_number",
        "licence_plate",
        "bank_account",
    }
)
# Order of preference when only the values speak: the most specific check first.
_VALUE_ORDER: Final = (
    "my_number",
    "corporate_number",
    "card_number",
    "email",
    "vin",
    "licence_plate",
    "chassis_number",
    "phone",
    "postal_code",
    "birth_date",
    "gender",
    "kana_name",
    "person_name",
    "address",
    "company_name",
)
# Kinds that a header row must name; their values alone prove nothing.
_HEADER_ONLY: Final = frozenset({"customer_id", "employee_id", "bank_account"})
# Kinds whose values are too loose to be guessed in a column whose header we do not know,
# when the rest of the header row is known.
_WEAK_VALUE_KINDS: Final = frozenset({"person_name", "kana_name", "address", "company_name"})

EMPTY: Final = frozenset(
    {"", None, " ", "\u3000", "-", "--", "ー", "－", "―", "—", "‐", "*", "・", "なし", "無し",
     "不明", "未登録", "未定", "該当なし", "n/a", "N/A", "NA", "na", "none", "None", "NONE",
     "null", "NULL", "nil", "-/-", "ｰ", "―――", "..."}
)  # fmt: skip
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
_HEADER_SCAN_ROWS: Final = 40
_SAMPLE_HEAD: Final = 120
_SAMPLE_SPREAD: Final = 120
_SAMPLES_PER_KIND: Final = 3


@dataclass(frozen=True, slots=True)
class _Classified:
    index: int
    kind: str
    header: str | None


@dataclass(slots=True)
class _SheetPlan:
    sheet: Sheet
    data_start: int
    header: Sequence[object] | None
    columns: list[_Classified] = field(default_factory=list)


def analyze(sheets: Sequence[Sheet], *, vocabulary: Vocabulary | None = None) -> TableFindings:
    """Find personal columns in every sheet of one file and count personal rows and persons.

    A row is personal when it holds a name or a personal identifier (personal email, birth
    date, My Number, customer ID...) and at least one more personal attribute. Persons are
    rows merged when they share an email, a phone, or a birth date (each with the same name,
    when the row has one).
    """
    vocab = vocabulary or Vocabulary.default()
    with gcpause.paused():
        return _analyze(sheets, vocab)


def _analyze(sheets: Sequence[Sheet], vocab: Vocabulary) -> TableFindings:
    total_rows = 0
    personal = 0
    columns: list[Column] = []
    persons = _Persons()
    samples: dict[str, list[str]] = {}
    for sheet in sheets:
        plan = _plan(sheet, vocab)
        columns.extend(Column(sheet.name, c.header, c.kind, c.index) for c in plan.columns)
        rows, personal_rows = _count(plan, persons, samples)
        total_rows += rows
        personal += personal_rows
    sample_list = tuple(f"{kind}: {text}" for kind, texts in samples.items() for text in texts)
    return TableFindings(
        rows=total_rows,
        personal_rows=personal,
        persons=persons.count(),
        columns=tuple(columns),
        samples=sample_list,
    )


# --- header row and column kinds -------------------------------------------------------------


def _plan(sheet: Sheet, vocab: Vocabulary) -> _SheetPlan:
    rows = sheet.rows
    header_index = _find_header(rows, vocab)
    header = rows[header_index] if header_index is not None else None
    start = header_index + 1 if header_index is not None else 0
    plan = _SheetPlan(sheet, start, header)
    sample = _sample_rows(rows, start)
    if not sample:
        return plan
    width = max(len(row) for row in sample)
    if header is not None:
        width = max(width, len(header))
    hints = [
        vocab.lookup(header[i]) if header is not None and i < len(header) else ()
        for i in range(width)
    ]
    known_header = header is not None
    chosen: dict[int, str] = {}
    for index in range(width):
        values = [row[index] for row in sample if index < len(row) and row[index] not in EMPTY]
        if not values:
            continue
        kind = _classify(hints[index], values, known_header=known_header)
        if kind is not None:
            chosen[index] = kind
    _demote_lonely_names(chosen, sample, known_header=known_header)
    for index, kind in sorted(chosen.items()):
        text = header[index] if header is not None and index < len(header) else None
        plan.columns.append(_Classified(index, kind, str(text) if text not in EMPTY else None))
    return plan


def _find_header(rows: Sequence[Sequence[object]], vocab: Vocabulary) -> int | None:
    """Pick the row that names the most columns (then the widest); title rows lose to it."""
    best: tuple[int, int] = (0, 0)
    found = None
    limit = min(len(rows), _HEADER_SCAN_ROWS)
    widest = max((sum(1 for c in rows[i] if c not in EMPTY) for i in range(limit)), default=0)
    for i in range(limit):
        cells = [c for c in rows[i] if c not in EMPTY]
        if not cells or not all(isinstance(c, str) for c in cells):
            continue
        score = (sum(1 for c in cells if vocab.lookup(c)), len(cells))
        matches, width = score
        if any(_looks_like_value(c) for c in cells):  # type: ignore[arg-type]
            continue  # "April Price, april.price@example.org": words of a header, but data
        if matches >= 2:
            enough = True
        elif matches == 1 and width >= 2:  # one known word among labels that are not data
            enough = not any(_looks_like_data(c) for c in cells)  # type: ignore[arg-type]
        else:
            enough = matches == 1 and widest <= 2
        if enough and score > best:
            best, found = score, i
    return found


def _looks_like_value(text: str) -> bool:
    """Header cells are labels: no email address, phone number, date or long number."""
    text = v.nfkc(text)
    return (
        "@" in text
        or sum(ch.isdigit() for ch in text) >= 5
        or v.phone_digits(text) is not None
        or v.parse_date(text) is not None
    )


def _looks_like_data(text: str) -> bool:
    text = v.nfkc(text)
    return (
        any(ch.isdigit() for ch in text)
        or "@" in text
        or v.person_name_convincing(text)
        or len(text) > 30
    )


def _sample_rows(rows: Sequence[Sequence[object]], start: int) -> list[Sequence[object]]:
    count = len(rows) - start
    if count <= 0:
        return []
    head = min(count, _SAMPLE_HEAD)
    picked = list(range(start, start + head))
    rest = count - head
    if rest > 0:
        step = max(1, rest // _SAMPLE_SPREAD)
        picked.extend(range(start + head, len(rows), step))
    return [rows[i] for i in picked]


def _classify(hints: tuple[str, ...], values: list[object], *, known_header: bool) -> str | None:
    if hints == (OTHER,):
        return None
    texts = [v.nfkc(value) for value in values]
    candidates = [kind for kind in hints if kind != OTHER]
    if candidates:
        scored = [(_fraction(kind, values, texts, strict=False), kind) for kind in candidates]
        fraction, kind = max(scored, key=lambda item: item[0])
        if kind == "person_name" and _fraction("company_name", values, texts, strict=True) >= 0.5:
            return "company_name"
        if fraction >= 0.5:
            return kind
    elif OTHER in hints:
        return None
    by_value = _classify_by_value(values, texts, known_header=known_header)
    if by_value is not None:
        return by_value
    if candidates and fraction >= 0.2:
        return kind
    return None


def _classify_by_value(values: list[object], texts: list[str], *, known_header: bool) -> str | None:
    if len(values) < 2:
        return None
    for kind in _VALUE_ORDER:
        if known_header and kind in _WEAK_VALUE_KINDS:
            continue
        threshold = 0.6 if kind == "company_name" else 0.8
        if _fraction(kind, values, texts, strict=True) >= threshold:
            if kind == "birth_date" and not _birth_years(values):
                continue
            return kind
    return None


def _birth_years(values: list[object]) -> bool:
    """Tell birth dates from order dates, schedules and timestamps by the spread of years."""
    years = sorted(d.year for d in map(v.parse_date, values) if d is not None)
    if not years:
        return False
    median = years[len(years) // 2]
    return median <= dt.date.today().year - 15 and years[-1] - years[0] >= 5


def _demote_lonely_names(
    chosen: dict[int, str], sample: list[Sequence[object]], *, known_header: bool
) -> None:
    """Without a header, unspaced names need an email, phone or birth date beside them."""
    if known_header:
        return
    corroborated = any(k in ("email", "phone", "birth_date") for k in chosen.values())
    for index, kind in list(chosen.items()):
        if kind == "person_name" and not corroborated:
            del chosen[index]
    if corroborated and "person_name" not in chosen.values():
        width = max(len(row) for row in sample)
        for index in range(width):
            if index in chosen:
                continue
            texts = [
                v.nfkc(row[index]) for row in sample if index < len(row) and row[index] not in EMPTY
            ]
            if len(texts) >= 2 and sum(map(v.person_name_plain, texts)) >= 0.8 * len(texts):
                chosen[index] = "person_name"
                break


def _fraction(kind: str, values: list[object], texts: list[str], *, strict: bool) -> float:
    check = _CHECKS[kind]
    hits = sum(1 for value, text in zip(values, texts, strict=True) if check(value, text, strict))
    return hits / len(values)


def _check_phone(value: object, text: str, strict: bool) -> bool:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return not strict and v.phone_from_number(float(value)) is not None
    return v.phone_digits(text) is not None


def _check_postal(value: object, text: str, strict: bool) -> bool:
    if strict:
        return v.postal_code(text, strict=True) is not None
    if isinstance(value, float | int) and not isinstance(value, bool):
        return 0 < value < 10_000_000
    return v.postal_code(text) is not None or v.us_zip_ok(text)


def _check_address(value: object, text: str, strict: bool) -> bool:
    if v.address_ok(text):
        return True
    return not strict and len(text) >= 3 and any(ch.isdigit() for ch in text)


def _check_digits(check: Callable[[str], bool]) -> Callable[[object, str, bool], bool]:
    def run(value: object, text: str, strict: bool) -> bool:
        return check(v.digits_only(text))

    return run


def _check_text(check: Callable[[str], bool]) -> Callable[[object, str, bool], bool]:
    def run(value: object, text: str, strict: bool) -> bool:
        return check(text)

    return run


def _check_name(value: object, text: str, strict: bool) -> bool:
    return v.person_name_convincing(text) if strict else v.person_name_ok(text)


def _check_kana(value: object, text: str, strict: bool) -> bool:
    return v.kana_name_ok(text, strict=strict)


def _check_birth(value: object, text: str, strict: bool) -> bool:
    if not strict and isinstance(value, float) and 1 <= value <= 60_000:
        return True  # an Excel date serial in a column its header calls a birth date
    return v.birth_date_ok(value)


def _check_gender(value: object, text: str, strict: bool) -> bool:
    lowered = text.lower()
    if strict:
        return lowered in ("男", "女", "男性", "女性", "male", "female")
    return lowered in v.GENDERS


def _check_vin(value: object, text: str, strict: bool) -> bool:
    return v.vin_format_ok(text.upper())


def _check_id(value: object, text: str, strict: bool) -> bool:
    return not strict and 1 <= len(text) <= 40


def _check_bank(value: object, text: str, strict: bool) -> bool:
    digits = v.digits_only(text)
    return (not strict and digits.isdigit() and 4 <= len(digits) <= 17) or (
        text[:2].isalpha() and len(text) >= 15
    )


def _check_company(value: object, text: str, strict: bool) -> bool:
    if strict:
        return v.org_like(text)
    return any(ch.isalpha() for ch in text) and "@" not in text and v.phone_digits(text) is None


_CHECKS: Final[dict[str, Callable[[object, str, bool], bool]]] = {
    "person_name": _check_name,
    "kana_name": _check_kana,
    "email": _check_text(v.email_ok),
    "phone": _check_phone,
    "postal_code": _check_postal,
    "address": _check_address,
    "birth_date": _check_birth,
    "gender": _check_gender,
    "my_number": _check_digits(v.my_number_ok),
    "corporate_number": _check_digits(v.corporate_number_ok),
    "vin": _check_vin,
    "chassis_number": _check_text(lambda text: v.chassis_number_ok(text.upper())),
    "licence_plate": _check_text(v.licence_plate_ok),
    "customer_id": _check_id,
    "employee_id": _check_id,
    "card_number": _check_digits(v.card_number_ok),
    "bank_account": _check_bank,
    "company_name": _check_company,
}
assert set(_CHECKS) == set(KINDS)


# --- counting -----------------------------------------------------------------------------------
# Row work is done a column at a time with list comprehensions and C-level map(); a 50,000-row
# sheet must cost a fraction of what calamine needs to load it.

_LONGEST_EMPTY: Final = max(len(text) for text in EMPTY if isinstance(text, str))


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation grouped by first letter: the regex engine tries far fewer branches."""
    by_first: dict[str, list[str]] = {}
    for word in sorted(words, key=len, reverse=True):
        by_first.setdefault(word[0], []).append(re.escape(word[1:]))
    return "|".join(f"{re.escape(k)}(?:{'|'.join(v)})" for k, v in sorted(by_first.items()))


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
class _Persons:
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
            repeated = {key for key, n in Counter(composite).items() if n > 1}
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


def _count(plan: _SheetPlan, persons: _Persons, samples: dict[str, list[str]]) -> tuple[int, int]:
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
    groups: dict[str, list[_Classified]] = {}
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

    def blank(self, col: _Classified) -> list[bool] | None:
        """Which rows are blank in ``col`` (None: none is). Role mailboxes count as blank."""
        if col.index not in self._blanks:
            blank = _blanks(self.values(col.index))
            if col.kind == "email":
                blank = _role_emails_blank(self.values(col.index), blank)
            self._blanks[col.index] = blank
        return self._blanks[col.index]


def _name_columns(plan: _SheetPlan) -> list[int]:
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


def _drop_labels(plan: _SheetPlan, cells: _Cells, candidates: list[int]) -> list[int]:
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
    plan: _SheetPlan, cells: _Cells, candidates: list[int], persons: _Persons, *, whole: bool
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
    plan: _SheetPlan,
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


# --- masking ------------------------------------------------------------------------------------


def mask(kind: str, value: object) -> str:
    """Return a masked sample of ``value`` for findings: never the whole value.

    ``山田 太郎`` -> ``山田 **``, ``090-1234-5678`` -> ``090-****-5678``,
    ``taro@example.jp`` -> ``t***@example.jp``.
    """
    text = v.nfkc(value)
    if not text:
        return ""
    if kind == "birth_date":
        date = v.parse_date(value)
        return f"{date.year}-**-**" if date else "****"
    return _MASKS.get(kind, _mask_default)(text)


def _mask_default(text: str) -> str:
    return text[:2] + "*" * min(max(len(text) - 2, 2), 6)


def _mask_email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    return f"{local[:1]}***@{domain}" if at else _mask_default(text)


def _mask_name(text: str) -> str:
    parts = text.split()
    if len(parts) > 1 and not text.isascii():
        return parts[0] + " " + " ".join("*" * min(len(p), 2) for p in parts[1:])
    if len(parts) > 1:
        return " ".join(p[:1] + "*" * min(len(p) - 1, 4) for p in parts)
    return text[:1] + "*" * min(max(len(text) - 1, 1), 4)


def _mask_postal(text: str) -> str:
    digits = v.digits_only(text.lstrip("〒"))
    return f"{digits[:3]}-****" if len(digits) >= 3 else "***"


def _mask_tail(keep: int) -> Callable[[str], str]:
    def run(text: str) -> str:
        digits = v.digits_only(text)
        return "*" * max(len(digits) - keep, 4) + digits[-keep:] if len(digits) > 8 else "********"

    return run


def _mask_vin(text: str) -> str:
    return text[:3] + "*" * 10 + text[-4:] if len(text) > 8 else "*" * len(text)


def _mask_chassis(text: str) -> str:
    model, dash, serial = text.partition("-")
    return f"{model}-{'*' * max(len(serial) - 3, 1)}{serial[-3:]}" if dash else _mask_default(text)


def _mask_address(text: str) -> str:
    if text.isascii():  # street first, city and state last: keep the last part, no digits
        return "***, " + re.sub(r"\d", "*", text.replace("\n", ", ").rsplit(",", 1)[-1].strip())
    return text[: min(6, max(len(text) // 3, 1))] + "***"


def _mask_plate(text: str) -> str:
    head, serial = text[:-5], text[-5:]
    return head + re.sub(r"\d", "*", serial)


def _mask_phone(text: str) -> str:
    groups = re.split(r"([\s\-()./]+)", text)
    digit_groups = [i for i, g in enumerate(groups) if g.isdigit()]
    if len(digit_groups) >= 3:
        for i in digit_groups[1:-1]:
            groups[i] = "*" * len(groups[i])
        return "".join(groups)
    digits = v.digits_only(text)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}-****-{digits[-4:]}"


_MASKS: Final[dict[str, Callable[[str], str]]] = {
    "email": _mask_email,
    "phone": _mask_phone,
    "person_name": _mask_name,
    "kana_name": _mask_name,
    "postal_code": _mask_postal,
    "address": _mask_address,
    "licence_plate": _mask_plate,
    "my_number": _mask_tail(2),
    "card_number": _mask_tail(4),
    "bank_account": _mask_tail(3),
    "corporate_number": _mask_tail(4),
    "vin": _mask_vin,
    "chassis_number": _mask_chassis,
    "gender": lambda text: "*",
}
