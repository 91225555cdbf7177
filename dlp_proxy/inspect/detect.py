"""Find personal data in the sheets of one file: the entry point over classify and rows."""

from __future__ import annotations

from collections.abc import Sequence

from dlp_proxy.inspect import gcpause
from dlp_proxy.inspect.classify import plan_sheet
from dlp_proxy.inspect.masks import mask
from dlp_proxy.inspect.model import Column, Sheet, TableFindings, Unscannable
from dlp_proxy.inspect.rows import Persons, count_rows
from dlp_proxy.inspect.vocabulary import KINDS, Vocabulary

__all__ = ["KINDS", "Vocabulary", "analyze", "mask"]


def analyze(sheets: Sequence[Sheet], *, vocabulary: Vocabulary | None = None) -> TableFindings:
    """Find personal columns in every sheet of one file and count personal rows and persons.

    A row is personal when it holds a name or a personal identifier (personal email, birth
    date, My Number, customer ID...) and at least one more personal attribute. Persons are
    rows merged when they share an email, a phone, or a birth date (each with the same name,
    when the row has one).

    Raises Unscannable only when the analysis itself fails (memory, or a case we did not
    foresee): a scan then reports the attachment as unscannable instead of failing.
    """
    vocab = vocabulary or Vocabulary.default()
    try:
        with gcpause.paused():
            return _analyze(sheets, vocab)
    except MemoryError:
        raise Unscannable("limit", "tables too large to analyse in memory") from None
    except Exception as exc:
        raise Unscannable("corrupt", f"analysis failed: {type(exc).__name__}") from exc


def _analyze(sheets: Sequence[Sheet], vocab: Vocabulary) -> TableFindings:
    total_rows = 0
    personal = 0
    columns: list[Column] = []
    persons = Persons()
    samples: dict[str, list[str]] = {}
    for sheet in sheets:
        plan = plan_sheet(sheet, vocab)
        columns.extend(Column(sheet.name, c.header, c.kind, c.index) for c in plan.columns)
        rows, personal_rows = count_rows(plan, persons, samples)
        total_rows += rows
        personal += personal_rows
    sample_list = tuple(f"{kind}: {text}" for kind, texts in samples.items() for text in texts)
    return TableFindings(
        rows=total_rows,
        personal_rows=personal,
        persons=persons.count(),
        columns=tuple(columns),
        samples=sample_list,
    )
