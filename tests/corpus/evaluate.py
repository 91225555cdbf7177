"""Scan corpus files the way the proxy will, and score the findings against the truth.

The MIME walk and archive unpacking belong to dlp_proxy.inspect.mime/archives (another
change); here a zip is opened with zipfile and each member scanned, which is all the corpus
needs.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dlp_proxy.inspect.detect import analyze
from dlp_proxy.inspect.model import TableFindings, Unscannable
from dlp_proxy.inspect.tables import looks_delimited, read_delimited, read_workbook

from .build import CorpusFile

WORKBOOKS = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
DELIMITED = {".csv", ".tsv"}


def scan_bytes(name: str, data: bytes) -> TableFindings | Unscannable:
    suffix = Path(name).suffix.lower()
    try:
        if suffix in WORKBOOKS:
            return analyze(read_workbook(data))
        if suffix in DELIMITED or (suffix == ".txt" and looks_delimited(data)):
            return analyze(read_delimited(data, name=name))
        if suffix == ".zip":
            return _merge([scan_bytes(n, b) for n, b in _members(data)])
    except Unscannable as exc:
        return exc
    return TableFindings(rows=0, personal_rows=0, persons=0)


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(i.filename, archive.read(i)) for i in archive.infolist() if not i.is_dir()]


def _merge(results: list[TableFindings | Unscannable]) -> TableFindings | Unscannable:
    found = [r for r in results if isinstance(r, TableFindings)]
    if not found and results:
        return results[0]
    return TableFindings(
        rows=sum(f.rows for f in found),
        personal_rows=sum(f.personal_rows for f in found),
        persons=sum(f.persons for f in found),
        columns=tuple(c for f in found for c in f.columns),
        samples=tuple(s for f in found for s in f.samples),
    )


def scan(file: CorpusFile) -> TableFindings | Unscannable:
    return scan_bytes(file.name, file.path.read_bytes())


@dataclass(frozen=True)
class Score:
    files: int
    true_positive: int
    false_positive: int
    false_negative: int
    row_error: int  # sum over positive files of |found - truth| personal rows
    truth_rows: int
    person_error: int
    truth_persons: int

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0


def score(results: list[tuple[CorpusFile, TableFindings | Unscannable]]) -> Score:
    tp = fp = fn = row_error = truth_rows = person_error = truth_persons = 0
    for file, found in results:
        rows = found.personal_rows if isinstance(found, TableFindings) else 0
        persons = found.persons if isinstance(found, TableFindings) else 0
        flagged = rows > 0 or isinstance(found, Unscannable)
        if file.truth.positive:
            tp += flagged
            fn += not flagged
            row_error += abs(rows - file.truth.personal_rows)
            truth_rows += file.truth.personal_rows
            person_error += abs(persons - file.truth.persons)
            truth_persons += file.truth.persons
        else:
            fp += flagged
    return Score(len(results), tp, fp, fn, row_error, truth_rows, person_error, truth_persons)
