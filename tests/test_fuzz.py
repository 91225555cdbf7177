"""Property-based fuzzing of message inspection, archive unpacking and table reading.

Every input runs in a real scanner process (an abort or hang there fails the example instead
of killing pytest) and must get a definite answer: findings, possibly unscannable, never an
escaped exception or a catch-all hiding one, within the deadline and the memory bound. And
the completeness property (docs/inspection.md): for mutations of real files, every file is
read, not applicable, or unscannable with a known reason and a detail; never unread and
reason-free, never left to the rule's backstop (``fuzzjobs.Outcome.unread``).
Profiles: DLP_FUZZ_PROFILE=ci (default, derandomized) or long; DLP_FUZZ_EXAMPLES=N.
See docs/hostile-input.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given

from dlp_proxy.inspect.model import UNSCANNABLE_REASONS
from tests import fuzzing, fuzzjobs
from tests.corpus import hostile
from tests.fuzzing import FUZZ, Case, Harness


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    running = Harness()
    yield running
    for target, counts in sorted(running.answers.items()):
        print(f"\nfuzz {target}: {sum(counts.values())} examples, {dict(sorted(counts.items()))}")
    print(f"fuzz scanner peak RSS: {running.peak_rss / 2**20:.0f} MiB")
    running.close()


def check(harness: Harness, outcome: fuzzjobs.Outcome, case: Case) -> None:
    problems = outcome.problems()
    assert not problems, f"{case!r} ({len(case.data)} bytes):\n" + "\n".join(problems)
    assert outcome.reasons <= {None, *UNSCANNABLE_REASONS}
    assert all(detail for _, _, reason, detail in outcome.findings if reason)
    assert harness.peak_rss < fuzzing.PEAK_RSS_BOUND, f"scanner peaked at {harness.peak_rss}"


@FUZZ
@given(case=fuzzing.cases("message"))
def test_messages(harness: Harness, case: Case) -> None:
    """The scanner's whole job on a mutated message: inspection, decision, rewriting."""
    outcome = harness.run(case.data, fuzzjobs.message, "message")
    check(harness, outcome, case)
    assert outcome.action in {"pass", "tag", "bcc", "encrypt", "hold", "block"}


@FUZZ
@given(case=fuzzing.cases("archive"))
def test_archives(harness: Harness, case: Case) -> None:
    outcome = harness.run(case.data, fuzzing.file_job(case.seed), "archive")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("carrier"))
def test_carriers(harness: Harness, case: Case) -> None:
    """7z, TNEF, .msg, S/MIME, OpenPGP and uuencoded text, mutated: a definite answer."""
    outcome = harness.run(case.data, fuzzing.file_job(case.seed), "carrier")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("workbook"))
def test_workbooks(harness: Harness, case: Case) -> None:
    outcome = harness.run(case.data, fuzzing.table_job(delimited=False), "workbook")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("document"))
def test_documents(harness: Harness, case: Case) -> None:
    outcome = harness.run(case.data, fuzzing.file_job(case.seed), "document")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("legacy"))
def test_legacy_documents(harness: Harness, case: Case) -> None:
    """Binary Word and PowerPoint 97-2003 files, mutated as bytes and stream by stream."""
    outcome = harness.run(case.data, fuzzing.file_job(case.seed), "legacy")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("delimited"))
def test_delimited_text(harness: Harness, case: Case) -> None:
    outcome = harness.run(case.data, fuzzing.table_job(delimited=True), "delimited")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("markup"))
def test_markup_files(harness: Harness, case: Case) -> None:
    """HTML (with data: URIs), SpreadsheetML and RTF (with an embedded object), mutated."""
    outcome = harness.run(case.data, fuzzing.file_job(case.seed), "markup")
    check(harness, outcome, case)


@FUZZ
@given(case=fuzzing.cases("pdf"))
def test_pdf_files(harness: Harness, case: Case) -> None:
    """PDFs (text, a scanned page, embedded files) mutated: PDFium in a real scanner process."""
    outcome = harness.run(case.data, fuzzing.file_job(case.seed), "pdf")
    check(harness, outcome, case)


def test_an_abort_in_the_scanner_is_a_failure_not_a_lost_run(harness: Harness) -> None:
    """The property can fail: calamine aborting on a far cell is reported, and the next input
    is still answered by a fresh scanner process."""
    outcome = harness.run(hostile.far_cell(), fuzzjobs.calamine_unguarded, "sanity")
    assert outcome.raised is not None and "scanner process died" in outcome.raised
    assert not harness.run(
        hostile.small_xlsx(3), fuzzing.table_job(delimited=False), "sanity"
    ).problems()


def test_a_file_no_reader_read_is_a_failure(harness: Harness) -> None:
    """The completeness property can fail: a reader that returns without reading is caught,
    although the file still ends unscannable (the rule's backstop)."""
    outcome = harness.run(fuzzing.csv_text().encode(), fuzzjobs.lazy_reader, "sanity")
    assert outcome.problems() == ["t.csv: not read and no reason"]
    assert outcome.answer == "unsupported"
