"""Encoding detection for CSV text: our strict-decode order against charset-normalizer.

    .venv/bin/python bench/csv_encoding.py      (charset-normalizer: pip install it to compare)

Each case is decoded from a sample cut at a newline, as read_delimited does; "right" means
the decoded text equals the original.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from faker import Faker

from dlp_proxy.inspect.delimited import _cut_at_newline, _guess_encoding

try:
    import charset_normalizer
except ImportError:  # pragma: no cover - optional comparison
    charset_normalizer = None


def cases() -> dict[str, tuple[str, str]]:
    fake = Faker("ja_JP")
    fake.seed_instance(3)
    rows = ["氏名,フリガナ,電話,住所,メール"] + [
        f"{fake.name()},{fake.kana_name()},{fake.phone_number()},{fake.address()},{fake.email()}"
        for _ in range(3000)
    ]
    text = "\n".join(rows) + "\n"
    english = Faker("en_US")
    english.seed_instance(4)
    latin = "\n".join(
        ["name,phone,email"]
        + [f"{english.name()},{english.phone_number()},{english.email()}" for _ in range(3000)]
    )
    return {
        "64 KiB UTF-8": (text, "utf-8"),
        "64 KiB cp932": (text, "cp932"),
        "64 KiB EUC-JP": (text, "euc_jp"),
        "64 KiB ASCII": (latin + "\n", "utf-8"),
        "one line cp932": ("山田 太郎,090-1234-5678\n", "cp932"),
        "half-width kana cp932": ("ﾔﾏﾀﾞ ﾀﾛｳ,ｽｽﾞｷ ﾊﾅｺ\nｻﾄｳ ｲﾁﾛｳ,ﾀﾅｶ ｼﾞﾛｳ\n", "cp932"),
        "NEC symbols cp932": ("①山田㈱,東京都千代田区\n②鈴木㈲,大阪府\n", "cp932"),
        "short EUC-JP": ("佐藤,東京\n", "euc_jp"),
        "header only cp932": ("氏名,電話番号,メールアドレス\n", "cp932"),
        "mostly ASCII cp932": (
            "id,name,tel\n1,Yamada,03-1234-5678\n2,鈴木,03-2222-3333\n",
            "cp932",
        ),
        "Western cp1252": ("name,city\nJosé Müller,Zürich\n", "cp1252"),
    }


def charset_normalizer_guess(sample: bytes) -> str | None:
    best = charset_normalizer.from_bytes(sample).best()
    return best.encoding if best else None


def run(guess: Callable[[bytes], str | None], sample: bytes, text: str) -> tuple[bool, float]:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        encoding = guess(sample)
        times.append(time.perf_counter() - start)
    try:
        right = (
            encoding is not None and sample.decode(encoding) == text[: len(sample.decode(encoding))]
        )
    except (UnicodeDecodeError, LookupError):
        right = False
    return right, statistics.median(times) * 1000


def main() -> None:
    guessers: dict[str, Callable[[bytes], str | None]] = {"ours": _guess_encoding}
    if charset_normalizer is not None:
        guessers["charset-normalizer"] = charset_normalizer_guess
    print(f"{'case':24}" + "".join(f"{name:>28}" for name in guessers))
    wins = dict.fromkeys(guessers, 0)
    for label, (text, encoding) in cases().items():
        sample = _cut_at_newline(text.encode(encoding)[: 64 * 1024])
        cells = []
        for name, guess in guessers.items():
            right, ms = run(guess, sample, text)
            wins[name] += right
            cells.append(f"{'right' if right else 'WRONG'} {ms:8.2f} ms")
        print(f"{label:24}" + "".join(f"{c:>28}" for c in cells))
    print("right: " + ", ".join(f"{name} {count}/{len(cases())}" for name, count in wins.items()))


if __name__ == "__main__":
    main()
