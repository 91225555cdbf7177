"""Checks on single cell values: check digits, phone and postcode formats, dates and names."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Final

ERA_START: Final = {"M": 1868, "T": 1912, "S": 1926, "H": 1989, "R": 2019}
ERA_LAST_YEAR: Final = {"M": 45, "T": 15, "S": 64, "H": 31, "R": 99}
ERA_NAMES: Final = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}

# Separators people type inside phone numbers, on top of what NFKC already maps to ASCII.
_PHONE_JUNK: Final = dict.fromkeys(map(ord, " -()‐‑‒–—―−ー〜~・./　"), None)
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|内線|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"^\+?[\d\s\-()./‐‑‒–—―−ー]+$")
_EMAIL = re.compile(
    r"^[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
)
_POSTAL_JP = re.compile(r"^(?:〒\s*)?(\d{3})[-‐−ー]?(\d{4})$")
_POSTAL_JP_STRICT = re.compile(r"^(?:〒\s*\d{3}[-‐−ー]?\d{4}|\d{3}[-‐−ー]\d{4})$")
_POSTAL_US = re.compile(r"^\d{5}(?:-\d{4})?$")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_CHASSIS = re.compile(r"^[A-Z]{1,4}\d{1,3}[A-Z]{0,2}-\d{4,7}$")
_PLATE = re.compile(
    r"^[\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff]{1,5}\s*\d{1,3}\s*[\u3041-\u3096]\s*"
    r"(?:\d{1,2}-\d{2}|[・.]{1,3}\s*\d{1,3}|\d{1,4})$"
)
_ERA_DATE = re.compile(
    r"^(?P<era>明治|大正|昭和|平成|令和|[MTSHR])\s*(?P<y>元|\d{1,2})\s*(?:年|[./\-])\s*"
    r"(?P<m>\d{1,2})\s*(?:月|[./\-])\s*(?P<d>\d{1,2})\s*日?$",
    re.IGNORECASE,
)
_YMD = re.compile(
    r"^(?P<y>\d{4})\s*(?:年|[./\-])\s*(?P<m>\d{1,2})\s*(?:月|[./\-])\s*(?P<d>\d{1,2})\s*日?"
)
_MDY = re.compile(r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$")
_COMPACT_YMD = re.compile(r"^(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})$")

_KANJI = "\u3005\u3006\u30f6\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe"
_JA_NAME_SPACED = re.compile(rf"^[{_KANJI}{_KANA}]{{1,6}}[ \u3000]+[{_KANJI}{_KANA}]{{1,6}}$")
_JA_NAME_PLAIN = re.compile(rf"^[{_KANJI}][{_KANJI}{_KANA}]{{1,7}}$")
_KANA_NAME = re.compile(rf"^[{_KANA}]{{1,12}}(?:[ \u3000]+[{_KANA}]{{1,12}})?$")
_KANA_NAME_SPACED = re.compile(rf"^[{_KANA}]{{1,12}}[ \u3000]+[{_KANA}]{{1,12}}$")
_LATIN_NAME = re.compile(
    r"^(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+)?[A-Z][a-zA-Z'’\-]+(?:\s+[A-Z]\.?)?(?:\s+[A-Z][a-zA-Z'’\-]+){1,2}"
    r"(?:,?\s+(?:Jr\.?|Sr\.?|II|III|IV|MD|DDS|DVM|PhD))?$"
)
_LATIN_NAME_LOOSE = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ'’.\-]+(?:[ ,]+[A-Za-zÀ-ÖØ-öø-ÿ'’.\-]+){0,4}$")
_NAME_CHARS = re.compile(rf"^[{_KANJI}{_KANA}A-Za-zÀ-ÖØ-öø-ÿ'’.,\- \u3000]+$")
_ORG_JA = re.compile(
    r"株式会社|有限会社|合同会社|合資会社|合名会社|[(（]株[)）]|[(（]有[)）]|[㈱㈲]|法人|協会|組合|"
    r"事務所|支店|本店|営業所|事業所|出張所|センター|工場|商事|商会|商店|病院|医院|クリニック|学校|"
    r"大学|銀行|ホールディングス|グループ|ディーラー|モータース|自動車|工業|製作所|産業|本社|支社|"
    r"[店館庁署局]$"
)
_ORG_EN = re.compile(
    r"\b(?:inc|llc|ltd|limited|corp|corporation|co|company|group|plc|gmbh|llp|partners|holdings|"
    r"associates|bank|store|shop|branch|motors|dealer|dealership|center|centre|office|services?|"
    r"solutions|systems|technologies|industries|international|university|school|hospital|clinic)\b"
    r"|&|\band\b",
    re.IGNORECASE,
)
# fmt: off
PREFECTURES: Final = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)
# fmt: on
_ADDRESS_JA = re.compile(
    "^(?:" + "|".join(PREFECTURES) + ").{2}"
    rf"|^[{_KANJI}{_KANA}]{{1,8}}[市区町村郡].*(?:\d|丁目|番地|番|号)"
)
_ADDRESS_EN = re.compile(
    r"^\d+[A-Za-z]?\s+\w[\w .'\-]*\b(?:st|street|ave|avenue|rd|road|blvd|boulevard|ln|lane|"
    r"dr|drive|way|ct|court|pl|place|sq|square|ter|terrace|pkwy|parkway|cir|circle|hwy|highway|trl|trail|"
    r"loop|row|walk|crescent|close|mews|gardens|park|plaza|pike|run|pass|path|crossing|"
    r"station|ville|burgs?|mills?|views?|ridge|creek|heights|spur|route)\b"
    r"|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?$"
    r"|^(?:PSC|USNS|USNV|USS|USCGC|Unit)\s+\d+",
    re.IGNORECASE,
)
GENDERS: Final = frozenset(
    {"男", "女", "男性", "女性", "m", "f", "male", "female", "man", "woman", "その他", "other", "x"}
)
_VIN_VALUES: Final = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS: Final = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def nfkc(value: object) -> str:
    """Return a cell as NFKC-normalised, stripped text (full-width digits, hyphens to ASCII)."""
    if isinstance(value, str):
        text = value if value.isascii() else unicodedata.normalize("NFKC", value)
        return text.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def digits_only(text: str) -> str:
    """Return ``text`` without separators; the caller checks that only digits remain."""
    return text.translate(_PHONE_JUNK)


def my_number_ok(text: str) -> bool:
    """Check a 12-digit My Number (個人番号) against its mod-11 check digit."""
    if len(text) != 12 or not text.isdigit():
        return False
    total = sum(
        int(d) * w for d, w in zip(text[:11], (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True)
    )
    remainder = total % 11
    return int(text[11]) == (0 if remainder <= 1 else 11 - remainder)


def corporate_number_ok(text: str) -> bool:
    """Check a 13-digit corporate number (法人番号); its check digit comes first."""
    if len(text) != 13 or not text.isdigit():
        return False
    body = text[1:]
    total = sum(int(d) * (2 if i % 2 else 1) for i, d in enumerate(reversed(body)))
    return int(text[0]) == 9 - total % 9


def luhn_ok(text: str) -> bool:
    """Check a digit string with the Luhn algorithm."""
    if not text.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(text)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_number_ok(text: str) -> bool:
    """Check a payment card number: 13-19 digits, a known issuer prefix and the Luhn digit."""
    digits = digits_only(text)
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    two, four = int(digits[:2]), int(digits[:4])
    known = (
        digits[0] == "4"
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 37, 36, 38, 62, 65)
        or 3528 <= four <= 3589
        or 300 <= int(digits[:3]) <= 305
        or digits.startswith("6011")
    )
    return known and luhn_ok(digits)


def vin_format_ok(text: str) -> bool:
    """Say whether ``text`` is shaped like a 17-character VIN (no I, O or Q; letters and digits)."""
    return bool(_VIN.match(text)) and not text.isdigit() and not text.isalpha()


def vin_check_ok(text: str) -> bool:
    """Check the ISO 3779 / North American check digit in position 9 of a VIN."""
    if not _VIN.match(text):
        return False
    total = sum(_VIN_VALUES[ch] * w for ch, w in zip(text, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return text[8] == ("X" if check == 10 else str(check))


def chassis_number_ok(text: str) -> bool:
    """Say whether ``text`` looks like a Japanese chassis number such as ``ZVW30-1234567``."""
    return bool(_CHASSIS.match(text))


def licence_plate_ok(text: str) -> bool:
    """Say whether ``text`` looks like a Japanese number plate such as ``品川 300 あ 12-34``."""
    return bool(_PLATE.match(text))


def phone_digits(text: str) -> str | None:
    """Return the canonical digits of a phone number, or None when ``text`` is not one.

    Japanese numbers come back in domestic form (``+81 90-...`` becomes ``090...``);
    others keep their country code after a ``+``.
    """
    text = _EXTENSION.sub("", text)
    if not _PHONE_CHARS.match(text):
        return None
    digits = text.translate(_PHONE_JUNK)
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if not digits.isdigit():
        return None
    if plus or digits.startswith(("00", "010")):
        # International access prefixes: 00 (most countries), 010 (from Japan).
        if not plus:
            digits = digits[3:] if digits.startswith("010") else digits[2:]
        if digits.startswith("81") and 11 <= len(digits) <= 12:
            digits = "0" + digits[2:]
        elif 8 <= len(digits) <= 15 and digits[0] != "0":
            return "+" + digits
        else:
            return None
    if digits.startswith("0"):
        return digits if _japanese_phone(digits) else None
    # North American numbers: shaped with separators, area and exchange codes start 2-9.
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789" and text != digits:
        return "+1" + digits
    return None


def _japanese_phone(digits: str) -> bool:
    if digits.startswith(("070", "080", "090", "060", "050")):
        return len(digits) == 11
    if digits.startswith("0120"):
        return len(digits) == 10
    if digits.startswith("0800"):
        return len(digits) == 11
    if digits.startswith(("0570", "0990")):
        return len(digits) == 10
    return len(digits) == 10 and digits[1] != "0"


def phone_from_number(value: float) -> str | None:
    """Rebuild a Japanese phone number that a spreadsheet stored as a number (leading 0 lost)."""
    if not value.is_integer() or value <= 0:
        return None
    digits = "0" + str(int(value))
    return digits if _japanese_phone(digits) else None


def email_ok(text: str) -> bool:
    """Say whether ``text`` is an email address."""
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return "@" in text and bool(_EMAIL.match(text))


def postal_code(text: str, *, strict: bool = False) -> str | None:
    """Return a Japanese postcode as seven digits, or None.

    ``strict`` (used when no header says "postcode") demands the ``〒`` mark or ``NNN-NNNN``.
    """
    if strict and not _POSTAL_JP_STRICT.match(text):
        return None
    match = _POSTAL_JP.match(text)
    return match.group(1) + match.group(2) if match else None


def us_zip_ok(text: str) -> bool:
    """Say whether ``text`` is a US ZIP or ZIP+4 code."""
    return bool(_POSTAL_US.match(text))


def parse_date(value: object) -> dt.date | None:
    """Read a date from a cell: a date object, ISO or Japanese text, or a Japanese era date.

    Eras take the forms ``昭和45年3月1日``, ``S45.3.1``, ``R2/4/1`` and ``平成元年1月8日``.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value if value.isascii() else unicodedata.normalize("NFKC", value).strip()
    if not text or (not text[0].isascii() and text[:2] not in ERA_NAMES) or len(text) > 32:
        return None
    try:
        if match := _ERA_DATE.match(text):
            era = ERA_NAMES.get(match["era"], match["era"].upper())
            year = 1 if match["y"] == "元" else int(match["y"])
            if not 1 <= year <= ERA_LAST_YEAR[era]:
                return None
            return dt.date(ERA_START[era] + year - 1, int(match["m"]), int(match["d"]))
        if (match := _YMD.match(text)) or (match := _COMPACT_YMD.match(text)):
            return dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
        if match := _MDY.match(text):
            return dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None
    return None


