"""Build the evaluation corpus: synthetic customer lists and hard negatives, each with its truth.

Every file is generated here, from Faker (ja_JP, en_US) and from our own name and address
lists in tests/corpus/data/, so the detector is not tuned to one vocabulary. The truth of a
file (is it personal, how many personal rows, how many distinct persons) is counted while
its rows are written, never typed by hand. xls and ods variants are written by LibreOffice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from faker import Faker

HERE = Path(__file__).parent
DATA = HERE / "data"
SEED = 20240401

NAME, IDENT, ATTR, NONE = "name", "ident", "attr", "none"


@dataclass(frozen=True)
class Truth:
    """What a file holds, as counted by the generator."""

    personal_rows: int
    persons: int

    @property
    def positive(self) -> bool:
        return self.personal_rows > 0


@dataclass(frozen=True)
class CorpusFile:
    name: str
    path: Path
    truth: Truth
    note: str = ""


@dataclass(frozen=True)
class Person:
    id: int
    family: str
    given: str
    family_kana: str
    given_kana: str
    latin: str
    gender: str
    birth: dt.date
    email: str
    mobile: str
    landline: str
    postal: str
    address: str
    my_number: str
    customer_id: str
    card: str
    bank: str
    vin: str
    chassis: str
    plate: str

    @property
    def name(self) -> str:
        return f"{self.family} {self.given}" if self.family_kana else self.latin

    @property
    def kana(self) -> str:
        return f"{self.family_kana} {self.given_kana}"


# --- check digits (written here again, independently of dlp_proxy.inspect.validators) ----------


def my_number(rng: random.Random) -> str:
    body = [rng.randint(0, 9) for _ in range(11)]
    weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    remainder = sum(d * w for d, w in zip(body, weights, strict=True)) % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return "".join(map(str, body)) + str(check)


def corporate_number(rng: random.Random) -> str:
    body = [rng.randint(0, 9) for _ in range(12)]
    total = sum(d * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(body)))
    return str(9 - total % 9) + "".join(map(str, body))


def luhn_card(rng: random.Random, prefix: str, length: int) -> str:
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == 0 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_VALUE = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}


def vin(rng: random.Random) -> str:
    wmi = rng.choice(["JTD", "JHM", "JN1", "1HG", "5YJ", "WVW", "KMH", "3FA"])
    chars = list(wmi + "".join(rng.choice(_VIN_CHARS) for _ in range(5)) + "0")
    chars += [rng.choice("ABCDEFGHJKLMNPRSTVWXY123456789")]  # model year
    chars += [rng.choice(_VIN_CHARS)] + [str(rng.randint(0, 9)) for _ in range(6)]
    weights = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
    check = sum(_VIN_VALUE[c] * w for c, w in zip(chars, weights, strict=True)) % 11
    chars[8] = "X" if check == 10 else str(check)
    return "".join(chars)


CHASSIS_MODELS = ["ZVW30", "NHP10", "GRS180", "ZWR80", "NZE161", "GP5", "RU1", "DBA", "ZC33S"]
PLATE_REGIONS = ["品川", "練馬", "横浜", "なにわ", "名古屋", "札幌", "湘南", "多摩", "足立", "神戸"]
PLATE_KANA = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるろれわ"


def chassis(rng: random.Random) -> str:
    model = rng.choice([m for m in CHASSIS_MODELS if any(ch.isdigit() for ch in m)])
    return f"{model}-{rng.randint(0, 9999999):07d}"


def plate(rng: random.Random) -> str:
    number = rng.randint(1, 9999)
    serial = f"{number // 100:>2}-{number % 100:02d}".strip() if number >= 100 else f"・・{number}"
    return f"{rng.choice(PLATE_REGIONS)} {rng.randint(300, 599)} {rng.choice(PLATE_KANA)} {serial}"


# --- people ------------------------------------------------------------------------------------


def _tsv(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


class Population:
    """Makes persons with unique emails and phones; half Faker, half our own lists."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.fake_ja = Faker("ja_JP")
        self.fake_en = Faker("en_US")
        self.fake_ja.seed_instance(seed)
        self.fake_en.seed_instance(seed + 1)
        self.family = _tsv("ja_family.tsv")
        self.given = _tsv("ja_given.tsv")
        self.places = _tsv("ja_places.tsv")
        self.en_names = _tsv("en_names.tsv")
        self.en_places = _tsv("en_places.tsv")
        self.count = 0
        self.used: set[str] = set()

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("could not make a unique value")

    def _mobile(self) -> str:
        return self._unique(
            lambda: (
                f"0{self.rng.choice('789')}0-{self.rng.randint(0, 9999):04d}-"
                f"{self.rng.randint(0, 9999):04d}"
            )
        )

    def _common(self) -> dict[str, object]:
        rng = self.rng
        self.count += 1
        return {
            "id": self.count,
            "birth": dt.date(1935, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 70)),
            "my_number": my_number(rng),
            "customer_id": f"C{self.count:07d}",
            "card": luhn_card(rng, rng.choice(["4", "53", "3528", "37"]), 16),
            "bank": f"{rng.randint(0, 9999999):07d}",
            "vin": vin(rng),
            "chassis": chassis(rng),
            "plate": plate(rng),
        }

    def ja(self, *, own: bool | None = None) -> Person:
        rng = self.rng
        own = rng.random() < 0.5 if own is None else own
        common = self._common()
        if own:
            family, family_kana = rng.choice(self.family)
            given, given_kana, sex = rng.choice(self.given)
            pref, city, town = rng.choice(self.places)
            address = (
                f"{pref}{city}{town}{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
            )
            if rng.random() < 0.3:
                address += f" メゾン{town}{rng.randint(101, 905)}"
            postal = f"{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}"
            landline = self._unique(
                lambda: f"0{rng.randint(3, 99)}-{rng.randint(100, 9999)}-{rng.randint(0, 9999):04d}"
            )
            romaji = f"u{common['id']}"
        else:
            fake = self.fake_ja
            family, family_kana, family_roman = fake.last_name_pair()
            female = rng.random() < 0.5
            pair = fake.first_name_female_pair() if female else fake.first_name_male_pair()
            given, given_kana, given_roman = pair
            sex = "F" if female else "M"
            address = fake.address()
            postal = fake.postcode()
            landline = self._unique(
                lambda: f"03-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}"
            )
            romaji = f"{given_roman}.{family_roman}".lower()
        domain = rng.choice(["example.jp", "example.co.jp", "example.ne.jp", "example.com"])
        email = self._unique(lambda: f"{romaji}{rng.randint(1, 9999)}@{domain}")
        return Person(
            family=family,
            given=given,
            family_kana=family_kana,
            given_kana=given_kana,
            latin="",
            gender="女" if sex == "F" else "男",
            email=email,
            mobile=self._mobile(),
            landline=landline,
            postal=postal,
            address=address,
            **common,  # type: ignore[arg-type]
        )

    def en(self, *, own: bool | None = None) -> Person:
        rng = self.rng
        own = rng.random() < 0.5 if own is None else own
        common = self._common()
        if own:
            first, last = rng.choice(self.en_names)
            street, city, state, zip_prefix = rng.choice(self.en_places)
            number, zip_suffix = rng.randint(10, 9999), rng.randint(10, 99)
            address = f"{number} {street}, {city}, {state} {zip_prefix}{zip_suffix}"
            postal = f"{zip_prefix}{rng.randint(10, 99)}"
        else:
            first, last = self.fake_en.first_name(), self.fake_en.last_name()
            address = self.fake_en.address()
            postal = self.fake_en.zipcode()
        phone = self._unique(
            lambda: f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        )
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = self._unique(lambda: f"{local}{rng.randint(1, 999)}@example.org")
        return Person(
            family="",
            given="",
            family_kana="",
            given_kana="",
            latin=f"{first} {last}",
            gender=rng.choice(["Male", "Female"]),
            email=email,
            mobile=phone,
            landline=phone,
            postal=postal,
            address=address,
            **common,  # type: ignore[arg-type]
        )


