"""Inspection cost of this tree against an older one, in the same run: a plain 10 KB message
through the scanner's whole job (evaluate), and a 50,000-row xlsx through inspect_file.

    git archive 3a8a954 dlp_proxy policies | tar -x -C /tmp/before
    .venv/bin/python bench/inspect_versions.py --before /tmp/before --repeat 7

Each measurement runs in a fresh process with the tree first on sys.path; the two trees
alternate, and the medians of CPU time per operation are compared (now / before).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

WORKLOADS = {"plain-10k": 3000, "xlsx-50k": 3}


def child(tree: str, workload: str, path: str, count: int) -> None:
    """Time ``count`` operations in this process with ``tree`` imported; print JSON."""
    sys.path.insert(0, tree)
    from dlp_proxy.envelope import Client, Envelope  # noqa: PLC0415
    from dlp_proxy.inspect import inspect_file  # noqa: PLC0415
    from dlp_proxy.policy.load import load_policy  # noqa: PLC0415
    from dlp_proxy.scanner import evaluate  # noqa: PLC0415

    data = Path(path).read_bytes()
    if workload == "plain-10k":
        policy = load_policy(Path(tree) / "policies").policy
        envelope = Envelope("bench", "sender@corp.example", ("to@outside.example",), Client("::1"))

        def operation() -> int:
            return len(evaluate(data, envelope, policy).inspection.attachments)
    else:

        def operation() -> int:
            return sum(a.personal_rows for a in inspect_file(data, "list.xlsx"))

    result = operation()  # warm imports and caches
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        operation()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"cpu": cpu / count, "wall": wall / count, "result": result}))


def run(tree: Path, workload: str, path: Path, count: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(tree), workload, str(path), str(count)],
        check=True, capture_output=True, text=True, cwd=tempfile.gettempdir(),
    ).stdout  # fmt: skip
    return json.loads(output)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="an older tree: dlp_proxy/ and policies/")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree, workload, path, count = args.child
        child(tree, workload, path, int(count))
        return
    if args.before is None:
        parser.error("--before is required")
    import relay  # noqa: PLC0415
    import scan_xlsx  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        files = {"plain-10k": Path(scratch) / "plain.eml", "xlsx-50k": Path(scratch) / "list.xlsx"}
        files["plain-10k"].write_bytes(relay.message_bytes(10240)[: -len(b".\r\n")])
        scan_xlsx.build(50_000, files["xlsx-50k"])
        trees = {"before": args.before.resolve(), "now": ROOT}
        print("| workload | tree | CPU ms/op (median) | wall ms/op | result | runs (CPU ms) |")
        print("|---|---|---:|---:|---:|---|")
        for workload, count in WORKLOADS.items():
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    samples[name].append(run(tree, workload, files[workload], count))
            medians = {}
            for name, runs in samples.items():
                cpu = statistics.median(r["cpu"] for r in runs) * 1000
                wall = statistics.median(r["wall"] for r in runs) * 1000
                medians[name] = cpu
                each = ", ".join(f"{r['cpu'] * 1000:.3f}" for r in runs)
                print(
                    f"| {workload} | {name} | {cpu:.3f} | {wall:.3f} | "
                    f"{runs[0]['result']:g} | {each} |"
                )
            ratio = medians["now"] / medians["before"]
            print(f"| {workload} | **now / before** | **{ratio:.3f}** | | | |")


if __name__ == "__main__":
    main()
