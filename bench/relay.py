"""Relay benchmark (issue 2): smtp-source -> server -> smtp-sink, dlp-proxy vs a minimal forwarder.

In one run this starts Postfix's smtp-sink on a free port, then, for each repetition, message
size and server configuration (interleaved, so machine noise hits all of them), it starts the
server under test, warms it up, and measures:

- throughput: wall time of ``smtp-source -s SESSIONS -m COUNT -l SIZE`` (random text of SIZE
  bytes) or ``-F FILE`` (``xlsx:SIZE``: a real message with a customer-list xlsx of about SIZE
  bytes attached in base64, from bench/spreadsheet_mail.py) -> messages/s;
- latency: a small asyncio client drives SESSIONS concurrent sessions and times every
  transaction from MAIL to the reply after the final dot (same client for every server);
- peak RSS: the server's whole process tree (pid and all descendants, RSS summed) sampled
  from /proc every 50 ms, maximum over the measurement;
- CPU: user+system seconds of that tree during the throughput phase, per message.

Medians over the repetitions are printed as a Markdown table with ratios to the baseline
measured in the same run; every raw figure goes to bench/results/relay-*.json.
Run: ``make bench`` or ``.venv/bin/python bench/relay.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import spreadsheet_mail
import tools as postfix_tools

from tests import proctree

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HELO = "bench.local"
SENDER = "sender@bench.local"
RECIPIENT = "rcpt@example.com"


# --- process tree accounting -------------------------------------------------------------


tree = proctree.tree
tree_rss = proctree.rss
tree_cpu = proctree.cpu


class PeakRss:
    """Samples the summed RSS of a process tree in a thread; ``peak`` is the maximum seen."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = tree(self.root)
        rounds = 0
        while not self._stop.is_set():
            if rounds % 10 == 0:  # the tree changes rarely; rescanning /proc costs more
                pids = tree(self.root)
            self.peak = max(self.peak, tree_rss(pids))
            rounds += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(tree(self.root)))


# --- servers ---------------------------------------------------------------------------