# --- tables with their truth ---------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    header: str
    get: Callable[[Person], object]
    role: str  # NAME, IDENT, ATTR or NONE
    group: str = ""  # columns of one group count once (姓 and 名 are one name)


@dataclass
class Table:
    """Rows of one sheet; personal rows and persons are counted as rows are added."""

    name: str = "Sheet1"
    rows: list[list[object]] = field(default_factory=list)
    state: str = "visible"
    personal: int = 0
    persons: set[int] = field(default_factory=set)

    def add(self, *cells: object) -> None:
        self.rows.append(list(cells))

    def header(self, cols: Sequence[Col], offset: int = 0) -> None:
        self.rows.append([""] * offset + [c.header for c in cols])

    def person(
        self,
        person: Person,
        cols: Sequence[Col],
        *,
        offset: int = 0,
        blank: Iterable[int] = (),
        transform: Callable[[object], object] | None = None,
    ) -> None:
        blanked = set(blank)
        cells: list[object] = [""] * offset
        filled: set[str] = set()
        anchor = False
        for i, col in enumerate(cols):
            value = "" if i in blanked else col.get(person)
            if transform is not None and value != "":
                value = transform(value)
            cells.append(value)
            if value != "" and col.role != NONE:
                filled.add(col.group or col.header or f"#{i}")
                anchor = anchor or col.role in (NAME, IDENT)
        self.rows.append(cells)
        if anchor and len(filled) >= 2:
            self.personal += 1
            self.persons.add(person.id)


def truth(tables: Sequence[Table]) -> Truth:
    persons: set[int] = set()
    for table in tables:
        persons |= table.persons
    return Truth(sum(t.personal for t in tables), len(persons))


# --- writers -----------------------------------------------------------------------------------


