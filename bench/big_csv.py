"""Time and peak memory of reading and analysing a 1,000,000-row CSV (4 columns, UTF-8).

    .venv/bin/python bench/big_csv.py [--rows 1000000]

Runs in a fresh process limited to 2 GiB of address space, as the scanner is by default.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from dlp_proxy.inspect.detect import analyze
from dlp_proxy.inspect.tables import read_delimited


def child(rows: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    families = ["山田", "佐藤", "東海林", "五十嵐", "鈴木"]
    lines = ["氏名,電話番号,メールアドレス,住所"]
    for i in range(rows):
        lines.append(
            f"{families[i % 5]} 太郎{i % 7},090-{i // 10000:04d}-{i % 10000:04d},"
            f"user{i}@example.jp,東京都千代田区丸の内{i % 9 + 1}-{i % 30 + 1}"
        )
    data = ("\n".join(lines) + "\n").encode()
    del lines
    start = time.perf_counter()
    sheets = read_delimited(data, name="big.csv")
    read = time.perf_counter() - start
    findings = analyze(sheets)
    total = time.perf_counter() - start
    peak = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    result = {"bytes": len(data), "read_s": read, "total_s": total, "peak_mib": peak}
    print(
        json.dumps(result | {"personal_rows": findings.personal_rows, "persons": findings.persons})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows)
        return
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--rows", str(args.rows)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    r = json.loads(out)
    print(
        f"{args.rows:,}-row CSV, {r['bytes']:,} bytes: read {r['read_s']:.1f} s, read+analyze "
        f"{r['total_s']:.1f} s, peak RSS {r['peak_mib']:.0f} MiB (including the generated "
        f"input), {r['personal_rows']:,} personal rows, {r['persons']:,} persons"
    )


if __name__ == "__main__":
    main()
