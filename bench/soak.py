"""Soak: many messages (clean, held, blocked) through `dlp-proxy serve`, every one accounted for.

    PYTHONPATH=$PWD .venv/bin/python bench/soak.py [--messages 10000] [--workers 2] [--sessions 8]

Sends in rounds of --round messages; after each round prints throughput and the RSS of the
proxy's process tree (supervisor, workers, scanners), so a leak shows as a climb. At the end:
the books (delivered + held + rejected == sent, lost 0, duplicates 0) and the quarantine rows.
Writes bench/results/soak.json and prints a Markdown table for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faultkit import Books, letters, quarantine_rows, rig  # noqa: E402


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    mix = tuple(float(x) for x in args.mix.split(","))
    async with rig(workdir, workers=args.workers, scan_processes=args.scan_processes) as r:
        await asyncio.sleep(1)
        rounds: list[dict[str, float]] = [
            {"sent": 0, "seconds": 0, "per_second": 0, "rss_mb": r.proxy.rss() / 2**20}
        ]
        everything = []
        mta = r.mta(sessions=args.sessions, timeout=120)
        started = time.monotonic()
        for first in range(0, args.messages, args.round):
            batch = letters(min(args.round, args.messages - first), mix, start=first)
            t0 = time.monotonic()
            await mta.send(batch)
            seconds = time.monotonic() - t0
            everything.extend(batch)
            rounds.append(
                {
                    "sent": len(everything),
                    "seconds": round(seconds, 1),
                    "per_second": round(len(batch) / seconds, 1),
                    "rss_mb": round(r.proxy.rss() / 2**20, 1),
                }
            )
            print(rounds[-1], flush=True)
        total = time.monotonic() - started
        await asyncio.sleep(2)  # the last next-hop replies land
        books = await r.books("soak", everything)
        states = Counter(h.state for h in await quarantine_rows(r.proxy))
        kinds = Counter(letter.kind for letter in everything)
        return {
            "messages": args.messages,
            "mix": dict(kinds),
            "workers": args.workers,
            "scan_processes": args.scan_processes,
            "sessions": args.sessions,
            "seconds": round(total, 1),
            "per_second": round(len(everything) / total, 1),
            "attempts": mta.attempts,
            "rounds": rounds,
            "books": {c: getattr(books, c) for c in Books.COLUMNS},
            "lost_ids": books.lost_ids,
            "quarantine": dict(states),
            "notices_at_next_hop": r.sink.notices,
            "accounted": books.delivered + books.held + books.rejected == books.sent,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--round", type=int, default=1000)
    parser.add_argument("--mix", default="0.8,0.15,0.05", help="clean,held,blocked")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scan-processes", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dlp-soak-") as tmp:
        result = asyncio.run(soak(args, Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    b = result["books"]
    assert isinstance(b, dict)
    print(
        f"\n{result['messages']} messages, mix {result['mix']}, {result['workers']} workers, "
        f"{result['sessions']} sessions: {result['seconds']} s, {result['per_second']} msg/s"
    )
    print("\n| " + " | ".join(Books.COLUMNS) + " |\n|" + "---|" * len(Books.COLUMNS))
    print("| " + " | ".join(str(b[c]) for c in Books.COLUMNS) + " |")
    print(
        f"\nquarantine rows: {result['quarantine']}; notices at the next hop: "
        f"{result['notices_at_next_hop']}; accounted: {result['accounted']}"
    )
    rounds = result["rounds"]
    assert isinstance(rounds, list)
    print("\n| sent | seconds | msg/s | RSS MB |\n|---|---|---|---|")
    for row in rounds:
        print(f"| {row['sent']} | {row['seconds']} | {row['per_second']} | {row['rss_mb']} |")
    if b["lost"] or not result["accounted"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
