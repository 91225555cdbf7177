"""Reading workbooks and delimited text: every sheet, every encoding, and bad input answered."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from dlp_proxy.inspect import delimited as delimited_module
from dlp_proxy.inspect.detect import analyze
from dlp_proxy.inspect.model import Unscannable
from dlp_proxy.inspect.tables import (
    TableLimits,
    decode_text,
    has_table,
    looks_delimited,
    read_delimited,
    read_text_table,
    read_workbook,
    sniff_delimiter,
)
from tests.corpus import build, hostile
from tests.corpus.fixtures import corpus

__all__ = ["corpus"]  # the session fixture, imported for pytest

ROOT = Path(__file__).resolve().parents[1]


def xlsx(*sheets: tuple[str, str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, state, rows in sheets:
        sheet = book.create_sheet(name)
        sheet.sheet_state = state
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_reads_every_sheet_with_hidden_state() -> None:
    data = xlsx(
        ("表紙", "visible", [["顧客一覧"]]),
        ("隠し", "hidden", [["氏名"], ["山田 太郎"]]),
        ("とても隠し", "veryHidden", [["氏名"], ["鈴木 花子"]]),
    )
    sheets = read_workbook(data)
    assert [(s.name, s.hidden) for s in sheets] == [
        ("表紙", False),
        ("隠し", True),
        ("とても隠し", True),
    ]
    assert sheets[2].rows == [["氏名"], ["鈴木 花子"]]


def test_xlsb_sheets_with_hidden_state() -> None:
    data = hostile.xlsb(
        [
            (
                "顧客",
                0,
                [(0, [(0, "氏名"), (1, "電話")]), (1, [(0, "山田 太郎"), (1, "090-1234-5678")])],
            ),
            ("隠し", 1, [(0, [(0, "x")])]),
        ]
    )
    sheets = read_workbook(data)
    assert [(s.name, s.hidden) for s in sheets] == [("顧客", False), ("隠し", True)]
    assert analyze(sheets).personal_rows == 1


def test_cell_types_come_through() -> None:
    data = xlsx(("S", "visible", [["a", 1, 2.5, dt.date(1970, 3, 1), True, None, "x"]]))
    (row,) = read_workbook(data)[0].rows
    assert row == ["a", 1.0, 2.5, dt.date(1970, 3, 1), True, "", "x"]


BAD_WORKBOOKS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "corrupt"),
    "text": (lambda: b"name,phone\nyamada,0312345678\n", "corrupt"),
    "random-bytes": (lambda: os.urandom(4096), "corrupt"),
    "truncated-xlsx": (hostile.truncated, "corrupt"),
    "damaged-deflate": (hostile.damaged_deflate, "corrupt"),
    "billion-laughs": (hostile.billion_laughs, "corrupt"),
    "cells-on-a-diagonal": (hostile.diagonal, "limit"),
    "shared-strings-count": (hostile.shared_strings_count, "limit"),
    "ods-repeated-cells": (hostile.ods_repeat_bomb, "limit"),
    "encrypted-ooxml": (hostile.encrypted_xlsx, "encrypted"),
    "xlsb-far-cell": (hostile.xlsb_far_cell, "limit"),
    "xlsb-32-bit-column": (hostile.xlsb_huge_column, "limit"),
}


@pytest.mark.parametrize("case", list(BAD_WORKBOOKS), ids=list(BAD_WORKBOOKS))
def test_bad_workbooks_are_unscannable(case: str) -> None:
    make, reason = BAD_WORKBOOKS[case]
    with pytest.raises(Unscannable) as caught:
        read_workbook(make())
    assert caught.value.reason == reason, caught.value.detail


def test_long_and_wide_sheets_are_read_whole() -> None:
    """Past row 99,999 or column Z the guard reads the extent from the file's ends."""
    long = analyze(read_workbook(hostile.long_sheet(120_000)))
    assert (long.rows, long.personal_rows) == (120_000, 120_000)
    wide = analyze(read_workbook(hostile.wide_sheet(60, 2_000)))
    assert (wide.rows, wide.personal_rows) == (2_000, 2_000)


