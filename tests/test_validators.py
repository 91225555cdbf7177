"""Check digits, phone and postcode formats, era dates: known-good and known-bad values."""

from __future__ import annotations

import datetime as dt

import pytest

from dlp_proxy.inspect import validators as v


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("123456789018", True),  # the example used in the My Number specification
        ("123456789012", False),
        ("000000000000", True),
        ("12345678901", False),  # 11 digits
        ("12345678901a", False),
    ],
    ids=["spec-example", "bad-check-digit", "zeros", "too-short", "letter"],
)
def test_my_number(text: str, ok: bool) -> None:
    assert v.my_number_ok(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("7000012050002", True),  # 国税庁
        ("7000012050003", False),
        ("8000012050002", False),
        ("700001205000", False),
    ],
    ids=["nta", "bad-last-digit", "bad-check-digit", "twelve-digits"],
)
def test_corporate_number(text: str, ok: bool) -> None:
    assert v.corporate_number_ok(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("1M8GDM9AXKP042788", True),
        ("11111111111111111", True),
        ("1M8GDM9A1KP042788", False),
        ("1M8GDM9AXKP04278", False),
        ("1M8GDM9AXKP0427I8", False),  # I is not allowed
    ],
    ids=["wikipedia", "ones", "bad-check", "sixteen-chars", "letter-i"],
)
def test_vin_check_digit(text: str, ok: bool) -> None:
    assert v.vin_check_ok(text) is ok


def test_vin_format_needs_letters_and_digits() -> None:
    assert v.vin_format_ok("JTDKB20U093123456")
    assert not v.vin_format_ok("12345678901234567")
    assert not v.vin_format_ok("ABCDEFGHJKLMNPRST")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("3530111333300000", True),
        ("4111111111111112", False),
        ("1234567812345670", False),  # Luhn-valid, but no issuer starts with 1
    ],
    ids=["visa", "visa-spaced", "mastercard", "amex", "jcb", "bad-luhn", "no-issuer"],
)
def test_card_number(text: str, ok: bool) -> None:
    assert v.card_number_ok(text) is ok


def test_luhn() -> None:
    assert v.luhn_ok("79927398713")
    assert not v.luhn_ok("79927398710")


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("090-1234-5678", "09012345678"),
        ("03-1234-5678", "0312345678"),
        ("0120-123-456", "0120123456"),
        ("0800-123-4567", "08001234567"),
        ("050-1234-5678", "05012345678"),
        ("+81 90 1234 5678", "09012345678"),
        ("+81-3-1234-5678", "0312345678"),
        ("(03) 1234-5678", "0312345678"),
        ("090ー1234ー5678", "09012345678"),
        ("(555) 234-5678", "+15552345678"),
        ("555.234.5678x123", "+15552345678"),
        ("001-555-234-5678", "+15552345678"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
    ids=[
        "mobile",
        "tokyo",
        "freedial",
        "0800",
        "ip-050",
        "plus81-mobile",
        "plus81-landline",
        "parens",
        "katakana-dash",
        "nanp",
        "nanp-extension",
        "intl-prefix",
        "uk",
    ],
)
def test_phone_numbers(text: str, digits: str) -> None:
    assert v.phone_digits(v.nfkc(text)) == digits


@pytest.mark.parametrize(
    "text",
    ["03-1234-567", "090-1234-56789", "12345", "5552345678", "0120-12-345", "1234-5678", "abc"],
    ids=["short", "long-mobile", "five-digits", "bare-nanp", "short-freedial", "8-digits", "text"],
)
def test_not_phone_numbers(text: str) -> None:
    assert v.phone_digits(text) is None


def test_full_width_phone_is_normalised() -> None:
    assert v.phone_digits(v.nfkc("０９０－１２３４－５６７８")) == "09012345678"


def test_phone_stored_as_number() -> None:
    assert v.phone_from_number(9012345678.0) == "09012345678"
    assert v.phone_from_number(312345678.0) == "0312345678"
    assert v.phone_from_number(12.0) is None


