"""What reading HTML bodies costs per message: our HTML reader against lxml's bare parse.

    .venv/bin/python bench/html_body.py [--repeat 2000]

In one process and one run: lxml's parse of a typical 30 KB Outlook HTML body alone; our
reader (parse, layout, data: URI scan) on the same body; the whole inspection of a
multipart/alternative message carrying it with its text/plain twin, against the same
message with only the plain part; and a 10 KB plain-text message (the relay benchmark's).
Medians of per-call times, after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dlp_proxy.inspect import inspect_message, markup  # noqa: E402
from tests import markupcorpus  # noqa: E402


def median_us(call: Callable[[], object], repeat: int) -> float:
    for _ in range(min(50, repeat)):
        call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def plain_message(size: int = 10_000) -> bytes:
    """Headers plus ``size`` bytes of 80-byte lines, as bench/relay.py sends."""
    head = b"From: <a@corp.example>\r\nTo: <b@outside.example>\r\nSubject: latency probe\r\n\r\n"
    line = b"X" * 78 + b"\r\n"
    return head + line * (size // len(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    body = markupcorpus.typical_outlook_body(30_000)
    data = body.encode()
    plain = "先日はお打ち合わせのお時間をいただき、誠にありがとうございました。\r\n" * 150
    with_html = markupcorpus.alternative(plain, body)
    plain_only = markupcorpus.alternative(plain, "").split(
        b"\r\n--_000_alt_\r\nContent-Type: text/html"
    )[0]
    plain_only += b"\r\n--_000_alt_--\r\n"
    rows = {
        "lxml parse only (30 KB Outlook body)": median_us(
            lambda: etree.fromstring(data, etree.HTMLParser(encoding="utf-8")), args.repeat
        ),
        "markup.read_html (same body)": median_us(lambda: markup.read_html(data), args.repeat),
        "inspect_message: plain + HTML alternative": median_us(
            lambda: inspect_message(with_html), args.repeat
        ),
        "inspect_message: the plain part alone": median_us(
            lambda: inspect_message(plain_only), args.repeat
        ),
        "inspect_message: 10 KB plain-text message": median_us(
            lambda: inspect_message(plain_message()), args.repeat
        ),
    }
    print(f"HTML body: {len(data):,} bytes; repeat {args.repeat}; median per call")
    print("| measurement | µs |")
    print("|---|---:|")
    for name, value in rows.items():
        print(f"| {name} | {value:,.0f} |")
    parse, ours = rows["lxml parse only (30 KB Outlook body)"], rows["markup.read_html (same body)"]
    print(f"\nreader / bare parse: {ours / parse:.2f}x")


if __name__ == "__main__":
    main()