def test_a_far_cell_in_the_middle_of_a_long_sheet_is_found_and_compacted() -> None:
    """The cell in column XFD makes the sheet's area 2 billion cells: it is found by the full
    search and the sheet compacted (the empty columns before it go)."""
    [sheet] = read_workbook(hostile.long_sheet(120_000, far_at=60_000))
    assert len(sheet.rows) == 120_001
    assert max(len(row) for row in sheet.rows) == 4  # A, B, one empty column, the far cell
    assert analyze([sheet]).personal_rows == 120_000


@pytest.mark.parametrize(
    "make",
    [hostile.far_cell, hostile.wide_and_tall, hostile.ods_sparse_repeats],
    ids=["A1-and-XFD1048576", "wide-and-tall", "ods-empty-repeats-between-two-cells"],
)
def test_far_single_cells_are_read(make: Callable[[], bytes]) -> None:
    """Cells really present are few: calamine gets them moved together, not the whole area."""
    [sheet] = read_workbook(make())
    assert sum(1 for row in sheet.rows for value in row if value) in (2, 3)
    assert len(sheet.rows) * max(map(len, sheet.rows)) <= 9


def test_cells_without_references_are_placed_as_calamine_places_them() -> None:
    """20,000 cells with no r attribute in row 90,000: calamine alone aborts the process on
    this file (90,000 x 20,000 cells); the guard reads every position and compacts the rows."""
    [sheet] = read_workbook(hostile.implicit_columns())
    assert [len(sheet.rows), max(map(len, sheet.rows))] == [3, 20_000]


def test_zip_bomb_member_hits_the_unpack_limit() -> None:
    data = hostile.inflating_sheet(4 << 20)
    assert len(data) < 64 << 10
    with pytest.raises(Unscannable) as caught:
        read_workbook(data, limits=TableLimits(max_unpacked=1 << 20))
    assert caught.value.reason == "limit"


def test_a_member_lying_about_its_size_is_not_inflated(tmp_path: Path) -> None:
    """Checked in a process limited to 512 MiB: the hidden 1 GiB must never be inflated."""
    path = tmp_path / "lying.xlsx"
    path.write_bytes(hostile.lying_member_size(1 << 30))
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
        from dlp_proxy.inspect.model import Unscannable
        from dlp_proxy.inspect.tables import read_workbook
        try:
            read_workbook(open({str(path)!r}, "rb").read())
        except Unscannable as exc:
            print(exc.reason)
        else:
            print("finding")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in ("corrupt", "finding")


def test_garbage_sheet_xml_is_an_empty_finding_not_a_crash() -> None:
    findings = analyze(read_workbook(hostile.not_xml_sheet()))
    assert findings.personal_rows == 0


def test_ods_trailing_empty_rows_are_harmless() -> None:
    findings = analyze(read_workbook(hostile.ods_trailing_empty_rows()))
    assert (findings.rows, findings.personal_rows) == (2, 2)


def test_cell_limit_counts_all_sheets() -> None:
    rows: list[list[object]] = [[f"r{i}", i] for i in range(600)]
    data = xlsx(("a", "visible", rows), ("b", "visible", rows))
    assert len(read_workbook(data, limits=TableLimits(max_cells=2400))) == 2
    with pytest.raises(Unscannable) as caught:
        read_workbook(data, limits=TableLimits(max_cells=2000))
    assert caught.value.reason == "limit"


def test_xls_shared_strings_count_is_refused(corpus: dict[str, build.CorpusFile]) -> None:
    """The SST count is refused defensively (calamine's source preallocates it)."""
    if "ja_customers.xls" not in corpus:
        pytest.skip("LibreOffice (soffice) is not installed: run scripts/test-deps as root")
    original = corpus["ja_customers.xls"].path.read_bytes()
    with pytest.raises(Unscannable) as caught:
        read_workbook(hostile.xls_sst_count(original))
    assert caught.value.reason == "limit", caught.value.detail