def test_postal_codes() -> None:
    assert v.postal_code("〒100-0001") == "1000001"
    assert v.postal_code(v.nfkc("〒１００－０００１")) == "1000001"
    assert v.postal_code("1000001") == "1000001"
    assert v.postal_code("1000001", strict=True) is None
    assert v.postal_code("100-0001", strict=True) == "1000001"
    assert v.postal_code("100-001") is None
    assert v.us_zip_ok("94105") and v.us_zip_ok("94105-1234") and not v.us_zip_ok("9410")


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("昭和45年3月1日", dt.date(1970, 3, 1)),
        ("S45.3.1", dt.date(1970, 3, 1)),
        ("s45/3/1", dt.date(1970, 3, 1)),
        ("R2/4/1", dt.date(2020, 4, 1)),
        ("平成元年1月8日", dt.date(1989, 1, 8)),
        ("H1.1.8", dt.date(1989, 1, 8)),
        ("令和５年１２月３１日", dt.date(2023, 12, 31)),
        ("大正15年1月1日", dt.date(1926, 1, 1)),
        ("1970-03-01", dt.date(1970, 3, 1)),
        ("1970/3/1", dt.date(1970, 3, 1)),
        ("1970年3月1日", dt.date(1970, 3, 1)),
        ("03/01/1970", dt.date(1970, 3, 1)),
        ("19700301", dt.date(1970, 3, 1)),
    ],
    ids=[
        "showa-kanji",
        "showa-dots",
        "showa-lower-slash",
        "reiwa-slash",
        "heisei-gannen",
        "heisei-letter",
        "reiwa-fullwidth",
        "taisho",
        "iso",
        "slashes",
        "kanji",
        "us",
        "compact",
    ],
)
def test_dates(text: str, date: dt.date) -> None:
    assert v.parse_date(text) == date


@pytest.mark.parametrize(
    "text",
    ["H32.1.1", "S65.1.1", "昭和45年13月1日", "1970-02-30", "Monday", "45.3.1", ""],
    ids=["heisei-32", "showa-65", "month-13", "feb-30", "word", "no-era", "empty"],
)
def test_not_dates(text: str) -> None:
    assert v.parse_date(text) is None


def test_birth_dates_are_in_the_past() -> None:
    today = dt.date(2024, 6, 1)
    assert v.birth_date_ok("S45.3.1", today=today)
    assert not v.birth_date_ok("2030-01-01", today=today)
    assert not v.birth_date_ok("1850-01-01", today=today)
    assert v.birth_date_ok(dt.date(1990, 1, 1), today=today)


def test_chassis_numbers_and_plates() -> None:
    assert v.chassis_number_ok("ZVW30-1234567")
    assert v.chassis_number_ok("GRS180-0012345")
    assert not v.chassis_number_ok("90915-YZZD1")
    assert not v.chassis_number_ok("ZVW30")
    assert v.licence_plate_ok("品川 300 あ 12-34")
    assert v.licence_plate_ok("練馬 500 さ ・・・1")
    assert v.licence_plate_ok("なにわ 330 な 1234")
    assert not v.licence_plate_ok("品川 300 12-34")
    assert not v.licence_plate_ok("東京都千代田区")


@pytest.mark.parametrize(
    ("text", "convincing", "org"),
    [
        ("山田 太郎", True, False),
        ("山田　花子", True, False),
        ("John Smith", True, False),
        ("Dr. Jane Doe MD", True, False),
        ("株式会社山田商事", False, True),
        ("（株）山田", False, True),
        ("渋谷店", False, True),
        ("Garcia Ltd", False, True),
        ("Smith, Johnson and Lee", False, True),
        ("Brake Pad 2000", False, False),
    ],
    ids=[
        "ja-spaced",
        "ja-ideographic-space",
        "en",
        "en-titles",
        "kabushiki",
        "kabu-paren",
        "store",
        "ltd",
        "law-firm",
        "product",
    ],
)
def test_names_and_organisations(text: str, convincing: bool, org: bool) -> None:
    assert v.person_name_convincing(v.nfkc(text)) is convincing
    assert v.org_like(v.nfkc(text)) is org


def test_kana_names_and_addresses() -> None:
    assert v.kana_name_ok("ヤマダ タロウ", strict=True)
    assert not v.kana_name_ok("トウキョウト", strict=True)
    assert v.kana_name_ok("トウキョウト")
    assert v.address_ok("東京都千代田区丸の内1-1-1")
    assert v.address_ok("横浜市中区本町2丁目")
    assert v.address_ok("123 Main Street Apt. 4")
    assert not v.address_ok("東京都")
    assert not v.address_ok("神奈川県")
    assert not v.address_ok("丸の内")


def test_email_and_gender() -> None:
    assert v.email_ok("taro.yamada+tag@example.co.jp")
    assert v.email_ok("mailto:taro@example.jp")
    assert not v.email_ok("taro@example")
    assert not v.email_ok("@example.jp")
    assert v.gender_ok("女性") and v.gender_ok("Male") and not v.gender_ok("XL")
