"""Find the header row of a sheet and the kind of value each column holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from dlp_proxy.inspect import validators as v
from dlp_proxy.inspect.model import Sheet
from dlp_proxy.inspect.vocabulary import OTHER, Vocabulary

EMPTY: Final = frozenset(
    {"", None, " ", "\u3000", "-", "--", "ー", "－", "―", "—", "‐", "*", "・", "なし", "無し",
     "不明", "未登録", "未定", "該当なし", "n/a", "N/A", "NA", "na", "none", "None", "NONE",
     "null", "NULL", "nil", "-/-", "ｰ", "―――", "..."}
)  # fmt: skip
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
# Kinds whose values are too loose to be guessed in a column whose header we do not know,
# when the rest of the header row is known.
_WEAK_VALUE_KINDS: Final = frozenset({"person_name", "kana_name", "address", "company_name"})

_HEADER_SCAN_ROWS: Final = 40
_SAMPLE_HEAD: Final = 120
_SAMPLE_SPREAD: Final = 120


@dataclass(frozen=True, slots=True)
class Classified:
    """A column and the kind of value it holds."""

    index: int
    kind: str
    header: str | None


@dataclass(slots=True)
class SheetPlan:
    """Where a sheet's data starts, its header row if any, and its classified columns."""

    sheet: Sheet
    data_start: int
    header: Sequence[object] | None
    columns: list[Classified] = field(default_factory=list)


def plan_sheet(sheet: Sheet, vocab: Vocabulary) -> SheetPlan:
    """Locate the header row and classify the columns of one sheet from a sample of rows."""
    rows = sheet.rows
    header_index = _find_header(rows, vocab)
    header = rows[header_index] if header_index is not None else None
    start = header_index + 1 if header_index is not None else 0
    plan = SheetPlan(sheet, start, header)
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
    if header is None:
        first = next((i for i in range(start, len(rows)) if not EMPTY.issuperset(rows[i])), None)
        if first is not None and _unknown_header(rows[first], chosen):
            header, plan.header, plan.data_start = rows[first], rows[first], first + 1
    for index, kind in sorted(chosen.items()):
        text = header[index] if header is not None and index < len(header) else None
        plan.columns.append(Classified(index, kind, str(text) if text not in EMPTY else None))
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


def _unknown_header(row: Sequence[object], chosen: dict[int, str]) -> bool:
    """A first row of labels the vocabulary does not know ("Kundschaft", "Rufnummer"): text
    only, nothing that looks like a value, and most columns' checks fail on it."""
    cells = [(i, row[i]) for i in chosen if i < len(row) and row[i] not in EMPTY]
    if len(cells) < 2 or not all(isinstance(cell, str) for _, cell in cells):
        return False
    if any(_looks_like_value(cell) for _, cell in cells):  # type: ignore[arg-type]
        return False
    failed = sum(1 for i, cell in cells if not _CHECKS[chosen[i]](cell, v.nfkc(cell), False))
    return failed >= 2 and failed * 2 >= len(cells)


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
    if not candidates and OTHER in hints:
        return None
    fraction, kind = 0.0, None
    if candidates:
        # The header names candidates; the values must agree with one of them.
        scored = [(_fraction(kind, values, texts, strict=False), kind) for kind in candidates]
        fraction, kind = max(scored, key=lambda item: item[0])
        if kind == "person_name" and _fraction("company_name", values, texts, strict=True) >= 0.5:
            return "company_name"
        if fraction >= 0.5:
            return kind
    by_value = _classify_by_value(values, texts, known_header=known_header)
    if by_value is not None:
        return by_value
    return kind if fraction >= 0.2 else None


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
