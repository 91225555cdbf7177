"""Read spreadsheets (python-calamine) and CSV/TSV text into sheets of cell values."""

from __future__ import annotations

import io
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


def read_workbook(data: bytes, *, limits: TableLimits = DEFAULT_TABLE_LIMITS) -> list[Sheet]:
    """Read every sheet (hidden and very hidden ones too) of an xlsx/xlsm/xlsb/xls/ods file.

    Raises Unscannable("encrypted" | "corrupt" | "limit", detail); nothing else escapes.
    """
    try:
        source: guards.Parts | io.BytesIO = io.BytesIO(data)
        if data.startswith(_OLE_MAGIC):
            if _ENCRYPTED_PACKAGE in data:
                raise Unscannable("encrypted", "password-protected Office file (EncryptedPackage)")
            guards.check_xls(data, limits)
        elif data.startswith(b"PK"):
            source = guards.repack_zip(data, limits)
        return _load(source, limits)
    except Unscannable:
        raise
    except python_calamine.PasswordError as exc:
        raise Unscannable("encrypted", f"password-protected workbook: {describe(exc)}") from None
    except MemoryError:
        raise Unscannable("limit", "workbook too large to load in memory") from None
    except BaseException as exc:
        # calamine reports Rust panics as pyo3's PanicException, a BaseException.
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise Unscannable("corrupt", f"unreadable workbook: {describe(exc)}") from None


def _load(source: guards.Parts | io.BytesIO, limits: TableLimits) -> list[Sheet]:
    sheets: list[Sheet] = []
    cells = rows = 0
    with python_calamine.CalamineWorkbook.from_filelike(source) as book:
        source.close()
        meta = book.sheets_metadata
        if len(meta) > limits.max_sheets:
            raise Unscannable(
                "limit", f"{len(meta)} sheets exceed the limit of {limits.max_sheets}"
            )
        for info in meta:
            if info.typ == python_calamine.SheetTypeEnum.ChartSheet:
                continue
            sheet = book.get_sheet_by_name(info.name)
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
