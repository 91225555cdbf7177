"""Bounds on what one file may make inspection hold in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class TableLimits:
    """Bounds on what one file may make us hold in memory; beyond them it is Unscannable."""

    max_cells: int = 8_000_000  # cells across all sheets, counted over each sheet's used area
    max_rows: int = 1_100_000  # rows across all sheets
    max_unpacked: int = 512 << 20  # bytes inside an xlsx/ods container, or of CSV text
    max_sheets: int = 1000


DEFAULT_TABLE_LIMITS: Final = TableLimits()


def describe(exc: BaseException) -> str:
    """First line of an exception, for an Unscannable detail (never cell values)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
