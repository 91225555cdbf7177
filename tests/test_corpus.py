"""The evaluation corpus: every file's verdict and exact counts, and the scores over all."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from dlp_proxy.inspect.model import TableFindings, Unscannable
from tests.corpus import build
from tests.corpus.evaluate import scan, score
from tests.corpus.fixtures import corpus

__all__ = ["corpus"]  # the session fixture, imported for pytest
GENERATED = [name for name, _ in build.BUILDERS]
CONVERTED = [
    f"{Path(name).stem}.{fmt}"
    for fmt in ("xls", "ods")
    for name, fmts in build.LIBREOFFICE_VARIANTS.items()
    if fmt in fmts
]


def check(file: build.CorpusFile) -> TableFindings:
    found = scan(file)
    assert not isinstance(found, Unscannable), found.detail
    assert found.personal_rows > 0 if file.truth.positive else found.personal_rows == 0
    assert (found.personal_rows, found.persons) == (file.truth.personal_rows, file.truth.persons)
    return found


@pytest.mark.parametrize("name", GENERATED, ids=GENERATED)
def test_generated_file(corpus: dict[str, build.CorpusFile], name: str) -> None:
    check(corpus[name])


@pytest.mark.parametrize("name", CONVERTED, ids=CONVERTED)
def test_file_written_by_libreoffice(corpus: dict[str, build.CorpusFile], name: str) -> None:
    if name not in corpus:
        pytest.skip("LibreOffice (soffice) is not installed: run scripts/test-deps as root")
    found = check(corpus[name])
    if "multi_sheet" in name:  # LibreOffice keeps hidden sheets hidden
        assert any(c.sheet == "旧顧客" for c in found.columns)


def test_scores(corpus: dict[str, build.CorpusFile]) -> None:
    result = score([(f, scan(f)) for f in corpus.values()])
    assert result.true_positive >= 20 and result.false_positive + result.true_positive < len(corpus)
    assert (result.precision, result.recall) == (1.0, 1.0)
    assert result.row_error == 0 and result.person_error == 0


def test_the_corpus_mixes_vocabularies(corpus: dict[str, build.CorpusFile]) -> None:
    """About half the names come from our own lists and half from Faker's; all rows count."""
    own = {row[0] for row in build._tsv("ja_family.tsv")}
    book = openpyxl.load_workbook(corpus["ja_customers.xlsx"].path, read_only=True)
    names = [row[1] for row in book.active.iter_rows(min_row=2, values_only=True) if row[1]]
    ours = sum(1 for name in names if str(name).split(" ")[0] in own)
    assert 0.3 < ours / len(names) < 0.7