def free_port() -> int:
    """For smtp-sink only, which cannot report the port it bound; the servers use port 0."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_smtp(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(512).startswith(b"220"):
                    sock.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers SMTP on port {port}")
        time.sleep(0.05)


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path


def stop(process: subprocess.Popen[bytes], timeout: float = 45) -> None:
    """SIGTERM the process we started, then its process group if it does not go in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  pid {process.pid} did not stop; killing its group", file=sys.stderr)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Stragglers (a scanner of a dead worker) would skew the next measurement.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 0)
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Config:
    name: str
    workers: int | None  # None: the baseline forwarder
    source: Path | None = None  # run dlp_proxy from this directory instead of the installed one

    def expected_listeners(self) -> int:
        return 1 if self.workers is None else (self.workers or os.cpu_count() or 1)

    def start(self, sink_port: int, workdir: Path) -> Running:
        log = workdir / f"{self.name.replace(' ', '_').replace('/', '_')}.log"
        if self.workers is None:
            argv = [sys.executable, str(ROOT / "bench/baseline_forwarder.py"), "0", str(sink_port)]
        else:
            argv = [
                sys.executable,
                "-m",
                "dlp_proxy",
                "serve",
                "--listen=127.0.0.1:0",
                f"--next-hop=127.0.0.1:{sink_port}",
                f"--workers={self.workers}",
                "--hostname=dlp.bench",
                f"--data-dir={workdir / 'var'}",
                f"--policy-dir={workdir / 'policies'}",
                "--log-level=INFO",
            ]
        env = dict(os.environ)
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            port = self._listening(log)
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(f"{self.name} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        wait_for_smtp(port, deadline)
        return Running(self.name, process, port, log)

    def _listening(self, log: Path) -> int | None:
        """The port once every expected process said it listens, else None."""
        ports = []
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("listening on "):
                ports.append(int(line.rsplit(":", 1)[1]))
            elif line.startswith("{"):
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("event") == "listening":
                        ports.append(int(record["address"].rsplit(":", 1)[1]))
        if len(ports) >= self.expected_listeners():
            return ports[0]
        return None


def bench_policies(workdir: Path, source: Path | None) -> Path:
    """The shipped policy (or ``source``), made a dry run by a last file with ``mode: monitor``.

    Every rule is still evaluated and logged, but the measured path is always the pass path
    (until the detect branch is merged, a plain-text body is "unscannable" and the shipped
    policy holds such mail to external recipients).
    """
    target = workdir / "policies"
    target.mkdir()
    for path in sorted((source or ROOT / "policies").glob("*.yaml")):
        shutil.copy(path, target / path.name)
    if source is None:
        (target / "zz-bench-monitor.yaml").write_text("mode: monitor\n")
    return target


def proxy_log_summary(log: Path) -> dict[str, int]:
    """Count dlp-proxy's per-message log lines by reply code, and any error lines."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("event") == "message":
            key = f"reply_{record.get('reply')}"
            counts[key] = counts.get(key, 0) + 1
        elif record.get("level") in ("warning", "error", "critical"):
            counts["log_" + record["level"]] = counts.get("log_" + record["level"], 0) + 1
    return counts


# --- load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """Random text of ``length`` bytes (smtp-source -l), or a whole message file (-F)."""

    label: str
    length: int
    file: Path | None = None

    @classmethod
    def parse(cls, text: str) -> Payload:
        kind, _, size = text.rpartition(":")
        length = spreadsheet_mail.parse_size(size)
        if not kind:
            return cls(sizes_label(length), length)
        if kind not in ("xlsx", "csv"):
            raise SystemExit(f"unknown payload {text!r} (SIZE, xlsx:SIZE or csv:SIZE)")
        file = spreadsheet_mail.spreadsheet_mail(length, as_csv=kind == "csv")
        return cls(f"{sizes_label(length)} {kind}", length, file)

    @property
    def large(self) -> bool:
        return self.length >= 1 << 20

    def source_args(self) -> list[str]:
        if self.file:
            return ["-F", str(spreadsheet_mail.for_smtp_source(self.file))]
        return ["-l", str(self.length)]

    def data(self) -> bytes:
        if self.file:
            return spreadsheet_mail.data_of(self.file.read_bytes())
        return message_bytes(self.length)


def smtp_source(
    tools: postfix_tools.Tools, port: int, *, count: int, sessions: int, size: Payload, reuse: bool
) -> float:
    """Run smtp-source; returns wall seconds. Any non-2xx reply makes it (and us) fail."""
    argv = [
        str(tools.source),
        "-s",
        str(sessions),
        "-m",
        str(count),
        *size.source_args(),
        "-M",
        HELO,
        "-f",
        SENDER,
        "-t",
        RECIPIENT,
    ]
    if reuse:
        argv.append("-d")
    argv.append(f"127.0.0.1:{port}")
    started = time.perf_counter()
    result = subprocess.run(
        argv, check=False, env=tools.env, capture_output=True, text=True, timeout=900
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({result.returncode}): {result.stderr[-1000:]}")
    return seconds


def message_bytes(size: int) -> bytes:
    """Headers plus ``size`` bytes of 80-byte lines, like smtp-source's; ready for DATA."""
    head = (
        f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: latency probe\r\n"
        f"Message-Id: <probe@{HELO}>\r\n\r\n"
    ).encode()
    line = b"X" * 78 + b"\r\n"
    body = line * (size // len(line)) + b"X" * max(0, size % len(line) - 2) + b"\r\n"
    return head + body + b".\r\n"


async def _reply(reader: asyncio.StreamReader, expected: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            break
    if not line.startswith(expected):
        raise RuntimeError(f"expected {expected.decode()}, got {line!r}")


async def _latency_session(
    port: int, data: bytes, remaining: list[int], times: list[float], reuse: bool
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    mail = f"MAIL FROM:<{SENDER}>\r\n".encode()
    rcpt = f"RCPT TO:<{RECIPIENT}>\r\n".encode()
    try:
        while remaining[0] > 0:
            remaining[0] -= 1
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
                await _reply(reader, b"220")
                writer.write(f"EHLO {HELO}\r\n".encode())
                await _reply(reader, b"250")
            assert reader is not None
            started = time.perf_counter()
            writer.write(mail)
            await _reply(reader, b"250")
            writer.write(rcpt)
            await _reply(reader, b"250")
            writer.write(b"DATA\r\n")
            await _reply(reader, b"354")
            writer.write(data)
            await _reply(reader, b"250")
            times.append(time.perf_counter() - started)
            if not reuse:
                writer.write(b"QUIT\r\n")
                await _reply(reader, b"221")
                writer.close()
                await writer.wait_closed()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _latency(
    port: int, *, count: int, sessions: int, size: Payload, reuse: bool
) -> list[float]:
    data = size.data()
    remaining = [count]
    times: list[float] = []
    async with asyncio.timeout(900):
        await asyncio.gather(
            *(_latency_session(port, data, remaining, times, reuse) for _ in range(sessions))
        )
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


# --- the run ---------------------------------------------------------------------------


@dataclass
class Sample:
    config: str
    size: str
    repetition: int
    messages: int
    seconds: float
    rate: float
    cpu_ms_per_message: float
    latency_messages: int
    p50_ms: float
    p99_ms: float
    latency_rate: float
    peak_rss_mib: float
    loadavg_before: float
    proxy_log: dict[str, int] = field(default_factory=dict)


def measure(
    config: Config,
    tools: postfix_tools.Tools,
    sink_port: int,
    workdir: Path,
    *,
    size: Payload,
    count: int,
    latency_count: int,
    sessions: int,
    reuse: bool,
    repetition: int,
) -> Sample:
    loadavg = float(Path("/proc/loadavg").read_text().split()[0])
    running = config.start(sink_port, workdir)
    try:
        with PeakRss(running.process.pid) as rss:
            smtp_source(
                tools, running.port, count=2 * sessions, sessions=sessions, size=size, reuse=reuse
            )  # warm-up: imports, pools, scanner processes
            cpu_before = tree_cpu(running.process.pid)
            seconds = smtp_source(
                tools, running.port, count=count, sessions=sessions, size=size, reuse=reuse
            )
            cpu = tree_cpu(running.process.pid) - cpu_before
            started = time.perf_counter()
            times = asyncio.run(
                _latency(
                    running.port, count=latency_count, sessions=sessions, size=size, reuse=reuse
                )
            )
            latency_seconds = time.perf_counter() - started
    finally:
        stop(running.process)
    summary = proxy_log_summary(running.log) if config.workers is not None else {}
    tag = size.label.replace(" ", "_")
    running.log.rename(running.log.with_name(f"{running.log.stem}-{tag}-{repetition}.log"))
    return Sample(
        config=config.name,
        size=size.label,
        repetition=repetition,
        messages=count,
        seconds=seconds,
        rate=count / seconds,
        cpu_ms_per_message=1000 * cpu / count,
        latency_messages=len(times),
        p50_ms=1000 * percentile(times, 0.50),
        p99_ms=1000 * percentile(times, 0.99),
        latency_rate=len(times) / latency_seconds,
        peak_rss_mib=rss.peak / (1 << 20),
        loadavg_before=loadavg,
        proxy_log=summary,
    )


def parse_configs(text: str) -> list[Config]:
    configs = []
    for raw in text.split(","):
        item = raw.strip()
        if item == "baseline":
            configs.append(Config("baseline", None))
        elif item.startswith("workers="):
            count, _, source = item.removeprefix("workers=").partition("@")
            workers = int(count)
            if not source:
                label = f"0 (= {os.cpu_count()})" if workers == 0 else str(workers)
                configs.append(Config(f"dlp-proxy --workers {label}", workers))
                continue
            tree = Path(source).resolve()
            if not (tree / "dlp_proxy" / "__init__.py").exists():
                raise SystemExit(f"{item!r}: no dlp_proxy package in {tree}")
            configs.append(Config(f"dlp-proxy@{tree.name} --workers {workers}", workers, tree))
        else:
            raise SystemExit(
                f"unknown configuration {item!r} (baseline, workers=N or workers=N@SOURCE_DIR)"
            )
    return configs


def sizes_label(size: int) -> str:
    return f"{size >> 20} MB" if size >= 1 << 20 else f"{size >> 10} KB"


def rotations(configs: list[Config], repetition: int) -> list[Config]:
    shift = repetition % len(configs)
    return configs[shift:] + configs[:shift]


def table(samples: list[Sample], configs: list[Config], sizes: list[Payload]) -> str:
    """Medians per size and server; "× base" for msg/s is the median of the ratios to the
    baseline run of the same repetition (paired, so slow drifts in machine load cancel)."""
    lines = [
        "| size | server | msg/s | × base | CPU ms/msg | p50 ms | p99 ms | "
        "p50 × base | peak RSS MiB | msg/s per run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in sizes:
        mine = {
            c.name: sorted(
                (s for s in samples if s.config == c.name and s.size == size.label),
                key=lambda s: s.repetition,
            )
            for c in configs
        }
        base = {s.repetition: s for s in mine.get("baseline", [])}
        base_p50 = statistics.median(s.p50_ms for s in base.values()) if base else 0.0
        for name, runs in mine.items():
            if not runs:
                continue

            def med(key: str, runs: list[Sample] = runs) -> float:
                return statistics.median(getattr(s, key) for s in runs)

            paired = [s.rate / base[s.repetition].rate for s in runs if s.repetition in base]
            ratio = f"{statistics.median(paired):.2f}" if paired else "–"
            p50_ratio = f"{med('p50_ms') / base_p50:.2f}" if base_p50 else "–"
            lines.append(
                f"| {size.label} | {name} | {med('rate'):.0f} | {ratio} | "
                f"{med('cpu_ms_per_message'):.2f} | {med('p50_ms'):.1f} | {med('p99_ms'):.1f} | "
                f"{p50_ratio} | {med('peak_rss_mib'):.0f} | "
                + ", ".join(f"{s.rate:.0f}" for s in runs)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions [3]")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions [20]")
    parser.add_argument("--small", type=int, default=2000, help="10 KB messages per run [2000]")
    parser.add_argument("--large", type=int, default=200, help="1 MB messages per run [200]")
    parser.add_argument(
        "--latency-fraction",
        type=float,
        default=0.5,
        help="latency-client messages as a fraction of the smtp-source count [0.5]",
    )
    parser.add_argument(
        "--configs",
        default="baseline,workers=1,workers=0",
        help="comma-separated: baseline, workers=N (0 = one per core), workers=N@DIR (dlp_proxy "
        "imported from DIR, e.g. a `git archive` of another commit) [%(default)s]",
    )
    parser.add_argument(
        "--sizes",
        default="10240,xlsx:1M",
        help="comma-separated payloads: SIZE (random text, smtp-source -l), xlsx:SIZE or "
        "csv:SIZE (a message with a customer list of about SIZE attached, smtp-source -F); "
        "SIZE in bytes or with K/M [%(default)s]",
    )
    parser.add_argument(
        "--policy-dir",
        type=Path,
        help="policy files for dlp-proxy, used as they are [the shipped ones in monitor mode]",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="several messages per connection (smtp-source -d); default: one per connection",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers and smtp-sink we started are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    tools = postfix_tools.ensure()
    configs = parse_configs(args.configs)
    sizes = [Payload.parse(s) for s in args.sizes.split(",")]
    counts = {size: args.large if size.large else args.small for size in sizes}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    machine = {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postfix_tools": tools.version(),
    }
    print(f"machine: {machine}")
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="dlp-bench-") as tmp, _sink(tools) as sink_port:
        workdir = Path(tmp)
        bench_policies(workdir, args.policy_dir)
        for repetition in range(args.repeat):
            for size in sizes:
                for config in rotations(configs, repetition):
                    sample = measure(
                        config,
                        tools,
                        sink_port,
                        workdir,
                        size=size,
                        count=counts[size],
                        latency_count=max(args.sessions, int(counts[size] * args.latency_fraction)),
                        sessions=args.sessions,
                        reuse=args.reuse,
                        repetition=repetition,
                    )
                    samples.append(sample)
                    print(
                        f"rep {repetition} {size.label:>7} {config.name:<22} "
                        f"{sample.rate:7.1f} msg/s  cpu {sample.cpu_ms_per_message:5.2f} ms/msg  "
                        f"p50 {sample.p50_ms:7.1f} ms  p99 {sample.p99_ms:7.1f} ms  "
                        f"rss {sample.peak_rss_mib:6.0f} MiB  load {sample.loadavg_before:.2f}  "
                        f"{sample.proxy_log or ''}",
                        flush=True,
                    )
    out = RESULTS / f"relay-{stamp}.json"
    out.write_text(
        json.dumps(
            {"machine": machine, "args": vars(args), "samples": [asdict(s) for s in samples]},
            indent=1,
        )
    )
    mode = "one message per connection" if not args.reuse else "messages reuse connections"
    print(
        f"\n{args.sessions} sessions, {mode}; medians of {args.repeat} runs; "
        f"raw figures in {out.relative_to(ROOT)}\n"
    )
    print(table(samples, configs, sizes))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


@contextlib.contextmanager
def _sink(tools: postfix_tools.Tools) -> Iterator[int]:
    port = free_port()
    argv = [str(tools.sink), "-m", "1024"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without it
    argv += [f"127.0.0.1:{port}", "1024"]
    process = subprocess.Popen(argv, env=tools.env, start_new_session=True)
    try:
        wait_for_smtp(port, time.monotonic() + 10)
        yield port
    finally:
        stop(process, timeout=5)


if __name__ == "__main__":
    main()
