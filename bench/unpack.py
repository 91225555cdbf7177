"""Unpacking benchmark (issue 3): inspect_message's MIME walk, sniffing and archive handling.

For each workload, in one run and interleaved over repetitions, each measurement in a fresh
child process (so peak RSS is that workload's own):

- ours: ``inspect_message`` with table reading replaced by a no-op (tables.py/detect.py
  are the detect branch's and have their own benchmark), so what is timed is parsing,
  transfer decoding, filename decoding, type sniffing, dedup hashing and unzipping;
- baseline (benign workloads only): the least any walker must do with the standard library:
  ``message_from_bytes`` + ``get_payload(decode=True)`` on every leaf + ``zipfile`` read of
  every member, recursively, with no limits (on a bomb it would not return).

Medians are printed as a Markdown table with the ratio ours/baseline; raw figures go to
bench/results/unpack-*.json. Run: ``.venv/bin/python bench/unpack.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing
import platform
import resource
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dlp_proxy.inspect import files, inspect_message  # noqa: E402
from dlp_proxy.inspect.model import TableFindings  # noqa: E402
from tests import zipcraft  # noqa: E402
from tests.builders import csv_bytes, customers, xlsx_bytes, zip_bytes  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _no_tables(kind: str, data: bytes, name: str) -> TableFindings:
    return TableFindings(rows=0, personal_rows=0, persons=0)


def _message(attachments: list[tuple[bytes, str, str]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "sales@dealer.example.jp"
    msg["To"] = "customer@example.com"
    msg["Subject"] = "資料"
    msg.set_content("お世話になっております。")
    for data, content_type, name in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _big_csv(rows: int) -> bytes:
    """``rows`` customer rows: a Faker pool varied by row number (Faker alone is too slow)."""
    pool = customers(5000)
    lines = ["氏名,住所,電話番号,メールアドレス"]
    for i in range(rows):
        name, address, phone, email = pool[i % len(pool)]
        lines.append(f"{name},{address} {i},{phone},{i}.{email}")
    return ("\r\n".join(lines) + "\r\n").encode()


def workloads() -> dict[str, tuple[bytes, bool]]:
    """name -> (raw message, benign: whether the unlimited baseline can run it)."""
    rows = customers(2000)
    xlsx = xlsx_bytes(rows)
    csv = csv_bytes(rows)
    office = [(xlsx, "application/octet-stream", f"顧客{i}.xlsx") for i in range(10)]
    office += [
        (
            zip_bytes([(f"{i}-{j}.csv", csv + bytes([j])) for j in range(5)]),
            "application/zip",
            f"{i}.zip",
        )
        for i in range(5)
    ]
    million = zip_bytes([("million.csv", _big_csv(1_000_000))])
    nested = zipcraft.nested_copies(bytes(4 << 20), "zeros.txt", levels=5)
    ratio = zipcraft.zeros_member("zeros.csv", 1 << 30)
    overlap = zipcraft.overlapping(zipcraft.zeros_member("zeros.csv", 2 << 20), 5000)
    many = zip_bytes([(f"{i}.txt", str(i).encode()) for i in range(50_000)])
    gz = _gzip_zeros(1 << 30)
    deep = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
        for i in range(5000)
    )
    return {
        "15 attachments (10 xlsx, 5 zips of csv)": (_message(office), True),
        "zip with a 1M-row csv": (_message([(million, "application/zip", "million.zip")]), True),
        "42.zip shape (16^5 x 4 MiB)": (_message([(nested, "application/zip", "42.zip")]), False),
        "1 GiB zeros member": (_message([(ratio, "application/zip", "ratio.zip")]), False),
        "5000 overlapping entries": (_message([(overlap, "application/zip", "o.zip")]), False),
        "50k tiny members": (_message([(many, "application/zip", "many.zip")]), False),
        "1 GiB gzip": (_message([(gz, "application/gzip", "z.csv.gz")]), False),
        "5000-deep multipart": (
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n' + deep,
            False,
        ),
    }


def _gzip_zeros(size: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as stream:
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            stream.write(chunk)
    return out.getvalue()


def _baseline(raw: bytes) -> int:
    total = 0

    def unzip(data: bytes) -> None:
        nonlocal total
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                member = archive.read(info)
                total += len(member)
                if member[:4] == b"PK\x03\x04":
                    unzip(member)

    for part in message_from_bytes(raw, policy=compat32).walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            total += len(data)
            if data[:4] == b"PK\x03\x04":
                unzip(data)
    return total


def _ours(raw: bytes) -> int:
    files._scan_table = _no_tables  # type: ignore[assignment]
    files._looks_delimited = lambda data: False  # type: ignore[assignment]
    return len(inspect_message(raw).attachments)


def _child(job: Callable[[bytes], int], raw: bytes, queue: multiprocessing.Queue[object]) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = job(raw)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, peak, peak - before, result))


def measure(job: Callable[[bytes], int], raw: bytes) -> tuple[float, int, int, int]:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = context.Queue()
    process = context.Process(target=_child, args=(job, raw, queue))
    process.start()
    seconds, peak, grown, result = queue.get(timeout=600)  # type: ignore[misc]
    process.join()
    return seconds, peak, grown, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    built = workloads()
    raw_results: dict[str, dict[str, list[tuple[float, int, int, int]]]] = {
        name: {"ours": [], "baseline": []} for name in built
    }
    for _ in range(args.repeat):
        for name, (raw, benign) in built.items():
            raw_results[name]["ours"].append(measure(_ours, raw))
            if benign:
                raw_results[name]["baseline"].append(measure(_baseline, raw))
    print(
        f"{platform.python_version()} on {platform.machine()}, {args.repeat} repetitions, medians\n"
    )
    print(
        "| workload | message MB | ours s | baseline s | time ratio "
        "| ours RSS growth MB | baseline RSS growth MB | findings |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (raw, _) in built.items():
        ours = raw_results[name]["ours"]
        base = raw_results[name]["baseline"]
        ours_s = statistics.median(r[0] for r in ours)
        base_s = statistics.median(r[0] for r in base) if base else None
        ratio = f"{ours_s / base_s:.2f}" if base_s else "-"
        peak = statistics.median(r[2] for r in ours) / 1024
        base_peak = f"{statistics.median(r[2] for r in base) / 1024:.0f}" if base else "-"
        base_text = f"{base_s:.3f}" if base_s is not None else "(would not end)"
        print(
            f"| {name} | {len(raw) / 1e6:.1f} | {ours_s:.3f} | {base_text} | {ratio} | "
            f"{peak:.0f} | {base_peak} | {ours[0][3]} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"unpack-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(raw_results, indent=2, ensure_ascii=False))
    print(f"\nraw: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