def birth_date_ok(value: object, *, today: dt.date | None = None) -> bool:
    """Say whether a cell is a plausible birth date: a real date between 1900 and today."""
    date = parse_date(value)
    if date is None:
        return False
    return dt.date(1900, 1, 1) <= date <= (today or dt.date.today())


def gender_ok(text: str) -> bool:
    """Say whether ``text`` is a gender value such as 男, 女性, M or female."""
    return text.lower() in GENDERS


def org_like(text: str) -> bool:
    """Say whether a name belongs to an organisation (株式会社..., 渋谷店, Acme Inc.)."""
    return bool(_ORG_JA.search(text) or (text.isascii() and _ORG_EN.search(text)))


def person_name_ok(text: str) -> bool:
    """Say whether ``text`` could be a person's name (under a header that says so)."""
    return 1 <= len(text) <= 40 and bool(_NAME_CHARS.match(text)) and not org_like(text)


def person_name_convincing(text: str) -> bool:
    """Say whether ``text`` alone looks like a full name: ``山田 太郎`` or ``John Smith``."""
    if org_like(text):
        return False
    return bool(_JA_NAME_SPACED.match(text) or _LATIN_NAME.match(text))


def person_name_plain(text: str) -> bool:
    """Say whether ``text`` could be an unspaced kanji name (``山田太郎``); weak on its own."""
    return bool(_JA_NAME_PLAIN.match(text)) and not org_like(text) and not _ADDRESS_JA.match(text)


def latin_name_ok(text: str) -> bool:
    """Say whether ``text`` is made of Latin words only, as a name is."""
    return bool(_LATIN_NAME_LOOSE.match(text))


def kana_name_ok(text: str, *, strict: bool = False) -> bool:
    """Say whether ``text`` is a kana reading; ``strict`` demands family and given names."""
    return bool((_KANA_NAME_SPACED if strict else _KANA_NAME).match(text))


def address_ok(text: str) -> bool:
    """Say whether ``text`` looks like a postal address (Japanese or English)."""
    return len(text) >= 4 and bool(_ADDRESS_JA.search(text) or _ADDRESS_EN.search(text))
