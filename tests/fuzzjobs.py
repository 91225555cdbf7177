"""Scanner jobs for fuzzing and corpus replay: they run in the real scanner processes and
answer with a small summary, or with the traceback of anything that escaped."""

from __future__ import annotations

import io
import traceback
from dataclasses import dataclass

from dlp_proxy.envelope import Envelope
from dlp_proxy.inspect import DEFAULT_LIMITS, inspect_file
from dlp_proxy.inspect.detect import analyze
from dlp_proxy.inspect.model import Attachment, Unscannable
from dlp_proxy.inspect.tables import read_delimited, read_workbook
from dlp_proxy.policy.load import Policy
from dlp_proxy.scanner import evaluate

# Catch-alls in inspection that turn an exception nobody expected into "corrupt": a bug
# hidden behind a finding, so fuzzing counts them as failures.
CATCH_ALLS = ("unexpected ", "MIME structure unreadable")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one input came to: findings as (path, type, reason, detail), the action the
    policy took (messages), or ``raised``: the traceback of an exception that escaped."""

    findings: tuple[tuple[str, str, str | None, str | None], ...] = ()
    action: str | None = None
    raised: str | None = None

    @property
    def reasons(self) -> set[str | None]:
        return {reason for _, _, reason, _ in self.findings}

    @property
    def answer(self) -> str:
        """The class of answer: the worst unscannable reason, else ``ok``."""
        for reason in ("limit", "corrupt", "encrypted", "ambiguous", "unsupported", "image-only"):
            if reason in self.reasons:
                return reason
        return "ok"

    def problems(self) -> list[str]:
        """Why this is not a definite, expected answer; empty when it is."""
        if self.raised is not None:
            return [self.raised]
        return [
            f"{path}: {detail}"
            for path, _, _, detail in self.findings
            if detail and any(marker in detail for marker in CATCH_ALLS)
        ]


Finding = tuple[str, str, str | None, str | None]


def _summary(attachments: tuple[Attachment, ...]) -> tuple[Finding, ...]:
    return tuple((a.path, a.type, a.unscannable, a.detail) for a in attachments)


def message(raw: bytes, envelope: Envelope, policy: Policy) -> Outcome:
    """The scanner's own job, whole: inspection, recipients, decision, rewriting."""
    try:
        verdict = evaluate(raw, envelope, policy, limits=DEFAULT_LIMITS)
    except Exception:
        return Outcome(raised=traceback.format_exc())
    return Outcome(_summary(verdict.inspection.attachments), verdict.decision.action)


def file(raw: bytes, envelope: Envelope, policy: Policy, *, name: str) -> Outcome:
    """One file as an attachment named ``name``: archives opened, tables read."""
    try:
        return Outcome(_summary(inspect_file(raw, name)))
    except Exception:
        return Outcome(raised=traceback.format_exc())


def table(raw: bytes, envelope: Envelope, policy: Policy, *, delimited: bool) -> Outcome:
    """The table readers alone (guards, calamine, CSV): sheets or Unscannable, nothing else."""
    try:
        sheets = read_delimited(raw, name="t.csv") if delimited else read_workbook(raw)
        findings = analyze(sheets)
    except Unscannable as exc:
        return Outcome((("t", "table", exc.reason, exc.detail),))
    except Exception:
        return Outcome(raised=traceback.format_exc())
    return Outcome((("t", "table", None, f"{findings.personal_rows} personal rows"),))


def calamine_unguarded(raw: bytes, envelope: Envelope, policy: Policy) -> Outcome:
    """calamine without our guards: proves the harness reports an abort as a failure."""
    import python_calamine  # noqa: PLC0415 - only this job needs it

    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
    book.get_sheet_by_index(0).to_python()
    return Outcome()
