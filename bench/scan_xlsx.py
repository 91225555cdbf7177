"""Scan time of a 50,000-row × 8-column xlsx against python-calamine's bare load of it.

    .venv/bin/python bench/scan_xlsx.py [--rows 50000] [--repeat 9] [--libreoffice] [--xls-ods]

Builds a synthetic customer list with openpyxl (cached in bench/results/), then, in the same
run and alternating, times (a) python-calamine opening the file and converting every sheet to
Python lists, and (b) dlp_proxy's read_workbook + analyze on the same bytes. Prints medians,
the ratio (target: at most 1.5) and the peak RSS of each, measured in fresh processes.
With --libreoffice the file is also re-saved by LibreOffice (shared strings, as Excel writes)
and measured the same way; with --xls-ods LibreOffice also converts it to xls and ods.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
import python_calamine
from faker import Faker

from dlp_proxy.inspect.detect import analyze
from dlp_proxy.inspect.tables import read_workbook

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HEADER = [
    "顧客ID",
    "氏名",
    "フリガナ",
    "メールアドレス",
    "電話番号",
    "郵便番号",
    "住所",
    "生年月日",
]


def build(rows: int, path: Path) -> None:
    fake = Faker("ja_JP")
    fake.seed_instance(50_000)
    rng = random.Random(50_000)
    pool = 4000
    families = [fake.last_name_pair() for _ in range(pool)]
    givens = [fake.first_name_pair() for _ in range(pool)]
    addresses = [fake.address() for _ in range(pool)]
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("顧客一覧")
    sheet.append(HEADER)
    for i in range(rows):
        family, given = rng.choice(families), rng.choice(givens)
        sheet.append(
            [
                f"C{i:07d}",
                f"{family[0]} {given[0]}",
                f"{family[1]} {given[1]}",
                f"{family[2].lower()}.{i}@example.jp",
                f"0{rng.choice('789')}0-{i // 10000:04d}-{i % 10000:04d}",
                f"{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}",
                rng.choice(addresses),
                dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 65)),
            ]
        )
    book.save(path)


def resave_with_libreoffice(source: Path, target: Path, fmt: str) -> None:
    office = shutil.which("soffice")
    if office is None:
        raise SystemExit("LibreOffice (soffice) is needed; scripts/test-deps installs it")
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as out:
        converted = Path(out) / f"{source.stem}.{fmt.partition(':')[0]}"
        for _ in range(2):  # a fresh profile's first start sometimes exits without converting
            subprocess.run(
                [office, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
                 fmt, "--outdir", out, str(source)],
                check=True, capture_output=True, timeout=900,
            )  # fmt: skip
            if converted.exists():
                break
        shutil.move(converted, target)


def bare_load(data: bytes) -> int:
    cells = 0
    with python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
        for name in book.sheet_names:
            rows = book.get_sheet_by_name(name).to_python()
            cells += sum(map(len, rows))
    return cells


def scan(data: bytes) -> tuple[int, int]:
    findings = analyze(read_workbook(data))
    return findings.personal_rows, findings.persons


def high_water_mib() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, path: str) -> None:
    """Run one job in this fresh process and print its peak RSS (MiB) as JSON."""
    data = Path(path).read_bytes()
    before = high_water_mib()
    result = bare_load(data) if mode == "bare" else scan(data)
    print(json.dumps({"result": result, "peak_mib": high_water_mib(), "before_mib": before}))


def peak_rss(mode: str, path: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return json.loads(output)  # type: ignore[no-any-return]


def measure(label: str, path: Path, repeat: int) -> dict[str, object]:
    data = path.read_bytes()
    bare_load(data), scan(data)  # warm imports and caches
    bare_wall, scan_wall, bare_cpu, scan_cpu = [], [], [], []
    for _ in range(repeat):
        for job, wall, cpu in ((bare_load, bare_wall, bare_cpu), (scan, scan_wall, scan_cpu)):
            w, c = time.perf_counter(), time.process_time()
            job(data)
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
    personal, persons = scan(data)
    result = {
        "file": label,
        "bytes": len(data),
        "bare_wall_s": statistics.median(bare_wall),
        "scan_wall_s": statistics.median(scan_wall),
        "bare_cpu_s": statistics.median(bare_cpu),
        "scan_cpu_s": statistics.median(scan_cpu),
        "personal_rows": personal,
        "persons": persons,
        "bare_peak_mib": peak_rss("bare", path)["peak_mib"],
        "scan_peak_mib": peak_rss("scan", path)["peak_mib"],
    }
    result["ratio_wall"] = result["scan_wall_s"] / result["bare_wall_s"]  # type: ignore[operator]
    result["ratio_cpu"] = result["scan_cpu_s"] / result["bare_cpu_s"]  # type: ignore[operator]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--libreoffice", action="store_true")
    parser.add_argument("--xls-ods", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"customers-{args.rows}x8.xlsx"
    if not path.exists():
        print(f"building {path.name} with openpyxl...", flush=True)
        build(args.rows, path)
    files = [("openpyxl (inline strings)", path)]
    wanted = []
    if args.libreoffice:
        wanted.append(("LibreOffice (shared strings)", "xlsx:Calc MS Excel 2007 XML", ".xlsx"))
    if args.xls_ods:
        wanted += [("LibreOffice xls", "xls", ".xls"), ("LibreOffice ods", "ods", ".ods")]
    for label, fmt, suffix in wanted:
        converted = RESULTS / f"customers-{args.rows}x8-libreoffice{suffix}"
        if not converted.exists():
            print(f"converting with LibreOffice to {suffix}...", flush=True)
            resave_with_libreoffice(path, converted, fmt)
        files.append((label, converted))
    for label, file in files:
        r = measure(label, file, args.repeat)
        print(
            f"\n{label}: {file.name}, {r['bytes']:,} bytes, {args.rows:,} rows x 8 columns\n"
            f"  python-calamine load   wall {r['bare_wall_s']:.3f} s  cpu {r['bare_cpu_s']:.3f} s"
            f"  peak RSS {r['bare_peak_mib']:.0f} MiB\n"
            f"  read_workbook+analyze  wall {r['scan_wall_s']:.3f} s  cpu {r['scan_cpu_s']:.3f} s"
            f"  peak RSS {r['scan_peak_mib']:.0f} MiB\n"
            f"  ratio (median of {args.repeat})   wall {r['ratio_wall']:.2f}"
            f"  cpu {r['ratio_cpu']:.2f}   (target <= 1.5)\n"
            f"  found {r['personal_rows']:,} personal rows, {r['persons']:,} persons"
        )


if __name__ == "__main__":
    main()
