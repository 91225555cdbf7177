"""Prometheus metrics: counted where things happen, exposed by the web server of worker 0."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

MESSAGES = Counter(
    "dlp_messages", "Messages handled, by decision and SMTP reply class", ["decision", "reply"]
)
RULES = Counter("dlp_rule_matches", "Rules that matched (enforced or monitored)", ["rule"])
MESSAGE_SECONDS = Histogram(
    "dlp_message_seconds", "From the end of DATA to the reply", buckets=_SECONDS
)
SCAN_SECONDS = Histogram(
    "dlp_scan_seconds", "Inspection and decision in a scanner process", buckets=_SECONDS
)
NEXT_HOP_ERRORS = Counter(
    "dlp_next_hop_errors",
    "Next-hop failures: unavailable, deferred (4xx), rejected (5xx)",
    ["kind"],
)
POLICY_RELOADS = Counter("dlp_policy_reloads", "Policy reloads, by result", ["result"])
RELEASES = Counter("dlp_releases", "Releases of approved held mail, by result", ["result"])
NOTICES = Counter("dlp_notices", "Notices, by kind and result", ["kind", "result"])


def prepare_multiprocess(directory: Path) -> None:
    """Before worker processes start: they will share counters through files here."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


def exposition(queue: Mapping[str, int] | None) -> bytes:
    """Every counter of this node (all workers when there are several) and the queue sizes."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if queue is not None:
        current = CollectorRegistry()
        gauge = Gauge(
            "dlp_quarantine_messages",
            "Messages in the quarantine, by state (shared by every node)",
            ["state"],
            registry=current,
        )
        for state, count in queue.items():
            gauge.labels(state).set(count)
        text += generate_latest(current)
    return text
