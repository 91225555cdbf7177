"""Quarantine benchmark: how long hold() takes before the SMTP side may answer 250.

For each message size, in one run and interleaved over repetitions, it times:

- baseline: outbox.write_durably() of the same bytes (a file written and fsync'd, the
  development next hop's durable write) in a thread, as the proxy does;
- sqlite: Quarantine.hold() on SQLite in a temporary directory (WAL, synchronous=FULL);
- postgresql: Quarantine.hold() on the local PostgreSQL (a fresh schema, dropped after),
  when one answers.

Each is measured one at a time (latency: median and p95 per hold) and with CONCURRENCY holds
in flight (throughput: holds/s). Medians over the repetitions are printed as a Markdown table
with ratios to the baseline; raw figures go to bench/results/quarantine-*.json.
Run: ``.venv/bin/python bench/quarantine.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlp_proxy.outbox import write_durably  # noqa: E402
from dlp_proxy.quarantine import NewHold, Quarantine  # noqa: E402
from dlp_proxy.quarantine.database import create_engine, sqlite_url  # noqa: E402

POSTGRES = os.environ.get("DLP_PROXY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

Hold = Callable[[str, bytes], Awaitable[None]]


def new_hold(id: str, content: bytes) -> NewHold:
    return NewHold(
        id=id,
        sender="sales@dealer.example.jp",
        recipients=tuple(f"c{i}@customer.example.com" for i in range(5)),
        mail_options=(),
        client={"addr": "127.0.0.1"},
        subject="顧客リスト",
        summary={"decision": {"action": "hold", "rules": [{"name": "r", "actions": ["hold"]}]}},
        policy_version="bench",
        approvers=("manager@dealer.example.jp",),
        expires_at=datetime.now(UTC) + timedelta(hours=72),
        content=content,
    )


async def measure(hold: Hold, size: int, count: int, concurrency: int) -> dict[str, float]:
    content = os.urandom(size)
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        await hold(uuid.uuid4().hex, content)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    ids = iter(uuid.uuid4().hex for _ in range(count))

    async def worker() -> None:
        for id in ids:
            await hold(id, content)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "holds_per_s": count / elapsed,
    }


async def postgres_schema() -> str | None:
    engine = create_engine(POSTGRES, timeout=3)
    schema = f"qbench_{uuid.uuid4().hex[:8]}"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"postgresql skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    finally:
        await engine.dispose()
    return schema


async def drop_schema(schema: str) -> None:
    engine = create_engine(POSTGRES, timeout=3)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    key = os.urandom(32)
    results: dict[str, dict[int, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        outbox = directory / "outbox"
        outbox.mkdir()
        stores = {"sqlite": await Quarantine.open(sqlite_url(directory / "q.db"), key=key)}
        schema = await postgres_schema()
        if schema:
            stores["postgresql"] = await Quarantine.open(POSTGRES, key=key, schema=schema)

        async def baseline(id: str, content: bytes) -> None:
            await asyncio.to_thread(write_durably, outbox / f"{id}.eml", content)

        holds: dict[str, Hold] = {"baseline": baseline}
        for name, store in stores.items():

            async def hold(id: str, content: bytes, store: Quarantine = store) -> None:
                await store.hold(new_hold(id, content))

            holds[name] = hold
        try:
            for _ in range(args.repeat):
                for size in args.sizes:
                    for name, hold_one in holds.items():
                        figures = await measure(hold_one, size, args.count, args.concurrency)
                        results.setdefault(name, {}).setdefault(size, []).append(figures)
        finally:
            for store in stores.values():
                await store.close()
            if schema:
                await drop_schema(schema)
    report(results, args)


def report(results: dict[str, dict[int, list[dict[str, float]]]], args: argparse.Namespace) -> None:
    def median(name: str, size: int, key: str) -> float:
        return statistics.median(r[key] for r in results[name][size])

    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores;"
        f" {args.count} holds x {args.repeat} runs; concurrency {args.concurrency}; dir {args.dir}"
    )
    print(
        "| store | size | median ms | p95 ms | holds/s | median vs baseline | holds/s vs baseline |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        base_latency = median("baseline", size, "median_ms")
        base_rate = median("baseline", size, "holds_per_s")
        for name in results:
            latency = median(name, size, "median_ms")
            rate = median(name, size, "holds_per_s")
            print(
                f"| {name} | {size // 1024} KiB | {latency:.2f} | "
                f"{median(name, size, 'p95_ms'):.2f} | {rate:.0f} | "
                f"{latency / base_latency:.2f}x | {rate / base_rate:.2f}x |"
            )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"quarantine-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2, default=str))
    print(f"raw figures: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="holds per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--concurrency", type=int, default=8, help="holds in flight")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[20 * 1024, 1024 * 1024], help="message bytes"
    )
    parser.add_argument("--dir", default=None, help="where SQLite and the outbox live [/tmp]")
    asyncio.run(main(parser.parse_args()))
