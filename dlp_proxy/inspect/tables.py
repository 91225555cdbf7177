"""Read spreadsheets (python-calamine) and CSV/TSV text into sheets of cell values."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Final

import python_calamine

from dlp_proxy.inspect import gcpause, guards
from dlp_proxy.inspect.delimited import (
    SAMPLE,
    decode_text,
    has_table,
    looks_delimited,
    read_delimited,
    read_text_table,
    sniff_delimiter,
)
from dlp_proxy.inspect.limits import DEFAULT_TABLE_LIMITS, TableLimits, describe
from dlp_proxy.inspect.model import Sheet, Unscannable

__all__ = [
    "DEFAULT_TABLE_LIMITS",
    "SAMPLE",
    "TableLimits",
    "decode_text",
    "has_table",
    "looks_delimited",
    "read_delimited",
    "read_text_table",
    "read_workbook",
    "sniff_delimiter",
]

_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE: Final = "EncryptedPackage".encode("utf-16-le")


Damage = Callable[[Unscannable], None]


def read_workbook(
    data: bytes, *, limits: TableLimits = DEFAULT_TABLE_LIMITS, damage: Damage | None = None
) -> list[Sheet]:
    """Read every sheet (hidden and very hidden ones too) of an xlsx/xlsm/xlsb/xls/ods file.

    A sheet that cannot be read costs that sheet: it is reported to ``damage`` and the other
    sheets are read (without ``damage``, it raises). Raises Unscannable("encrypted" |
    "corrupt" | "limit" | ..., detail) for the whole file; nothing else escapes.
    """
    report = damage if damage is not None else _raise
    try:
        source: guards.Parts | io.BytesIO = io.BytesIO(data)
        skipped: frozenset[str] = frozenset()
        if data.startswith(_OLE_MAGIC):
            if _ENCRYPTED_PACKAGE in data:
                raise Unscannable("encrypted", "password-protected Office file (EncryptedPackage)")
            source = io.BytesIO(guards.check_xls(data, limits, damage=report))
        elif data.startswith(b"PK"):
            repacked = guards.repack_zip(data, limits)
            source, skipped = repacked.source, repacked.skipped
            for problem in repacked.problems:
                report(problem)
        return _load(source, limits, skipped=skipped, damage=report)
    except Unscannable:
        raise
    except python_calamine.PasswordError as exc:
        raise Unscannable("encrypted", f"password-protected workbook: {describe(exc)}") from None
    except MemoryError:
        raise Unscannable("limit", "workbook too large to load in memory") from None
    except BaseException as exc:
        if not _calamine_failure(exc):
            raise
        raise Unscannable("corrupt", f"unreadable workbook: {describe(exc)}") from None


def _raise(problem: Unscannable) -> None:
    raise problem


def _calamine_failure(exc: BaseException) -> bool:
    # calamine reports Rust panics as pyo3's PanicException, a BaseException.
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


_NO_CELLS = (python_calamine.SheetTypeEnum.ChartSheet, python_calamine.SheetTypeEnum.DialogSheet)


def _load(
    source: guards.Parts | io.BytesIO,
    limits: TableLimits,
    *,
    skipped: frozenset[str],
    damage: Damage,
) -> list[Sheet]:
    sheets: list[Sheet] = []
    cells = rows = 0
    with python_calamine.CalamineWorkbook.from_filelike(source) as book:
        source.close()
        meta = book.sheets_metadata
        if len(meta) > limits.max_sheets:
            raise Unscannable(
                "limit", f"{len(meta)} sheets exceed the limit of {limits.max_sheets}"
            )
        for number, info in enumerate(meta, 1):
            if info.typ in _NO_CELLS or info.name in skipped:
                continue
            try:
                sheet = book.get_sheet_by_name(info.name)
            except MemoryError:
                raise
            except BaseException as exc:
                if not _calamine_failure(exc) or isinstance(exc, Unscannable):
                    raise
                damage(Unscannable("corrupt", f"sheet {number} unreadable: {describe(exc)}"))
                continue
            cells += sheet.height * sheet.width
            rows += sheet.height
            if cells > limits.max_cells or rows > limits.max_rows:
                raise Unscannable(
                    "limit",
                    f"workbook holds over {min(cells, limits.max_cells):,} cells in {rows:,} "
                    f"rows; limits are {limits.max_cells:,} cells, {limits.max_rows:,} rows",
                )
            hidden = info.visible != python_calamine.SheetVisibleEnum.Visible
            with gcpause.paused():
                cell_rows = sheet.to_python()
            sheets.append(Sheet(name=info.name, rows=cell_rows, hidden=hidden))
    return sheets
