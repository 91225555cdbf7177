"""Column kinds, header location, skipped rows, personal rows, persons and masks."""

from __future__ import annotations

import datetime as dt

import pytest
from faker import Faker

from dlp_proxy.inspect import classify
from dlp_proxy.inspect.detect import KINDS, Vocabulary, analyze, mask
from dlp_proxy.inspect.model import Sheet, TableFindings

HEADER = ["氏名", "電話番号", "メールアドレス"]
PEOPLE = [
    ["山田 太郎", "090-1234-5678", "taro@example.jp"],
    ["鈴木 花子", "080-2222-3333", "hanako@example.jp"],
    ["東海林 凪", "070-4444-5555", "nagi@example.co.jp"],
    ["五十嵐 湊", "03-5555-6666", "minato@example.ne.jp"],
]


def run(*rows: list[object], vocabulary: Vocabulary | None = None) -> TableFindings:
    return analyze([Sheet("s", [list(r) for r in rows])], vocabulary=vocabulary)


def kinds(findings: TableFindings) -> dict[str | None, str]:
    return {c.header: c.kind for c in findings.columns}


def test_header_in_row_one() -> None:
    found = run(HEADER, *PEOPLE)
    assert (found.rows, found.personal_rows, found.persons) == (4, 4, 4)
    assert kinds(found) == {"氏名": "person_name", "電話番号": "phone", "メールアドレス": "email"}


def test_title_rows_above_and_data_from_column_c() -> None:
    found = run(
        ["", "", "顧客名簿 2024年4月"],
        ["", "", "作成: 営業部"],
        [],
        ["", "", *HEADER],
        *(["", "", *p] for p in PEOPLE),
    )
    assert found.personal_rows == 4
    assert [c.index for c in found.columns] == [2, 3, 4]


def test_no_header_values_alone() -> None:
    found = run(*PEOPLE)
    assert found.personal_rows == 4
    assert sorted(c.kind for c in found.columns) == ["email", "person_name", "phone"]


def test_no_header_unspaced_names_need_a_corroborating_column() -> None:
    towns = [["千代田", "チヨダ", "1000001"], ["丸の内", "マルノウチ", "1000005"]] * 5
    assert run(*towns).personal_rows == 0
    people = [["山田太郎", "taro@example.jp"], ["鈴木花子", "hanako@example.jp"]] * 3
    found = run(*people)
    assert sorted(c.kind for c in found.columns) == ["email", "person_name"]
    assert found.personal_rows == 6


def test_blank_rows_repeated_headers_and_totals_are_skipped() -> None:
    found = run(
        HEADER,
        PEOPLE[0],
        [],
        ["", "", ""],
        PEOPLE[1],
        HEADER,  # a header repeated for printing
        PEOPLE[2],
        ["小計", "2名", ""],
        ["合計", "", "total@example.jp"],
        ["Total", "090-0000-0000", "sum@example.jp"],
        PEOPLE[3],
    )
    assert found.personal_rows == 4


def test_a_row_needs_two_personal_attributes() -> None:
    found = run(
        HEADER,
        ["山田 太郎", "", ""],  # a name alone
        ["", "090-1234-5678", ""],  # a phone alone
        ["", "080-1111-2222", "solo@example.jp"],  # an identifier and a phone: personal
        ["鈴木 花子", "なし", "-"],  # placeholders are blanks
        PEOPLE[0],
    )
    assert found.personal_rows == 2


def test_full_width_digits_and_hyphens() -> None:
    found = run(
        ["氏名", "ＴＥＬ", "〒"],
        ["山田 太郎", "０９０－１２３４－５６７８", "〒１００－０００１"],
        ["鈴木 花子", "０８０－２２２２－３３３３", "〒５３０－０００１"],
    )
    assert kinds(found) == {"氏名": "person_name", "ＴＥＬ": "phone", "〒": "postal_code"}
    assert found.personal_rows == 2


def test_era_birth_dates() -> None:
    found = run(
        ["お名前", "生年月日"],
        ["山田 太郎", "昭和45年3月1日"],
        ["鈴木 花子", "S52.11.3"],
        ["東海林 凪", "H2/4/1"],
        ["五十嵐 湊", "平成元年1月8日"],
    )
    assert kinds(found) == {"お名前": "person_name", "生年月日": "birth_date"}
    assert found.personal_rows == 4
    assert "birth_date: 1970-**-**" in found.samples


def test_companies_shops_and_role_mailboxes_are_not_persons() -> None:
    found = run(
        ["会社名", "電話番号", "所在地", "メール"],
        ["株式会社山田商事", "03-1234-5678", "東京都港区芝1-1", "info@yamada.example.jp"],
        ["有限会社ミナト", "06-1234-5678", "大阪府大阪市北区1-1", "sales@minato.example.jp"],
        ["渋谷店", "03-9999-0000", "東京都渋谷区1-1", "shibuya-shop@example.jp"],
    )
    assert found.personal_rows == 0
    assert kinds(found)["会社名"] == "company_name"