def write_xlsx(path: Path, tables: Sequence[Table]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table in tables:
        sheet = book.create_sheet(table.name)
        sheet.sheet_state = table.state
        for row in table.rows:
            sheet.append([None if cell == "" else cell for cell in row])
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy/mm/dd"
    if all(t.state != "visible" for t in tables):
        raise ValueError("a workbook needs one visible sheet")
    book.save(path)


def write_delimited(
    path: Path, table: Table, *, encoding: str = "utf-8", delimiter: str = ",", bom: bool = False
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in table.rows:
        writer.writerow(
            ["" if c is None else (c.isoformat() if isinstance(c, dt.date) else c) for c in row]
        )
    data = buffer.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def libreoffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(sources: Sequence[Path], fmt: str, outdir: Path) -> None:
    """Convert files with one LibreOffice run (its start-up is the slow part)."""
    office = libreoffice()
    if office is None:
        raise RuntimeError("LibreOffice (soffice) is not installed; run scripts/test-deps")
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        command = [
            office,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            fmt,
            "--outdir",
            str(outdir),
            *map(str, sources),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    for source in sources:
        if not (outdir / f"{source.stem}.{fmt}").exists():
            raise RuntimeError(f"LibreOffice did not write {source.stem}.{fmt}")


# --- the corpus ----------------------------------------------------------------------------------


def ja_columns() -> list[Col]:
    return [
        Col("顧客ID", lambda p: p.customer_id, IDENT),
        Col("氏名", lambda p: p.name, NAME, "name"),
        Col("フリガナ", lambda p: p.kana, NAME, "name"),
        Col("性別", lambda p: p.gender, ATTR),
        Col("生年月日", lambda p: p.birth, IDENT),
        Col("郵便番号", lambda p: p.postal, ATTR),
        Col("住所", lambda p: p.address, ATTR),
        Col("電話番号", lambda p: p.landline, ATTR),
        Col("メールアドレス", lambda p: p.email, IDENT),
    ]


def en_columns() -> list[Col]:
    return [
        Col("Customer ID", lambda p: p.customer_id, IDENT),
        Col("First Name", lambda p: p.latin.split(" ", 1)[0], NAME, "name"),
        Col("Last Name", lambda p: p.latin.split(" ", 1)[1], NAME, "name"),
        Col("Email", lambda p: p.email, IDENT),
        Col("Phone", lambda p: p.mobile, ATTR),
        Col("Address", lambda p: p.address, ATTR),
        Col("Date of Birth", lambda p: p.birth, IDENT),
    ]


def era(date: dt.date, style: int) -> str:
    for start, kanji, letter in ((2019, "令和", "R"), (1989, "平成", "H"), (1926, "昭和", "S")):
        first_day = {
            2019: dt.date(2019, 5, 1),
            1989: dt.date(1989, 1, 8),
            1926: dt.date(1926, 12, 25),
        }
        if date >= first_day[start]:
            year = date.year - start + 1
            if style == 0:
                return f"{kanji}{'元' if year == 1 else year}年{date.month}月{date.day}日"
            if style == 1:
                return f"{letter}{year}.{date.month}.{date.day}"
            return f"{letter}{year}/{date.month}/{date.day}"
    return date.isoformat()


def _fullwidth(value: object) -> object:
    if not isinstance(value, str):
        return value
    return value.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789-"})


Builder = Callable[[Population, Path, random.Random], CorpusFile]
BUILDERS: list[tuple[str, Builder]] = []


def builder(name: str) -> Callable[[Builder], Builder]:
    def register(function: Builder) -> Builder:
        BUILDERS.append((name, function))
        return function

    return register


def _customers(
    people: Population, rng: random.Random, count: int, cols: list[Col], en: bool = False
) -> Table:
    table = Table("顧客一覧" if not en else "Customers")
    table.header(cols)
    for _ in range(count):
        person = people.en() if en else people.ja()
        # One row in ten misses a value or two; one in fifty has only a name.
        blank = rng.sample(range(len(cols)), 2) if rng.random() < 0.1 else []
        if rng.random() < 0.02:
            blank = [i for i, c in enumerate(cols) if c.role != NAME]
        table.person(person, cols, blank=blank)
    return table


@builder("ja_customers.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = _customers(people, rng, 240, ja_columns())
    write_xlsx(out / "ja_customers.xlsx", [table])
    return CorpusFile("ja_customers.xlsx", out / "ja_customers.xlsx", truth([table]))


@builder("en_customers.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = _customers(people, rng, 180, en_columns(), en=True)
    write_xlsx(out / "en_customers.xlsx", [table])
    return CorpusFile("en_customers.xlsx", out / "en_customers.xlsx", truth([table]))


@builder("dealer_ja_title_rows.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("No.", lambda p: p.id, NONE),
        Col("お客様名", lambda p: p.name, NAME),
        Col("ご住所", lambda p: p.address, ATTR),
        Col("連絡先", lambda p: p.mobile, ATTR),
        Col(
            "車名",
            lambda p: rng.choice(["プリウス", "アクア", "ヤリス", "ノート", "フィット"]),
            NONE,
        ),
        Col("車台番号", lambda p: p.chassis, ATTR),
        Col("登録番号", lambda p: p.plate, ATTR),
        Col("次回車検", lambda p: dt.date(2025, rng.randint(1, 12), rng.randint(1, 28)), NONE),
    ]
    table = Table("台帳")
    table.add("", "販売店顧客台帳（2024年度）")
    table.add("", "作成日: 2024/04/01", "", "", "担当: 営業部")
    table.add()
    table.header(cols, offset=1)
    for _ in range(150):
        table.person(people.ja(), cols, offset=1)
    table.add("", "合計", "150台")
    write_xlsx(out / "dealer_ja_title_rows.xlsx", [table])
    return CorpusFile(
        "dealer_ja_title_rows.xlsx", out / "dealer_ja_title_rows.xlsx", truth([table])
    )


@builder("dealer_en_vin.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("Owner", lambda p: p.latin, NAME),
        Col("Street Address", lambda p: p.address, ATTR),
        Col("Phone", lambda p: p.mobile, ATTR),
        Col("VIN", lambda p: p.vin, ATTR),
        Col("Model", lambda p: rng.choice(["Corolla", "Civic", "Leaf", "Model 3", "Golf"]), NONE),
        Col("Purchase Date", lambda p: dt.date(2023, rng.randint(1, 12), rng.randint(1, 28)), NONE),
    ]
    table = Table("Service customers")
    table.header(cols)
    for _ in range(120):
        table.person(people.en(), cols)
    write_xlsx(out / "dealer_en_vin.xlsx", [table])
    return CorpusFile("dealer_en_vin.xlsx", out / "dealer_en_vin.xlsx", truth([table]))


@builder("employee_roster_era.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    style = iter(range(10**6))
    cols = [
        Col("社員番号", lambda p: f"E{p.id:05d}", IDENT),
        Col("氏名", lambda p: p.name, NAME, "name"),
        Col("氏名カナ", lambda p: p.kana, NAME, "name"),
        Col("部署", lambda p: rng.choice(["営業部", "総務部", "技術部", "経理部"]), NONE),
        Col("生年月日", lambda p: era(p.birth, next(style) % 3), IDENT),
        Col("携帯電話", lambda p: p.mobile, ATTR),
        Col("代表電話", lambda p: "03-5555-0100", NONE),
        Col("メール", lambda p: p.email, IDENT),
        Col("マイナンバー", lambda p: p.my_number, IDENT),
    ]
    table = Table("社員名簿")
    table.header(cols)
    for _ in range(90):
        table.person(people.ja(), cols)
    write_xlsx(out / "employee_roster_era.xlsx", [table])
    return CorpusFile("employee_roster_era.xlsx", out / "employee_roster_era.xlsx", truth([table]))


@builder("mailing_list_bom.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("Email Address", lambda p: p.email, IDENT),
        Col("First Name", lambda p: p.latin.split(" ", 1)[0], NAME, "name"),
        Col("Last Name", lambda p: p.latin.split(" ", 1)[1], NAME, "name"),
        Col("MEMBER_RATING", lambda p: rng.randint(1, 5), NONE),
        Col(
            "OPTIN_TIME", lambda p: f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 10:00:00", NONE
        ),
    ]
    table = Table("mailing_list")
    table.header(cols)
    for _ in range(200):
        table.person(people.en(), cols)
    write_delimited(out / "mailing_list_bom.csv", table, bom=True)
    return CorpusFile("mailing_list_bom.csv", out / "mailing_list_bom.csv", truth([table]))


@builder("multi_sheet_hidden.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    summary = Table("集計")
    summary.add("地域", "顧客数", "売上")
    for region in ["関東", "関西", "九州"]:
        summary.add(region, rng.randint(10, 99), rng.randint(10**5, 10**7))
    cols = ja_columns()
    current = Table("顧客リスト", state="hidden")
    current.header(cols)
    kept: list[Person] = []
    for _ in range(110):
        person = people.ja()
        kept.append(person)
        current.person(person, cols)
    former = Table("旧顧客", state="veryHidden")
    former.header(cols)
    for person in kept[:25]:  # the same people again: rows count, persons do not
        former.person(person, cols)
    for _ in range(40):
        former.person(people.ja(), cols)
    tables = [summary, current, former]
    write_xlsx(out / "multi_sheet_hidden.xlsx", tables)
    return CorpusFile("multi_sheet_hidden.xlsx", out / "multi_sheet_hidden.xlsx", truth(tables))


@builder("repeated_headers_totals.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("会員番号", lambda p: p.customer_id, IDENT),
        Col("お名前", lambda p: p.name, NAME),
        Col("ＴＥＬ", lambda p: p.mobile, ATTR),
        Col("Ｅメール", lambda p: p.email, IDENT),
        Col("購入金額", lambda p: rng.randint(1000, 90000), NONE),
    ]
    table = Table("会員")
    table.add("", "", "会員一覧（印刷用）")
    table.add()
    for _page in range(4):
        table.header(cols, offset=2)
        for _ in range(30):
            table.person(people.ja(), cols, offset=2)
        table.add("", "", "小計", "", "", "", rng.randint(10**5, 10**6))
        table.add()
        table.add()
    table.add("", "", "合計", "", "", "", rng.randint(10**6, 10**7))
    write_xlsx(out / "repeated_headers_totals.xlsx", [table])
    return CorpusFile(
        "repeated_headers_totals.xlsx", out / "repeated_headers_totals.xlsx", truth([table])
    )


@builder("no_header_ja.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("", lambda p: p.name, NAME),
        Col("", lambda p: p.mobile, ATTR),
        Col("", lambda p: p.email, IDENT),
        Col("", lambda p: p.address, ATTR),
    ]
    table = Table("Sheet1")
    for _ in range(60):
        table.person(people.ja(), cols)
    write_xlsx(out / "no_header_ja.xlsx", [table])
    return CorpusFile("no_header_ja.xlsx", out / "no_header_ja.xlsx", truth([table]))


@builder("no_header_en.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("", lambda p: p.latin, NAME),
        Col("", lambda p: p.email, IDENT),
        Col("", lambda p: p.mobile, ATTR),
    ]
    table = Table("no_header_en")
    for _ in range(50):
        table.person(people.en(), cols)
    write_delimited(out / "no_header_en.csv", table)
    return CorpusFile("no_header_en.csv", out / "no_header_en.csv", truth([table]))


@builder("fullwidth_digits.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("氏　名", lambda p: p.name, NAME),
        Col("〒", lambda p: "〒" + p.postal, ATTR),
        Col("住　所", lambda p: p.address, ATTR),
        Col("電話", lambda p: p.mobile, ATTR),
        Col("生年月日", lambda p: p.birth.strftime("%Y/%m/%d"), IDENT),
    ]
    table = Table("名簿")
    table.header(cols)
    for _ in range(70):
        table.person(people.ja(), cols, transform=_fullwidth)
    write_xlsx(out / "fullwidth_digits.xlsx", [table])
    return CorpusFile("fullwidth_digits.xlsx", out / "fullwidth_digits.xlsx", truth([table]))


@builder("split_names_cp932.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("姓", lambda p: p.family, NAME, "name"),
        Col("名", lambda p: p.given, NAME, "name"),
        Col("セイ", lambda p: p.family_kana, NAME, "name"),
        Col("メイ", lambda p: p.given_kana, NAME, "name"),
        Col("郵便番号", lambda p: p.postal, ATTR),
        Col("住所１", lambda p: p.address, ATTR),
        Col(
            "勤務先", lambda p: rng.choice(["㈱山田商事", "①号館管理組合", "有限会社ミナト"]), NONE
        ),
        Col("携帯番号", lambda p: p.mobile, ATTR),
    ]
    table = Table("split")
    table.header(cols)
    for _ in range(80):
        table.person(people.ja(), cols)
    write_delimited(out / "split_names_cp932.csv", table, encoding="cp932")
    return CorpusFile("split_names_cp932.csv", out / "split_names_cp932.csv", truth([table]))


@builder("customers_eucjp.tsv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = ja_columns()
    table = Table("euc")
    table.header(cols)
    for _ in range(60):
        table.person(people.ja(), cols)
    write_delimited(out / "customers_eucjp.tsv", table, encoding="euc_jp", delimiter="\t")
    return CorpusFile("customers_eucjp.tsv", out / "customers_eucjp.tsv", truth([table]))


@builder("customers_in.zip")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = ja_columns()
    table = Table("zipped")
    table.header(cols)
    for _ in range(75):
        table.person(people.ja(), cols)
    member = out / "zipped_member.csv"
    write_delimited(member, table, encoding="cp932")
    with zipfile.ZipFile(out / "customers_in.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(member, "顧客/customers.csv")
    member.unlink()
    return CorpusFile("customers_in.zip", out / "customers_in.zip", truth([table]))


@builder("pasted_list.txt")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("氏名", lambda p: p.name, NAME),
        Col("電話", lambda p: p.mobile, ATTR),
        Col("メール", lambda p: p.email, IDENT),
    ]
    table = Table("pasted")
    table.header(cols)
    for _ in range(12):
        table.person(people.ja(), cols)
    lines = ["\t".join(str(c) for c in row) for row in table.rows]
    body = "お世話になっております。\n本日ご来店のお客様一覧です。\n\n" + "\n".join(lines)
    body += "\n\nよろしくお願いいたします。\n営業部 佐藤\nTEL 03-1234-5678\n"
    (out / "pasted_list.txt").write_text(body, encoding="utf-8")
    return CorpusFile("pasted_list.txt", out / "pasted_list.txt", truth([table]))


@builder("b2b_contacts.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    fake = people.fake_ja
    cols = [
        Col("会社名", lambda p: fake.company(), NONE),
        Col("部署", lambda p: rng.choice(["購買部", "総務課", "営業本部"]), NONE),
        Col("担当者名", lambda p: p.name, NAME),
        Col("電話番号", lambda p: p.landline, ATTR),
        Col("メールアドレス", lambda p: p.email, IDENT),
    ]
    table = Table("取引先担当者")
    table.header(cols)
    for _ in range(85):
        table.person(people.ja(), cols, blank=[4] if rng.random() < 0.2 else [])
    write_xlsx(out / "b2b_contacts.xlsx", [table])
    return CorpusFile("b2b_contacts.xlsx", out / "b2b_contacts.xlsx", truth([table]))


@builder("numeric_cells.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("氏名", lambda p: p.name, NAME),
        Col("携帯", lambda p: int(p.mobile.replace("-", "")), ATTR),  # the leading 0 is lost
        Col("郵便番号", lambda p: int(p.postal.replace("-", "")), ATTR),
        Col("生年月日", lambda p: p.birth, IDENT),
        Col("ポイント", lambda p: rng.randint(0, 5000), NONE),
    ]
    table = Table("numbers")
    table.header(cols)
    for _ in range(65):
        table.person(people.ja(), cols)
    write_xlsx(out / "numeric_cells.xlsx", [table])
    return CorpusFile("numeric_cells.xlsx", out / "numeric_cells.xlsx", truth([table]))


@builder("en_contacts_us_dates.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    cols = [
        Col("Customer", lambda p: p.latin, NAME),
        Col("Mobile", lambda p: p.mobile, ATTR),
        Col("DOB", lambda p: p.birth.strftime("%m/%d/%Y"), IDENT),
        Col("Zip Code", lambda p: p.postal, ATTR),
        Col("Notes", lambda p: rng.choice(["", "VIP", "call after 6pm"]), NONE),
    ]
    table = Table("contacts")
    table.header(cols)
    for _ in range(70):
        table.person(people.en(), cols, blank=[1] if rng.random() < 0.15 else [])
    write_delimited(out / "en_contacts_us_dates.csv", table)
    return CorpusFile("en_contacts_us_dates.csv", out / "en_contacts_us_dates.csv", truth([table]))


# --- hard negatives ----------------------------------------------------------------------------


def _org_rows(people: Population, rng: random.Random) -> tuple[str, str, str, str]:
    fake = people.fake_ja
    return (
        fake.company(),
        fake.postcode(),
        fake.address(),
        people._unique(
            lambda: f"0{rng.randint(3, 99)}-{rng.randint(100, 9999)}-{rng.randint(0, 9999):04d}"
        ),
    )


@builder("neg_company_directory.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("取引先")
    table.add("会社名", "法人番号", "郵便番号", "所在地", "電話番号", "FAX", "メール", "URL")
    for i in range(150):
        company, postal, address, phone = _org_rows(people, rng)
        box = rng.choice(["info", "sales", "contact", "support", "eigyo", "info2"])
        table.add(
            company,
            corporate_number(rng),
            postal,
            address,
            phone,
            phone[:-1] + "9",
            f"{box}@corp{i}.example.co.jp",
            f"https://corp{i}.example.co.jp/",
        )
    write_xlsx(out / "neg_company_directory.xlsx", [table])
    return CorpusFile(
        "neg_company_directory.xlsx", out / "neg_company_directory.xlsx", truth([table])
    )


@builder("neg_suppliers_en.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    fake = people.fake_en
    table = Table("Suppliers")
    table.add("Name", "Contact Email", "Phone", "Address", "Category")
    for i in range(100):
        name = f"{fake.company()} {rng.choice(['Inc.', 'LLC', 'Ltd', 'Co.', 'Group'])}"
        table.add(
            name,
            f"{rng.choice(['sales', 'orders', 'info', 'support'])}@supplier{i}.example.com",
            fake.phone_number(),
            fake.address(),
            rng.choice(["Parts", "Tyres", "Paint"]),
        )
    write_xlsx(out / "neg_suppliers_en.xlsx", [table])
    return CorpusFile("neg_suppliers_en.xlsx", out / "neg_suppliers_en.xlsx", truth([table]))


@builder("neg_store_list.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("店舗")
    table.add("店舗一覧")
    table.add()
    table.add("店舗コード", "名称", "郵便番号", "住所", "電話番号", "営業時間", "定休日")
    for i in range(80):
        _, postal, address, phone = _org_rows(people, rng)
        town = rng.choice(people.places)[1]
        table.add(
            f"S{i:03d}",
            f"{town}{rng.choice(['店', '支店', '営業所', 'ショールーム'])}",
            postal,
            address,
            phone,
            "10:00-19:00",
            rng.choice(["水曜日", "火曜日", "なし"]),
        )
    write_xlsx(out / "neg_store_list.xlsx", [table])
    return CorpusFile("neg_store_list.xlsx", out / "neg_store_list.xlsx", truth([table]))


@builder("neg_store_list_en.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("stores")
    table.add("Name", "Street", "City", "State", "ZIP", "Phone", "Opening hours")
    for _ in range(60):
        street, city, state, zip_prefix = rng.choice(people.en_places)
        table.add(
            f"{city} {rng.choice(['Store', 'Branch', 'Service Center', 'Shop'])}",
            f"{rng.randint(1, 999)} {street}",
            city,
            state,
            f"{zip_prefix}{rng.randint(10, 99)}",
            f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
            "9-18",
        )
    write_delimited(out / "neg_store_list_en.csv", table)
    return CorpusFile("neg_store_list_en.csv", out / "neg_store_list_en.csv", truth([table]))


@builder("neg_postcode_master_ken_all.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    fake = people.fake_ja
    table = Table("KEN_ALL")
    halfwidth = str.maketrans(
        "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンー",
        "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｰ",
    )
    for _ in range(300):
        pref, city, town = rng.choice(people.places)
        kana = fake.kana_name().replace(" ", "").translate(halfwidth)
        code = f"{rng.randint(100, 999)}{rng.randint(0, 9999):04d}"
        table.add(
            f"{rng.randint(1000, 47999):05d}",
            code[:3] + "  ",
            code,
            "ﾄｳｷｮｳﾄ",
            kana[:4],
            kana[4:],
            pref,
            city,
            town,
            0,
            0,
            1,
            0,
            0,
            0,
        )
    write_delimited(out / "neg_postcode_master_ken_all.csv", table, encoding="cp932")
    return CorpusFile(
        "neg_postcode_master_ken_all.csv", out / "neg_postcode_master_ken_all.csv", truth([table])
    )


@builder("neg_postcode_master.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("郵便番号")
    table.add("郵便番号", "都道府県", "市区町村", "町域", "町域カナ")
    for _ in range(200):
        pref, city, town = rng.choice(people.places)
        table.add(
            f"{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}",
            pref,
            city,
            town,
            people.fake_ja.last_kana_name(),
        )
    write_xlsx(out / "neg_postcode_master.xlsx", [table])
    return CorpusFile("neg_postcode_master.xlsx", out / "neg_postcode_master.xlsx", truth([table]))


@builder("neg_vin_stock.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("在庫")
    table.add(
        "管理番号",
        "VIN",
        "車台番号",
        "車名",
        "グレード",
        "色",
        "年式",
        "価格",
        "在庫拠点",
        "登録番号",
    )
    for i in range(120):
        table.add(
            f"K{i:05d}",
            vin(rng),
            chassis(rng),
            rng.choice(["プリウス", "ヤリス", "カローラ"]),
            rng.choice(["S", "G", "Z"]),
            rng.choice(["白", "黒", "赤"]),
            rng.randint(2015, 2024),
            rng.randint(100, 500) * 10000,
            rng.choice(["本社", "横浜店", "川崎店"]),
            plate(rng) if rng.random() < 0.5 else "",
        )
    write_xlsx(out / "neg_vin_stock.xlsx", [table])
    return CorpusFile("neg_vin_stock.xlsx", out / "neg_vin_stock.xlsx", truth([table]))


@builder("neg_parts_catalogue.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    fake = people.fake_ja
    table = Table("部品")
    table.add("品番", "品名", "単価", "在庫数", "仕入先", "仕入先電話")
    for _ in range(150):
        part = f"0{rng.randint(1, 9)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        table.add(
            part,
            rng.choice(["ブレーキパッド", "ワイパー", "オイルフィルター", "バッテリー"]),
            rng.randint(500, 50000),
            rng.randint(0, 300),
            fake.company(),
            f"03-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}",
        )
    write_xlsx(out / "neg_parts_catalogue.xlsx", [table])
    return CorpusFile("neg_parts_catalogue.xlsx", out / "neg_parts_catalogue.xlsx", truth([table]))


@builder("neg_parts_en.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("parts")
    table.add("Part No.", "Part Name", "Price", "Supplier", "Supplier Phone")
    for _ in range(100):
        table.add(
            f"{rng.randint(200, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            rng.choice(["Brake Pad", "Oil Filter", "Wiper Blade", "Spark Plug"]),
            f"{rng.randint(5, 500)}.99",
            people.fake_en.company(),
            people.fake_en.phone_number(),
        )
    write_delimited(out / "neg_parts_en.csv", table)
    return CorpusFile("neg_parts_en.csv", out / "neg_parts_en.csv", truth([table]))


@builder("neg_sales_by_region.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("売上")
    table.add("地域別売上（2023年度）")
    table.add("地域", "都道府県", "売上", "顧客数", "前年比")
    for pref, _, _ in people.places:
        table.add(
            rng.choice(["東日本", "西日本"]),
            pref,
            rng.randint(10**6, 10**8),
            rng.randint(10, 999),
            round(rng.uniform(0.8, 1.2), 2),
        )
    table.add("合計", "", rng.randint(10**8, 10**9), rng.randint(1000, 9999), 1.01)
    write_xlsx(out / "neg_sales_by_region.xlsx", [table])
    return CorpusFile("neg_sales_by_region.xlsx", out / "neg_sales_by_region.xlsx", truth([table]))


@builder("neg_schedule.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("予定")
    table.add("日付", "開始時刻", "終了時刻", "件名", "場所", "部署")
    start = dt.date(2024, 4, 1)
    for i in range(90):
        table.add(
            start + dt.timedelta(days=i),
            dt.time(9 + i % 8),
            dt.time(10 + i % 8),
            rng.choice(["定例会議", "商談", "研修", "点検"]),
            rng.choice(["本社", "会議室A", "オンライン"]),
            rng.choice(["営業部", "総務部"]),
        )
    write_xlsx(out / "neg_schedule.xlsx", [table])
    return CorpusFile("neg_schedule.xlsx", out / "neg_schedule.xlsx", truth([table]))


@builder("neg_telemetry.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("telemetry")
    table.add("timestamp", "device_id", "lat", "lon", "speed_kmh", "temperature_c")
    start = dt.datetime(2024, 5, 1, 8, 0, 0)
    for i in range(500):
        table.add(
            (start + dt.timedelta(seconds=10 * i)).isoformat(),
            f"DEV-{rng.randint(1, 20):04d}",
            round(35.6 + rng.random() / 10, 6),
            round(139.7 + rng.random() / 10, 6),
            rng.randint(0, 120),
            round(rng.uniform(-5, 40), 1),
        )
    write_delimited(out / "neg_telemetry.csv", table)
    return CorpusFile("neg_telemetry.csv", out / "neg_telemetry.csv", truth([table]))


@builder("neg_orders.xlsx")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("受注")
    table.add("受注日", "受注番号", "店舗名", "店舗電話", "商品名", "数量", "金額")
    for i in range(200):
        table.add(
            dt.date(2024, rng.randint(1, 12), rng.randint(1, 28)),
            f"O{i:06d}",
            f"{rng.choice(people.places)[1]}店",
            f"03-{rng.randint(1000, 9999)}-0{rng.randint(100, 999)}",
            rng.choice(["オイル交換", "タイヤ", "車検"]),
            rng.randint(1, 4),
            rng.randint(1000, 90000),
        )
    write_xlsx(out / "neg_orders.xlsx", [table])
    return CorpusFile("neg_orders.xlsx", out / "neg_orders.xlsx", truth([table]))


@builder("neg_event_attendance.csv")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    table = Table("event")
    table.add("会社名", "部署", "参加人数", "連絡先", "備考")
    for _ in range(60):
        table.add(
            people.fake_ja.company(),
            rng.choice(["営業部", "技術部"]),
            rng.randint(1, 6),
            f"0{rng.randint(3, 99)}-{rng.randint(100, 9999)}-{rng.randint(0, 9999):04d}",
            rng.choice(["", "昼食不要", "駐車場希望"]),
        )
    write_delimited(out / "neg_event_attendance.csv", table, encoding="cp932")
    return CorpusFile("neg_event_attendance.csv", out / "neg_event_attendance.csv", truth([table]))


@builder("neg_prose.txt")
def _(people: Population, out: Path, rng: random.Random) -> CorpusFile:
    text = (
        "Hello team,\n\nThanks for the meeting today. As discussed, we will ship the parts, "
        "tyres, and paint next week, and the invoice, as usual, follows.\n"
        "Call me at 03-1234-5678, or write to info@example.co.jp, if anything changes.\n\n"
        "Regards,\nSato\n"
    )
    (out / "neg_prose.txt").write_text(text, encoding="utf-8")
    return CorpusFile("neg_prose.txt", out / "neg_prose.txt", Truth(0, 0))


# --- LibreOffice variants -----------------------------------------------------------------------

LIBREOFFICE_VARIANTS = {
    "ja_customers.xlsx": ("xls", "ods"),
    "multi_sheet_hidden.xlsx": ("ods", "xls"),
    "dealer_ja_title_rows.xlsx": ("xls",),
    "neg_company_directory.xlsx": ("ods",),
    "neg_vin_stock.xlsx": ("xls",),
}


# Not part of the detection corpus: a hostile xls (cells in A1 and IV65536) for the readers.
SPARSE_XLS = "hostile_sparse.xls"


def write_sparse(path: Path) -> None:
    book = openpyxl.Workbook()
    book.active["A1"] = "x"
    book.active["IV65536"] = "y"
    book.save(path)


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted([Path(__file__), *DATA.iterdir()]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def build(out: Path, *, with_libreoffice: bool = True, seed: int = SEED) -> list[CorpusFile]:
    """Write the corpus into ``out`` and return its files with their truth."""
    out.mkdir(parents=True, exist_ok=True)
    people = Population(seed)
    files = []
    for index, (_, make) in enumerate(BUILDERS):
        files.append(make(people, out, random.Random(seed + index)))
    if with_libreoffice:
        by_name = {f.name: f for f in files}
        sparse = out / SPARSE_XLS.replace(".xls", ".xlsx")
        write_sparse(sparse)
        for fmt in ("xls", "ods"):
            sources = [
                by_name[name].path for name, fmts in LIBREOFFICE_VARIANTS.items() if fmt in fmts
            ]
            if fmt == "xls":
                sources.append(sparse)
            lo_dir = out / f"libreoffice-{fmt}"
            lo_dir.mkdir(exist_ok=True)
            convert(sources, fmt, lo_dir)
            for source in sources:
                if source == sparse:
                    continue
                original = by_name[source.name]
                name = f"{source.stem}.{fmt}"
                files.append(
                    CorpusFile(name, lo_dir / name, original.truth, "written by LibreOffice")
                )
    return files


def cached(root: Path, *, with_libreoffice: bool = True, seed: int = SEED) -> list[CorpusFile]:
    """Build the corpus once per generator version (and reuse it on later runs).

    The truth travels with the files in truth.json, as the generator counted it.
    """
    root.mkdir(parents=True, exist_ok=True)
    suffix = "lo" if with_libreoffice else "nolo"
    target = root / f"corpus-{fingerprint()}-{seed}-{suffix}"
    if not (target / "truth.json").exists():
        building = Path(tempfile.mkdtemp(prefix="building-", dir=root))
        files = build(building, with_libreoffice=with_libreoffice, seed=seed)
        records = [
            {
                "name": f.name,
                "path": str(f.path.relative_to(building)),
                "personal_rows": f.truth.personal_rows,
                "persons": f.truth.persons,
                "note": f.note,
            }
            for f in files
        ]
        (building / "truth.json").write_text(json.dumps(records, ensure_ascii=False, indent=1))
        try:
            os.replace(building, target)
        except OSError:  # another session finished first
            shutil.rmtree(building, ignore_errors=True)
    records = json.loads((target / "truth.json").read_text())
    return [
        CorpusFile(
            r["name"], target / r["path"], Truth(r["personal_rows"], r["persons"]), r["note"]
        )
        for r in records
    ]
