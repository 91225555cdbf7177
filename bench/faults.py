"""Fault injection, full size: each scenario of docs/reliability.md against `dlp-proxy serve`.

    PYTHONPATH=$PWD .venv/bin/python bench/faults.py [--messages 300] [--release-messages 40]
        [--only next_hop_down,kill_during_data ...] [--kills 3]

Prints one Markdown row per scenario (sent, accepted, rejected, deferred, delivered,
duplicates, held, held duplicates, released, lost, wrong, attempts, retried) and what
happened; writes bench/results/faults.json. Exits 1 if any message was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faultkit import Books  # noqa: E402
from tests.faultscenarios import SCENARIOS, disk_full_possible, kill_during_data  # noqa: E402

RELEASES = {"kill_after_hold", "kill_during_release"}  # one release at a time: fewer messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--release-messages", type=int, default=40)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs in kill_during_data")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()
    scenarios = dict(SCENARIOS)
    scenarios["kill_during_data"] = functools.partial(kill_during_data, kills=args.kills)
    results = []
    with tempfile.TemporaryDirectory(prefix="dlp-faults-") as tmp:
        for name in args.only.split(","):
            if name == "disk_full" and disk_full_possible():
                print(f"{name}: skipped, {disk_full_possible()}")
                continue
            n = args.release_messages if name in RELEASES else args.messages
            started = time.monotonic()
            books = asyncio.run(scenarios[name](Path(tmp) / name, n))
            seconds = round(time.monotonic() - started, 1)
            print(f"{name} ({seconds} s): {books.row()}\n    " + "\n    ".join(books.notes))
            results.append({"name": name, "seconds": seconds, **dataclasses.asdict(books)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("\n" + Books.header())
    for result in results:
        print("| " + " | ".join(str(result[k]) for k in ["scenario", *Books.COLUMNS]) + " |")
    if any(result["lost"] for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
