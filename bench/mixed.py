"""Mixed load: p99 latency of plain mail while 5% of messages carry a 5 MB customer spreadsheet.

    .venv/bin/python bench/mixed.py [--rate 20] [--seconds 45] [--repeat 2]
                                    [--configs baseline,workers=1,workers=2]

For each server configuration (started fresh, warmed up) an open-loop client sends messages
at a steady rate, one per connection, in two phases that alternate ``--repeat`` times on the
same server: *plain* (only 10 KB plain-text messages) and *mixed* (the same schedule, but
every ``--every``-th message, by default every 20th = 5%, is a message with an xlsx customer
list of about 5 MB attached in base64, from bench/spreadsheet_mail.py). A message's latency
runs from the moment the schedule says it is due (not when a connection was free, so a
server that falls behind is not hidden) to the 250 after its final dot. The figure of merit
is the p99 of the plain messages in the mixed phase divided by their p99 in the plain phase
(target: at most 2); the baseline forwarder gives the same ratio for the machine and client.
dlp-proxy runs with the shipped policies in monitor mode (every message is scanned and
delivered). Raw figures go to bench/results/mixed-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import relay
import spreadsheet_mail
import tools as postfix_tools

ROOT = Path(__file__).resolve().parents[1]
HELO = "bench.local"


async def _reply(reader: asyncio.StreamReader, expected: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            break
    if not line.startswith(expected):
        raise RuntimeError(f"expected {expected.decode()}, got {line!r}")


async def send(port: int, data: bytes) -> None:
    """One message on its own connection; raises unless every reply is the expected one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
    try:
        await _reply(reader, b"220")
        writer.write(f"EHLO {HELO}\r\n".encode())
        await _reply(reader, b"250")
        writer.write(f"MAIL FROM:<{spreadsheet_mail.SENDER}>\r\n".encode())
        await _reply(reader, b"250")
        writer.write(f"RCPT TO:<{spreadsheet_mail.RECIPIENT}>\r\n".encode())
        await _reply(reader, b"250")
        writer.write(b"DATA\r\n")
        await _reply(reader, b"354")
        writer.write(data)
        await _reply(reader, b"250")
        writer.write(b"QUIT\r\n")
        await _reply(reader, b"221")
    finally:
        writer.close()


@dataclass
class Phase:
    config: str
    kind: str  # "plain" or "mixed"
    repetition: int
    plain_ms: list[float] = field(default_factory=list)
    large_ms: list[float] = field(default_factory=list)
    late_start_ms: float = 0.0  # how far the client's own schedule slipped (should be ~0)
    client_lag_ms: float = 0.0  # the client's event loop: longest overshoot of a 10 ms sleep
    seconds: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    loadavg_before: float = 0.0
    wall: tuple[float, float] = (0.0, 0.0)  # epoch seconds: first due, last reply
    # dlp-proxy's own log lines for the plain messages of this phase: handle_DATA time (ms,
    # scanner wait + scan + next hop) and the scan itself (scan_ms), p50 and p99.
    server_ms: dict[str, float] = field(default_factory=dict)

    def p(self, fraction: float, large: bool = False) -> float:
        values = self.large_ms if large else self.plain_ms
        return relay.percentile(values, fraction) if values else float("nan")


async def run_phase(
    port: int, phase: Phase, *, rate: float, seconds: float, every: int, plain: bytes, large: bytes
) -> None:
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    start = loop.time() + 0.05
    tasks = []

    async def one(due: float, is_large: bool) -> None:
        await send(port, large if is_large else plain)
        (phase.large_ms if is_large else phase.plain_ms).append(1000 * (loop.time() - due))

    async def lag() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            phase.client_lag_ms = max(phase.client_lag_ms, 1000 * (loop.time() - before - 0.01))

    monitor = asyncio.create_task(lag())
    started = time.perf_counter()
    epoch = time.time()
    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        phase.late_start_ms = max(phase.late_start_ms, 1000 * (loop.time() - due))
        is_large = every > 0 and i % every == every - 1
        tasks.append(asyncio.create_task(one(due, is_large)))
    async with asyncio.timeout(600):
        await asyncio.gather(*tasks)
    monitor.cancel()
    phase.seconds = time.perf_counter() - started
    phase.wall = (epoch, epoch + phase.seconds)


def measure(
    config: relay.Config,
    sink_port: int,
    workdir: Path,
    args: argparse.Namespace,
    plain: bytes,
    large: bytes,
) -> list[Phase]:
    running = config.start(sink_port, workdir)
    phases: list[Phase] = []
    try:
        # Warm-up: imports, next-hop pool, scanner processes, one large scan.
        asyncio.run(_warm(running.port, plain, large))
        for repetition in range(args.repeat):
            for kind in ("plain", "mixed"):
                phase = Phase(config.name, kind, repetition)
                phase.loadavg_before = float(Path("/proc/loadavg").read_text().split()[0])
                cpu_before = relay.tree_cpu(running.process.pid)
                with relay.PeakRss(running.process.pid) as rss:
                    asyncio.run(
                        run_phase(
                            running.port,
                            phase,
                            rate=args.rate,
                            seconds=args.seconds,
                            every=args.every if kind == "mixed" else 0,
                            plain=plain,
                            large=large,
                        )
                    )
                phase.cpu_s = relay.tree_cpu(running.process.pid) - cpu_before
                phase.peak_rss_mib = rss.peak / (1 << 20)
                phases.append(phase)
                print(
                    f"{config.name:<24} rep {repetition} {kind:<5}  plain p50 "
                    f"{phase.p(0.5):7.1f} p99 {phase.p(0.99):7.1f} max {max(phase.plain_ms):7.1f}"
                    f"  large p50 {phase.p(0.5, True):7.1f} ms  n={len(phase.plain_ms)}"
                    f"+{len(phase.large_ms)}  cpu {phase.cpu_s:.1f}s"
                    f"  rss {phase.peak_rss_mib:.0f} MiB  load {phase.loadavg_before:.2f}"
                    f"  client lag {phase.client_lag_ms:.0f} ms",
                    flush=True,
                )
    finally:
        relay.stop(running.process)
    if config.workers is not None:
        print(f"  log: {relay.proxy_log_summary(running.log)}", flush=True)
        server_side(running.log, phases)
        for phase in phases:
            print(f"  rep {phase.repetition} {phase.kind:<5} server side: {phase.server_ms}")
    running.log.rename(running.log.with_name(running.log.stem + "-mixed.log"))
    return phases