@pytest.mark.parametrize(
    "patch",
    [hostile.xls_far_cell, hostile.xls_inverted_dimensions, hostile.xls_huge_dimensions],
    ids=["far-cell", "inverted-dimensions", "dimensions-declare-the-whole-sheet"],
)
def test_xls_cells_and_dimensions_that_lie_are_read(
    corpus: dict[str, build.CorpusFile], patch: Callable[[bytes], bytes]
) -> None:
    """calamine aborts on the first two unguarded and reserves the declared area of the third:
    the sheet is compacted and DIMENSIONS set to the cells really present, then read."""
    if "ja_customers.xls" not in corpus:
        pytest.skip("LibreOffice (soffice) is not installed: run scripts/test-deps as root")
    original = corpus["ja_customers.xls"].path.read_bytes()
    expected = analyze(read_workbook(original))
    assert expected.personal_rows > 200
    patched = patch(original)
    assert patched != original
    found = analyze(read_workbook(patched))
    assert found.personal_rows >= expected.personal_rows - 1  # the moved cell's row may go


@pytest.mark.timeout(120)
def test_mutated_workbooks_never_crash(corpus: dict[str, build.CorpusFile], tmp_path: Path) -> None:
    """Random byte damage to xls, xlsx and ods files, all read in one process: it must live.

    Each file ends in a finding or an Unscannable; calamine aborting would kill the process.
    (The xls far-cell test above came from a run of this with another seed.)
    """
    names = [
        n for n in ("ja_customers.xls", "ja_customers.ods", "ja_customers.xlsx") if n in corpus
    ]
    for name in names:
        (tmp_path / name).write_bytes(corpus[name].path.read_bytes())
    script = textwrap.dedent(
        f"""
        import random, resource
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from dlp_proxy.inspect.detect import analyze
        from dlp_proxy.inspect.model import Unscannable
        from dlp_proxy.inspect.tables import read_workbook
        rng = random.Random(20240401)
        originals = [Path({str(tmp_path)!r}, n).read_bytes() for n in {names!r}]
        outcomes = {{"finding": 0, "unscannable": 0}}
        for _ in range(150):
            data = bytearray(rng.choice(originals))
            for _ in range(rng.choice([1, 2, 5, 20])):
                i = rng.randrange(len(data))
                if rng.random() < 0.7:
                    data[i] = rng.randrange(256)
                else:
                    data[i : i + 4] = rng.choice([bytes([255] * 4), bytes([255, 255, 255, 127])])
            try:
                analyze(read_workbook(bytes(data)))
                outcomes["finding"] += 1
            except Unscannable:
                outcomes["unscannable"] += 1
        print(outcomes["finding"] + outcomes["unscannable"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=110, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "150"


def test_sparse_xls_from_libreoffice_is_read_in_little_memory(
    corpus: dict[str, build.CorpusFile],
) -> None:
    """Cells in A1 and IV65536: calamine alone takes about 1 GiB for this file; compacted, it
    is read in a process whose address space is capped at 1 GiB."""
    if not corpus or "ja_customers.xls" not in corpus:
        pytest.skip("LibreOffice (soffice) is not installed: run scripts/test-deps as root")
    path = corpus["ja_customers.xls"].path.parent / build.SPARSE_XLS
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from dlp_proxy.inspect.tables import read_workbook
        [sheet] = read_workbook(open({str(path)!r}, "rb").read())
        print(sorted(str(v) for row in sheet.rows for v in row if v))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['x', 'y']"


def test_calamine_aborts_on_a_far_cell_without_our_guard(tmp_path: Path) -> None:
    """Why the guard exists: calamine itself kills the process on this file."""
    path = tmp_path / "far.xlsx"
    path.write_bytes(hostile.far_cell())
    script = textwrap.dedent(
        f"""
        import resource, python_calamine
        resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
        book = python_calamine.CalamineWorkbook.from_path({str(path)!r})
        book.get_sheet_by_index(0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert result.returncode < 0 or result.returncode == 134, result.returncode


# --- delimited text -------------------------------------------------------------------------------

PEOPLE = [
    ["氏名", "電話番号", "メールアドレス", "住所"],
    ["山田 太郎", "090-1234-5678", "taro@example.jp", "東京都千代田区丸の内1-1-1"],
    ["鈴木 花子", "080-2222-3333", "hanako@example.jp", "大阪府大阪市北区梅田2-2-2 ㈱ビル①"],
    ["東海林 凪", "070-4444-5555", "nagi@example.co.jp", "北海道札幌市中央区大通西3-3"],
]


def delimited(delimiter: str = ",", rows: list[list[str]] = PEOPLE) -> str:
    return "".join(delimiter.join(row) + "\r\n" for row in rows)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("cp932", b""),
        ("euc_jp", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
    ],
    ids=["utf8", "utf8-bom", "cp932", "euc-jp", "utf16le-bom", "utf16be-bom"],
)
def test_csv_encodings(encoding: str, bom: bytes) -> None:
    text = delimited()
    if encoding == "euc_jp":  # ㈱ and ① are NEC extensions that EUC-JP lacks
        text = text.replace("㈱", "（株）").replace("①", "1")
    data = bom + text.encode(encoding)
    (sheet,) = read_delimited(data, name="people.csv")
    assert sheet.rows[2][3] == text.splitlines()[2].split(",")[3]
    assert analyze([sheet]).personal_rows == 3


def test_cp1252_export_is_read() -> None:
    text = "name,email,phone\r\nJosé Müller,jose@example.com,(555) 234-5678\r\n"
    (sheet,) = read_delimited(text.encode("cp1252"), name="x.csv")
    assert sheet.rows[1][0] == "José Müller"


@pytest.mark.parametrize(
    "delimiter", [",", "\t", ";", "|"], ids=["comma", "tab", "semicolon", "pipe"]
)
def test_delimiter_sniffing(delimiter: str) -> None:
    text = delimited(delimiter)
    assert sniff_delimiter(text) == delimiter
    (sheet,) = read_delimited(text.encode(), name="x")
    assert sheet.rows[1] == PEOPLE[1]


def test_commas_inside_quoted_addresses_do_not_fool_the_sniffer() -> None:
    rows = ['"Smith, John"\t"1 Main St, Springfield"\tjohn@example.com'] * 5
    assert sniff_delimiter("\n".join(rows)) == "\t"


def test_nul_bytes_are_dropped() -> None:
    data = delimited().encode("utf-8").replace(b"\r\n", b"\x00\r\n").replace(b",", b",\x00")
    (sheet,) = read_delimited(data, name="nul.csv")
    assert sheet.rows[1] == PEOPLE[1]
    assert analyze([sheet]).personal_rows == 3


def test_mixed_encodings_are_decoded_line_by_line() -> None:
    lines = delimited().splitlines(keepends=True)
    data = b"".join(line.encode("utf-8" if i % 2 else "cp932") for i, line in enumerate(lines))
    (sheet,) = read_delimited(data, name="mixed.csv")
    assert [row[0] for row in sheet.rows] == [row[0] for row in PEOPLE]


def test_undecodable_bytes_become_replacement_characters() -> None:
    text = decode_text(b"name,phone\n\x81 \x8d \x90,090-1234-5678\n")  # invalid everywhere
    assert "\ufffd" in text and "090-1234-5678" in text


def test_a_stray_quote_does_not_swallow_the_rest() -> None:
    rows = [list(PEOPLE[0])]
    for i in range(60):
        rows.append([f"山田 太郎{i}", f"090-1234-{i:04d}", f"t{i}@example.jp", "東京都港区1-1"])
    rows[5][3] = '東京都港区"芝1-1'  # an opening quote that never closes
    (sheet,) = read_delimited(delimited(",", rows).encode(), name="quote.csv")
    assert analyze([sheet]).personal_rows == 60


def test_old_mac_line_ends() -> None:
    data = delimited().replace("\r\n", "\r").encode()
    assert len(read_delimited(data, name="mac.csv")[0].rows) == 4


def test_csv_row_limit() -> None:
    data = ("a,b\n" * 5000).encode()
    with pytest.raises(Unscannable) as caught:
        read_delimited(data, name="x", limits=TableLimits(max_rows=1000))
    assert caught.value.reason == "limit"


@pytest.mark.parametrize(
    ("text", "table"),
    [
        (delimited("\t"), True),
        (delimited(","), True),
        (
            "お世話になっております。\n以下の通りです。\n\n"
            + delimited("\t")
            + "\nよろしくお願いします。\n",
            True,
        ),
        ("Hello team,\nThanks for today, see you, and regards,\nSato\n", False),
        ("Dear all,\n\nPlease find, as agreed, the notes.\nBest,\nKen\n", False),
        ("a,b\n", False),
        ("", False),
        ("件名: 打ち合わせ\n日時: 4月1日\n場所: 本社\n", False),
    ],
    ids=[
        "tsv",
        "csv",
        "tsv-inside-mail",
        "prose-commas",
        "prose-short",
        "one-line",
        "empty",
        "key-values",
    ],
)
def test_looks_delimited(text: str, table: bool) -> None:
    assert looks_delimited(text.encode("utf-8")) is table


@pytest.mark.timeout(120)  # a hang guard; the scanner's own deadline is 60 s by default
def test_million_row_csv_under_the_scanner_memory_limit(tmp_path: Path) -> None:
    """A 1,000,000-row CSV, read and analysed in a process limited to 2 GiB like the scanner."""
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from dlp_proxy.inspect.detect import analyze
        from dlp_proxy.inspect.model import Unscannable
        from dlp_proxy.inspect.tables import read_delimited
        families = ["山田", "佐藤", "東海林", "五十嵐", "鈴木"]
        lines = ["氏名,電話番号,メールアドレス,住所"]
        for i in range(1_000_000):
            lines.append(
                f"{families[i % 5]} 太郎{i % 7},090-{i // 10000:04d}-{i % 10000:04d},"
                f"user{i}@example.jp,東京都千代田区丸の内{i % 9 + 1}-{i % 30 + 1}"
            )
        data = ("\\n".join(lines) + "\\n").encode()
        del lines
        try:
            findings = analyze(read_delimited(data, name="big.csv"))
        except Unscannable as exc:
            print("unscannable", exc.reason)
        else:
            print("finding", findings.rows, findings.personal_rows, findings.persons)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["finding", "1000000", "1000000", "1000000"]


def test_old_mac_and_mixed_line_ends_and_a_stray_cr() -> None:
    lines = delimited().split("\r\n")
    mixed = lines[0] + "\r" + lines[1] + "\n" + lines[2] + "\r\n" + "\r\n".join(lines[3:])
    assert [len(r) for r in read_delimited(mixed.encode(), name="m.csv")[0].rows] == [
        len(r) for r in read_delimited(delimited().encode(), name="d.csv")[0].rows
    ]
    stray = delimited().replace(",", "\r,", 1)  # a bare CR inside the header row
    assert len(read_delimited(stray.encode(), name="s.csv")[0].rows) == 5  # as Excel splits it


def test_a_field_longer_than_the_csv_module_default_is_read() -> None:
    rows = [list(PEOPLE[0]), *[list(p) for p in PEOPLE[1:]]]
    rows[1][1] = rows[1][1] + "x" * 200_000
    (sheet,) = read_delimited(delimited(",", rows).encode(), name="long.csv")
    assert len(sheet.rows) == len(rows)


def test_a_quote_opening_a_field_and_never_closing_does_not_hide_the_rows() -> None:
    rows = [list(PEOPLE[0])]
    for i in range(60):
        rows.append([f"山田 太郎{i}", f"090-1234-{i:04d}", f"t{i}@example.jp", "東京都港区1-1"])
    text = delimited(",", rows).replace("山田 太郎5", '"山田 太郎5', 1)
    (sheet,) = read_delimited(text.encode(), name="quote.csv")
    assert analyze([sheet]).personal_rows == 60


def test_rows_neither_reading_can_split_are_corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delimited_module, "_read_rows", lambda *args: None)
    with pytest.raises(Unscannable) as caught:
        read_delimited(delimited().encode(), name="x.csv")
    assert caught.value.reason == "corrupt"