def test_a_name_header_over_company_names_is_a_company_column() -> None:
    found = run(
        ["Name", "Phone", "Address"],
        ["Acme Inc.", "(555) 234-5678", "1 Main Street, Springfield, IL 62701"],
        ["Globex LLC", "(555) 345-6789", "2 Oak Avenue, Dayton, OH 45402"],
        ["Downtown Store", "(555) 456-7890", "3 Pine Road, Salem, OR 97301"],
    )
    assert kinds(found)["Name"] == "company_name"
    assert found.personal_rows == 0


def test_vins_without_owners_are_not_persons() -> None:
    found = run(
        ["VIN", "車台番号", "登録番号", "価格"],
        ["1M8GDM9AXKP042788", "ZVW30-1234567", "品川 300 あ 12-34", 1500000],
        ["JTDKB20U093123456", "GRS180-0012345", "練馬 500 さ ・・・1", 2300000],
    )
    assert found.personal_rows == 0
    assert set(kinds(found).values()) == {"vin", "chassis_number", "licence_plate"}


def test_vins_with_owners_are() -> None:
    found = run(
        ["所有者", "VIN", "登録番号"],
        ["山田 太郎", "1M8GDM9AXKP042788", "品川 300 あ 12-34"],
        ["鈴木 花子", "JTDKB20U093123456", "練馬 500 さ ・・・1"],
    )
    assert found.personal_rows == 2


def test_my_number_and_corporate_number_by_value() -> None:
    found = run(
        ["番号A", "番号B", "氏名"],
        ["123456789018", "7000012050002", "山田 太郎"],
        ["000000000000", "7000012050002", "鈴木 花子"],
        ["111111111118", "7000012050002", "東海林 凪"],
    )
    assert kinds(found)["番号A"] == "my_number"
    assert kinds(found)["番号B"] == "corporate_number"
    assert found.personal_rows == 3
    assert "my_number: **********18" in found.samples


def test_part_numbers_shaped_like_phones_stay_part_numbers() -> None:
    found = run(
        ["品番", "品名", "単価", "仕入先"],
        ["03-1234-5678", "ブレーキパッド", 1200, "株式会社部品商会"],
        ["06-2345-6789", "ワイパー", 800, "有限会社ミナト"],
    )
    assert found.personal_rows == 0
    assert "品番" not in kinds(found)


def test_order_dates_are_not_birth_dates() -> None:
    found = run(
        ["", "", ""],
        *([f"商品{i}", dt.date(2024, 4, 1 + i), f"taro{i}@example.jp"] for i in range(10)),
    )
    assert "birth_date" not in {c.kind for c in found.columns}


def test_persons_are_deduplicated_across_sheets() -> None:
    sheet1 = Sheet("a", [HEADER, *PEOPLE])
    sheet2 = Sheet(
        "b",
        [
            ["お名前", "携帯", "生年月日"],
            ["山田 太郎", "090-1234-5678", "1970-03-01"],  # same name and phone as in sheet a
            ["鈴木花子", "0801111000", "1980-01-01"],  # new phone: a new person
            ["新人 一郎", "090-9999-0000", "2000-01-01"],
        ],
        hidden=True,
    )
    found = analyze([sheet1, sheet2])
    assert (found.personal_rows, found.persons) == (7, 6)


def test_same_email_same_name_merges_but_a_shared_switchboard_does_not() -> None:
    found = run(
        ["氏名", "代表電話", "メール"],
        ["山田 太郎", "03-5555-0100", "taro@example.jp"],
        ["山田 太郎", "03-5555-0100", "TARO@example.jp"],  # the same person twice
        ["鈴木 花子", "03-5555-0100", "hanako@example.jp"],
        ["東海林 凪", "03-5555-0100", "nagi@example.jp"],
    )
    assert (found.personal_rows, found.persons) == (4, 3)


def test_name_and_birth_date_merge() -> None:
    found = run(
        ["氏名", "生年月日", "住所"],
        ["山田 太郎", dt.date(1970, 3, 1), "東京都港区1-1"],
        ["山田　太郎", dt.date(1970, 3, 1), "東京都港区1-1 2F"],
        ["山田 太郎", dt.date(1980, 3, 1), "大阪府堺市1-1"],
    )
    assert (found.personal_rows, found.persons) == (3, 2)


