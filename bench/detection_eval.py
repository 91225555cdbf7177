"""File-level precision and recall, and row-count error, of the detector on the corpus.

    .venv/bin/python bench/detection_eval.py [--no-libreoffice] [--seed N ...] [--out DIR]

Builds (or reuses) the evaluation corpus of tests/corpus/build.py, scans every file as the
proxy would, and prints one line per file (truth vs found) and the totals. A file counts as
flagged when it has personal rows or cannot be scanned. Other seeds draw other people, other
blank cells and other choices: the tests use the default seed, so the others are held out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlp_proxy.inspect.model import TableFindings  # noqa: E402
from tests.corpus import build  # noqa: E402
from tests.corpus.evaluate import scan, score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-libreoffice", action="store_true", help="skip the xls/ods copies")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seed", type=int, nargs="*", default=[build.SEED])
    args = parser.parse_args()
    with_lo = not args.no_libreoffice and build.libreoffice() is not None
    for seed in args.seed:
        print(f"\n== corpus seed {seed}")
        evaluate(build.cached(args.out, with_libreoffice=with_lo, seed=seed), with_lo=with_lo)


def evaluate(files: list[build.CorpusFile], *, with_lo: bool) -> None:
    results = []
    print(f"{'file':40} {'truth rows/persons':>20} {'found rows/persons':>20}  ms")
    for file in files:
        start = time.perf_counter()
        found = scan(file)
        elapsed = (time.perf_counter() - start) * 1000
        results.append((file, found))
        if isinstance(found, TableFindings):
            got = f"{found.personal_rows}/{found.persons}"
        else:
            got = f"unscannable:{found.reason}"
        want = f"{file.truth.personal_rows}/{file.truth.persons}"
        mark = "" if got == want else "  <-- differs"
        print(f"{file.name:40} {want:>20} {got:>20} {elapsed:5.0f}{mark}")
    s = score(results)
    positives = s.true_positive + s.false_negative
    print(
        f"\nfiles: {s.files} ({positives} positive, {s.files - positives} negative)"
        f"{'' if with_lo else '; LibreOffice copies skipped'}\n"
        f"file-level precision {s.precision:.3f}  recall {s.recall:.3f}"
        f"  (TP {s.true_positive}, FP {s.false_positive}, FN {s.false_negative})\n"
        f"personal-row error: {s.row_error} of {s.truth_rows} rows"
        f" ({s.row_error / max(s.truth_rows, 1):.2%})\n"
        f"person-count error: {s.person_error} of {s.truth_persons} persons"
        f" ({s.person_error / max(s.truth_persons, 1):.2%})"
    )


if __name__ == "__main__":
    main()
