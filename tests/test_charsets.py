from __future__ import annotations

import pytest

from dlp_proxy.inspect import charsets

CIRCLED_ONE = b"\x1b$B\x2d\x21\x1b(B"  # ① as Windows writes it in ISO-2022-JP (NEC row 13)
KABUSHIKI = b"\x1b$B\x2d\x6a\x1b(B"  # ㈱


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("顧客リスト".encode("iso2022_jp"), "iso-2022-jp", "顧客リスト"),
        (b"list" + CIRCLED_ONE + b".csv", "ISO-2022-JP", "list①.csv"),
        (KABUSHIKI + "東京商事".encode("iso2022_jp"), "iso-2022-jp", "㈱東京商事"),
        ("ｶﾀｶﾅ".encode("iso2022_jp_ext"), "iso-2022-jp", "ｶﾀｶﾅ"),
        ("①㈱髙橋".encode("cp932"), "shift_jis", "①㈱髙橋"),
        ("①㈱髙橋".encode("cp932"), "Windows-31J", "①㈱髙橋"),
        ("顧客".encode("euc_jp") + b"\xad\xa1", "euc-jp", "顧客①"),
        ("顧客①".encode(), "shift_jis", "顧客①"),  # declared wrongly
        ("顧客".encode("cp932"), "x-unknown-charset", "顧客"),
        ("Müller".encode("latin-1"), "iso-8859-1", "Müller"),
        (b"\xff\xfe\xfd", "utf-8", "\ufffd\ufffd\ufffd"),
        (b"\x1b$B\x7f", "iso-2022-jp", "\ufffd"),
    ],
    ids=[
        "iso2022jp",
        "iso2022jp-nec-circled-digit",
        "iso2022jp-nec-kabushiki",
        "iso2022jp-halfwidth-kana",
        "sjis-label-nec-ibm",
        "windows-31j",
        "eucjp-nec",
        "declared-sjis-actually-utf8",
        "unknown-charset",
        "latin1",
        "undecodable",
        "truncated-escape",
    ],
)
def test_decode(data: bytes, charset: str, expected: str) -> None:
    assert charsets.decode(data, charset) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("顧客①.csv".encode(), "顧客①.csv"),
        ("顧客①.csv".encode("cp932"), "顧客①.csv"),
        (b"\x1b$B8\\5R\x1b(B" + CIRCLED_ONE, "顧客①"),
        (b"plain.csv", "plain.csv"),
    ],
    ids=["utf8", "cp932", "iso2022jp-raw", "ascii"],
)
def test_guess(data: bytes, expected: str) -> None:
    assert charsets.guess(data) == expected


def _sjis_to_jis(s1: int, s2: int) -> tuple[int, int]:
    s1 -= 0x40 if s1 >= 0xE0 else 0
    row = (s1 - 0x81) * 2 + 0x21
    if s2 >= 0x9F:
        return row + 1, s2 - 0x7E
    return row, s2 - 0x1F - (1 if s2 >= 0x80 else 0)


def test_every_cp932_double_byte_character_survives_iso2022jp() -> None:
    """Windows' ISO-2022-JP (CP50220) carries all of cp932's JIS rows: NEC and IBM included."""
    checked = 0
    for s1 in [*range(0x81, 0xA0), *range(0xE0, 0xF0)]:
        for s2 in [*range(0x40, 0x7F), *range(0x80, 0xFD)]:
            try:
                char = bytes((s1, s2)).decode("cp932")
            except UnicodeDecodeError:
                continue
            j1, j2 = _sjis_to_jis(s1, s2)
            assert charsets.decode_iso2022jp(b"\x1b$B" + bytes((j1, j2)) + b"\x1b(B") == char
            checked += 1
    assert checked > 7000
