"""Bounds on what one file may make inspection hold in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class TableLimits:
    """Bounds on what one file may make us hold in memory; beyond them it is Unscannable.

    The defaults fit the scanner's default 2 GiB address-space limit: a million-row,
    8-column CSV reads within them (3 s, under 1 GiB), and a workbook at the limits peaks
    near 1.5 GiB (calamine's cell grid, its copy of the file, and the Python cells).
    """

    max_cells: int = 8_000_000  # cells across all sheets, counted over each sheet's used area
    max_rows: int = 1_100_000  # rows across all sheets
    max_unpacked: int = 256 << 20  # bytes inside an xlsx/xlsb/ods container, or of CSV text
    max_sheets: int = 1000


DEFAULT_TABLE_LIMITS: Final = TableLimits()


def describe(exc: BaseException) -> str:
    """First line of an exception, for an Unscannable detail (never cell values)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
