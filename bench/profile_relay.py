"""Profile one server of the relay benchmark under smtp-source load with py-spy.

Usage: profile_relay.py [--config workers=1|baseline] [--size 10240] [--count 3000]
Writes collapsed stacks (bench/results/profile-*.txt, one file for the whole process tree)
and prints the functions with the most samples, inclusive and by leaf.
Needs ``pip install py-spy`` in the venv; not part of the project's dependencies.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import relay
import tools as postfix_tools


def summarise(path: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue  # py-spy occasionally reads a torn frame name
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        leaf[frames[-1]] += count
    print(f"{total} samples\n-- inclusive --")
    for frame, count in inclusive.most_common(top):
        print(f"{100 * count / total:5.1f}%  {frame}")
    print("-- leaf --")
    for frame, count in leaf.most_common(top):
        print(f"{100 * count / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="workers=1")
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        raise SystemExit("py-spy is not installed in this venv: pip install py-spy")
    tools = postfix_tools.ensure()
    (config,) = relay.parse_configs(args.config)
    relay.RESULTS.mkdir(parents=True, exist_ok=True)
    out = relay.RESULTS / f"profile-{config.workers}-{args.size}-{time.strftime('%H%M%S')}.txt"
    with tempfile.TemporaryDirectory() as tmp, relay._sink(tools) as sink_port:
        relay.bench_policies(Path(tmp), None)
        running = config.start(sink_port, Path(tmp))
        try:
            relay.smtp_source(
                tools, running.port, count=100, sessions=args.sessions, size=args.size, reuse=False
            )
            recorder = subprocess.Popen(
                [
                    *(spy, "record", "--pid", str(running.process.pid), "--subprocesses"),
                    *("--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"),
                ]
            )
            time.sleep(1.5)
            seconds = relay.smtp_source(
                tools,
                running.port,
                count=args.count,
                sessions=args.sessions,
                size=args.size,
                reuse=False,
            )
            print(f"{args.count / seconds:.0f} msg/s while profiled")
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        finally:
            relay.stop(running.process)
    summarise(out, args.top)
    print(f"stacks: {out}")


if __name__ == "__main__":
    main()