def server_side(log: Path, phases: list[Phase]) -> None:
    """Fill each phase's ``server_ms`` from dlp-proxy's message log lines (plain mail only)."""
    records = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event": "message"' in line:
            record = json.loads(line)
            if record.get("size", 0) < 1 << 20:
                when = datetime.fromisoformat(record["ts"]).timestamp()
                records.append((when, record.get("ms", 0.0), record.get("scan_ms", 0.0)))
    for phase in phases:
        mine = [r for r in records if phase.wall[0] <= r[0] <= phase.wall[1] + 1]
        if mine:
            for index, key in ((1, "ms"), (2, "scan_ms")):
                values = [r[index] for r in mine]
                phase.server_ms[f"{key}_p50"] = relay.percentile(values, 0.5)
                phase.server_ms[f"{key}_p99"] = relay.percentile(values, 0.99)


async def _warm(port: int, plain: bytes, large: bytes) -> None:
    await asyncio.gather(*(send(port, plain) for _ in range(20)))
    await asyncio.gather(send(port, large), send(port, large))


def table(phases: list[Phase], configs: list[relay.Config]) -> str:
    lines = [
        "| server | plain p50 ms (alone / mixed) | plain p99 ms (alone / mixed) | "
        "p99 ratio mixed/alone | 5 MB p50 / p99 ms | CPU s per phase (alone / mixed) | "
        "peak RSS MiB (mixed) | p99 ratio per repetition |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for config in configs:
        mine = [p for p in phases if p.config == config.name]
        alone = [p for p in mine if p.kind == "plain"]
        mixed = [p for p in mine if p.kind == "mixed"]
        if not alone or not mixed:
            continue
        pooled = {
            kind: [ms for p in group for ms in p.plain_ms]
            for kind, group in (("plain", alone), ("mixed", mixed))
        }
        large = [ms for p in mixed for ms in p.large_ms]
        per_rep = [m.p(0.99) / a.p(0.99) for a, m in zip(alone, mixed, strict=True)]

        def pc(values: list[float], fraction: float) -> float:
            return relay.percentile(values, fraction)

        ratio = pc(pooled["mixed"], 0.99) / pc(pooled["plain"], 0.99)
        lines.append(
            f"| {config.name} | {pc(pooled['plain'], 0.5):.1f} / {pc(pooled['mixed'], 0.5):.1f} | "
            f"{pc(pooled['plain'], 0.99):.1f} / {pc(pooled['mixed'], 0.99):.1f} | "
            f"**{ratio:.2f}** | {pc(large, 0.5):.0f} / {pc(large, 0.99):.0f} | "
            f"{statistics.median(p.cpu_s for p in alone):.1f} / "
            f"{statistics.median(p.cpu_s for p in mixed):.1f} | "
            f"{max(p.peak_rss_mib for p in mixed):.0f} | "
            + ", ".join(f"{r:.2f}" for r in per_rep)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20, help="messages per second [20]")
    parser.add_argument("--seconds", type=float, default=45, help="length of a phase [45]")
    parser.add_argument("--repeat", type=int, default=2, help="plain/mixed phase pairs [2]")
    parser.add_argument("--every", type=int, default=20, help="every Nth is large [20 = 5%%]")
    parser.add_argument("--plain-size", default="10K", help="plain message body [10K]")
    parser.add_argument("--large-size", default="5M", help="attachment of the large ones [5M]")
    parser.add_argument("--configs", default="baseline,workers=1", help="as relay.py's")
    parser.add_argument("--policy-dir", type=Path, help="[the shipped ones in monitor mode]")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    tools = postfix_tools.ensure()
    configs = relay.parse_configs(args.configs)
    plain = spreadsheet_mail.plain_mail(spreadsheet_mail.parse_size(args.plain_size))
    large_file = spreadsheet_mail.spreadsheet_mail(spreadsheet_mail.parse_size(args.large_size))
    large = spreadsheet_mail.data_of(large_file.read_bytes())
    print(
        f"plain {len(plain):,} bytes; large {len(large):,} bytes ({large_file.name}); "
        f"{args.rate:g} msg/s, every {args.every}th large, {args.seconds:g} s per phase",
        flush=True,
    )
    phases: list[Phase] = []
    with (
        tempfile.TemporaryDirectory(prefix="dlp-mixed-") as tmp,
        relay._sink(tools) as sink_port,
    ):
        workdir = Path(tmp)
        relay.bench_policies(workdir, args.policy_dir)
        for config in configs:
            phases += measure(config, sink_port, workdir, args, plain, large)
    relay.RESULTS.mkdir(parents=True, exist_ok=True)
    out = relay.RESULTS / f"mixed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()},
             "phases": [asdict(p) for p in phases]},
        )
    )  # fmt: skip
    print(f"\nraw figures in {out.relative_to(ROOT)}\n")
    print(table(phases, configs))


if __name__ == "__main__":
    main()
