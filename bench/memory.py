"""Peak memory of dlp-proxy against the minimal forwarder: one 25 MB attachment, 50 sessions.

    .venv/bin/python bench/memory.py [--attachment 25M] [--csv] [--sessions 50]
                                     [--messages 1000] [--repeat 2]
                                     [--configs baseline,workers=1,workers=2]

For each repetition, scenario and server configuration (each started fresh, warmed up with 20
plain messages), the whole process tree (the server and all its descendants) is sampled every
50 ms from /proc: RSS summed, and PSS summed (smaps_rollup; shared pages such as the
forkserver's are divided among the processes sharing them, so PSS sums to what the tree
really costs). Reported: the idle figures after warm-up and the peak during the scenario.

Scenarios:
- ``big``: one message with a customer list of about 25 MB attached (xlsx by default, CSV
  with --csv; base64, so about 34 MB on the wire, under the 50 MiB size limit of both servers);
- ``sessions``: 50 concurrent SMTP sessions, each sending plain 10 KB messages over its
  connection until --messages have been sent.
dlp-proxy runs with the shipped policies in monitor mode, so the big message is scanned in
full and delivered. Raw figures go to bench/results/memory-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mixed
import relay
import spreadsheet_mail
import tools as postfix_tools

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def tree_pss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


class Peaks:
    """Peak summed RSS and PSS of a process tree, sampled in a thread."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.rss = 0
        self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = relay.tree(self.root)
        self.rss = max(self.rss, relay.tree_rss(pids))
        self.pss = max(self.pss, tree_pss(pids))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclass
class Sample:
    config: str
    scenario: str
    repetition: int
    idle_rss_mib: float
    idle_pss_mib: float
    peak_rss_mib: float
    peak_pss_mib: float
    seconds: float
    processes: int
    proxy_log: dict[str, int]


async def _sessions(port: int, data: bytes, *, sessions: int, messages: int) -> None:
    remaining = [messages]
    times: list[float] = []
    await asyncio.gather(
        *(relay._latency_session(port, data, remaining, times, True) for _ in range(sessions))
    )
    if len(times) != messages:
        raise RuntimeError(f"{len(times)} of {messages} messages sent")


def measure(
    config: relay.Config,
    scenario: str,
    repetition: int,
    sink_port: int,
    workdir: Path,
    args: argparse.Namespace,
    plain: bytes,
    big: bytes,
) -> Sample:
    running = config.start(sink_port, workdir)
    try:
        asyncio.run(_warm(running.port, plain))
        time.sleep(1)
        idle = Peaks(running.process.pid)
        idle.sample()
        started = time.perf_counter()
        with Peaks(running.process.pid) as peaks:
            if scenario == "big":
                asyncio.run(mixed.send(running.port, big))
            else:
                asyncio.run(
                    _sessions(running.port, plain, sessions=args.sessions, messages=args.messages)
                )
        seconds = time.perf_counter() - started
        processes = len(relay.tree(running.process.pid))
    finally:
        relay.stop(running.process)
    summary = relay.proxy_log_summary(running.log) if config.workers is not None else {}
    running.log.rename(running.log.with_name(f"{running.log.stem}-{scenario}-{repetition}.log"))
    return Sample(
        config.name,
        scenario,
        repetition,
        idle.rss / MIB,
        idle.pss / MIB,
        peaks.rss / MIB,
        peaks.pss / MIB,
        seconds,
        processes,
        summary,
    )


async def _warm(port: int, plain: bytes) -> None:
    await asyncio.gather(*(mixed.send(port, plain) for _ in range(20)))


def table(samples: list[Sample], configs: list[relay.Config], labels: dict[str, str]) -> str:
    lines = [
        "| scenario | server | idle RSS / PSS MiB | peak RSS MiB | peak PSS MiB | "
        "peak PSS × base | seconds | peak PSS per run |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for scenario, label in labels.items():
        base = [s for s in samples if s.scenario == scenario and s.config == "baseline"]
        base_pss = statistics.median(s.peak_pss_mib for s in base) if base else 0.0
        for config in configs:
            runs = [s for s in samples if s.scenario == scenario and s.config == config.name]
            if not runs:
                continue

            def med(key: str, runs: list[Sample] = runs) -> float:
                return statistics.median(getattr(s, key) for s in runs)

            ratio = f"{med('peak_pss_mib') / base_pss:.1f}" if base_pss else "–"
            lines.append(
                f"| {label} | {config.name} | {med('idle_rss_mib'):.0f} / "
                f"{med('idle_pss_mib'):.0f} | {med('peak_rss_mib'):.0f} | "
                f"{med('peak_pss_mib'):.0f} | {ratio} | {med('seconds'):.1f} | "
                + ", ".join(f"{s.peak_pss_mib:.0f}" for s in runs)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attachment", default="25M", help="size of the big attachment [25M]")
    parser.add_argument("--csv", action="store_true", help="a CSV customer list, not xlsx")
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions [50]")
    parser.add_argument("--messages", type=int, default=1000, help="plain messages [1000]")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions [2]")
    parser.add_argument("--configs", default="baseline,workers=1,workers=2")
    parser.add_argument("--policy-dir", type=Path, help="[the shipped ones in monitor mode]")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    tools = postfix_tools.ensure()
    configs = relay.parse_configs(args.configs)
    size = spreadsheet_mail.parse_size(args.attachment)
    big_file = spreadsheet_mail.spreadsheet_mail(size, as_csv=args.csv)
    big = spreadsheet_mail.data_of(big_file.read_bytes())
    plain = spreadsheet_mail.plain_mail(10240)
    kind = "CSV" if args.csv else "xlsx"
    attachment = big_file.parent / f"customers-{spreadsheet_mail.label(size)}.{kind.lower()}"
    labels = {
        "big": f"one message, {attachment.stat().st_size / MIB:.0f} MiB {kind} "
        f"({len(big) / MIB:.0f} MiB message)",
        "sessions": f"{args.sessions} sessions, {args.messages} × 10 KB",
    }
    print(labels, flush=True)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="dlp-memory-") as tmp, relay._sink(tools) as sink:
        workdir = Path(tmp)
        relay.bench_policies(workdir, args.policy_dir)
        for repetition in range(args.repeat):
            for scenario in labels:
                for config in relay.rotations(configs, repetition):
                    sample = measure(config, scenario, repetition, sink, workdir, args, plain, big)
                    samples.append(sample)
                    print(
                        f"rep {repetition} {scenario:<8} {config.name:<24} idle rss "
                        f"{sample.idle_rss_mib:5.0f} pss {sample.idle_pss_mib:5.0f}  peak rss "
                        f"{sample.peak_rss_mib:5.0f} pss {sample.peak_pss_mib:5.0f} MiB  "
                        f"{sample.seconds:5.1f} s  {sample.processes} processes  "
                        f"{sample.proxy_log or ''}",
                        flush=True,
                    )
    relay.RESULTS.mkdir(parents=True, exist_ok=True)
    out = relay.RESULTS / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                    "samples": [asdict(s) for s in samples]}, indent=1)
    )  # fmt: skip
    print(f"\nraw figures in {out.relative_to(ROOT)}\n")
    print(table(samples, configs, labels))


if __name__ == "__main__":
    main()