def test_a_table_far_down_decoded_text() -> None:
    prose = "".join(f"Item {i}: {'as agreed, ' * (i % 4)}we met on day {i}.\n" for i in range(5000))
    text = prose + delimited(",") + "That is all.\n"
    assert has_table(text) and not has_table(prose)
    (sheet,) = read_text_table(text, name="doc")
    assert list(PEOPLE[0]) in sheet.rows[:8]  # read from a few lines above the table
    assert len(sheet.rows) < 20
    assert analyze([sheet]).personal_rows == len(PEOPLE) - 1


def _scatter_second_sheet(xls: bytes) -> bytes:
    """Move each value cell of the second sheet to row n, column n % 200: a sheet that spans
    about 700 x 200 cells even compacted."""
    state = {"bofs": 0, "moved": 0}

    def scatter(stream: bytearray, kind: int, body: int, size: int) -> bool:
        if kind == 0x0809:
            state["bofs"] += 1
        elif state["bofs"] == 3 and kind in (0x00FD, 0x0203, 0x027E, 0x0204) and size >= 4:
            n = state["moved"]
            struct.pack_into("<HH", stream, body, n, n % 200)
            state["moved"] += 1
        return False

    return hostile.patch_xls(xls, scatter)


def test_one_xls_sheet_over_the_limit_costs_that_sheet(
    corpus: dict[str, build.CorpusFile],
) -> None:
    """The second of three sheets spans too far even compacted: it is reported and hidden
    from calamine, the others are read."""
    if "multi_sheet_hidden.xls" not in corpus:
        pytest.skip("LibreOffice (soffice) is not installed: run scripts/test-deps as root")
    data = _scatter_second_sheet(corpus["multi_sheet_hidden.xls"].path.read_bytes())
    problems: list[Unscannable] = []
    sheets = read_workbook(data, limits=TableLimits(max_cells=20_000), damage=problems.append)
    assert [(p.reason, p.detail.split(" spans")[0]) for p in problems] == [("limit", "xls sheet 2")]
    assert {s.name: len(s.rows) for s in sheets if s.rows} == {"集計": 4, "旧顧客": 66}
    with pytest.raises(Unscannable):
        read_workbook(data, limits=TableLimits(max_cells=20_000))  # without damage: refused


def test_one_ods_table_over_the_limit_costs_that_table() -> None:
    bomb = hostile.ODS_CELL.replace(
        "<table:table-cell ", '<table:table-cell table:number-columns-repeated="1000" '
    )
    people = "".join(
        "<table:table-row>"
        + "".join(hostile.ODS_CELL.replace(">x<", f">{value}<") for value in row)
        + "</table:table-row>"
        for row in (
            ["氏名", "電話番号"],
            ["山田 太郎", "090-1234-5678"],
            ["鈴木 花子", "080-1111-2222"],
        )
    )
    data = hostile.ods(
        f'<table:table-row table:number-rows-repeated="60000">{bomb}</table:table-row>'
        f'</table:table><table:table table:name="S2">{people}'
    )
    problems: list[Unscannable] = []
    sheets = read_workbook(data, damage=problems.append)
    assert [(p.reason, p.detail.split(" holds")[0]) for p in problems] == [("limit", "table 1")]
    assert analyze(sheets).personal_rows == 2