def test_samples_are_masked_and_few() -> None:
    rows = [HEADER] + [
        [f"山田 太郎{i}", f"090-1234-{i:04d}", f"taro{i}@example.jp"] for i in range(50)
    ]
    found = run(*rows)
    assert len(found.samples) <= 9
    for sample in found.samples:
        assert "太郎" not in sample and "1234" not in sample and "taro" not in sample
    assert "phone: 090-****-0000" in found.samples


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("person_name", "山田 太郎", "山田 **"),
        ("person_name", "John Smith", "J*** S****"),
        ("phone", "090-1234-5678", "090-****-5678"),
        ("phone", "09012345678", "090-****-5678"),
        ("email", "taro@example.jp", "t***@example.jp"),
        ("birth_date", "S45.3.1", "1970-**-**"),
        ("postal_code", "〒100-0001", "100-****"),
        ("address", "東京都千代田区丸の内1-1-1", "東京都千代***"),
        ("address", "12 Main Street, Springfield, IL 62701", "***, IL *****"),
        ("my_number", "123456789018", "**********18"),
        ("card_number", "4111 1111 1111 1111", "************1111"),
        ("licence_plate", "品川 300 あ 12-34", "品川 300 あ **-**"),
        ("chassis_number", "ZVW30-1234567", "ZVW30-****567"),
        ("vin", "1M8GDM9AXKP042788", "1M8**********2788"),
    ],
    ids=lambda x: str(x)[:12],
)
def test_mask(kind: str, value: str, masked: str) -> None:
    assert mask(kind, value) == masked


def test_vocabulary_can_be_extended_by_policy() -> None:
    rows = [
        ["Kundenname", "Telefon"],
        ["Anna Schmidt", "+49 30 1234567"],
        ["Max Weber", "+49 40 7654321"],
    ]
    assert run(*rows).personal_rows == 0
    extended = Vocabulary.default().extended(
        {"person_name": ["Kundenname"], "phone": {"contains": ["telefon"]}}
    )
    found = run(*rows, vocabulary=extended)
    assert kinds(found) == {"Kundenname": "person_name", "Telefon": "phone"}
    assert found.personal_rows == 2


def test_vocabulary_rejects_unknown_kinds_and_yaml_booleans() -> None:
    with pytest.raises(ValueError, match="unknown column kind"):
        Vocabulary.default().extended({"shoe_size": ["size"]})
    with pytest.raises(ValueError, match="quote it"):
        Vocabulary.default().extended({"other": [False]})  # type: ignore[list-item]


def test_header_lookup() -> None:
    vocab = Vocabulary.default()
    assert vocab.lookup("E-mail") == ("email",)
    assert vocab.lookup("Tel (home)") == ("phone",)
    assert vocab.lookup("会社名カナ") == ("company_name",)
    assert vocab.lookup("町域カナ") == ("other",)
    assert vocab.lookup("ﾌﾘｶﾞﾅ") == ("kana_name",)
    assert vocab.lookup("Part Name") == ()
    assert vocab.lookup("顧客一覧") == ()


def test_odd_cells_do_not_break_analysis() -> None:
    found = run(
        HEADER,
        [None, dt.time(10, 0), dt.timedelta(days=1)],
        [float("nan"), True, 12.5],
        ["山田 太郎", 9012345678.0, "taro@example.jp"],
        ["鈴木 花子", "080-1111-2222"],  # a short row
    )
    assert found.personal_rows >= 1


def test_empty_input() -> None:
    assert analyze([]) == TableFindings(rows=0, personal_rows=0, persons=0)
    assert analyze([Sheet("e", [])]).rows == 0


def test_a_data_row_made_of_header_words_is_not_a_header() -> None:
    rows = [[f"Person {i}x", f"p{i}@example.org", f"(555) 234-{i:04d}"] for i in range(20)]
    rows[5] = [
        "April Price",
        "april.price@example.org",
        "(555) 234-9999",
    ]  # "price" is a header word
    found = run(*rows)
    assert found.personal_rows == 20


def test_namesakes_sharing_a_switchboard_stay_two_persons() -> None:
    found = run(
        ["氏名", "代表電話", "メール"],
        ["佐藤 翔", "03-5555-0100", "sho.sato@example.jp"],
        ["佐藤 翔", "03-5555-0100", "sho.sato2@example.jp"],
        ["鈴木 花子", "03-5555-0100", "hanako@example.jp"],
        ["東海林 凪", "03-5555-0100", "nagi@example.jp"],
    )
    assert (found.personal_rows, found.persons) == (4, 4)


def test_thousands_of_blank_rows_stay_linear() -> None:
    """Found by fuzzing: a total-row regex that could cross lines went quadratic here."""
    rows: list[list[object]] = [HEADER, PEOPLE[0]]
    rows += [["", "", ""]] * 60_000
    rows += [PEOPLE[1], ["合計", "", ""]]
    found = run(*rows)
    assert found.personal_rows == 2


def test_every_kind_has_a_value_check() -> None:
    assert set(classify._CHECKS) == set(KINDS)


def test_first_row_of_unknown_labels_is_a_header_not_a_person() -> None:
    fake = Faker("de_DE")
    fake.seed_instance(7)
    rows: list[list[object]] = [["Kundschaft", "Rufnummer", "E-Post", "Anschrift"]]
    rows += [[fake.name(), fake.phone_number(), fake.email(), fake.address()] for _ in range(40)]
    findings = analyze([Sheet("Tabelle1", rows)])
    assert findings.personal_rows == 40
    assert {c.header for c in findings.columns} <= {
        "Kundschaft",
        "Rufnummer",
        "E-Post",
        "Anschrift",
    }
