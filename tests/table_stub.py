"""STUB(detect-merge): a stand-in for dlp_proxy.inspect.tables and .detect from the `detect` branch.

Only the tests use it, through the ``tables`` fixture in conftest.py, and only while those
modules are missing. Delete this file and that fixture once the `detect` branch is merged.
It reads real files (python-calamine, the csv module) but classifies columns by header alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from python_calamine import CalamineWorkbook

from dlp_proxy.inspect.model import Column, Sheet, TableFindings, Unscannable

HEADERS = {
    "氏名": "name",
    "名前": "name",
    "name": "name",
    "住所": "address",
    "address": "address",
    "電話番号": "phone",
    "phone": "phone",
    "メールアドレス": "email",
    "email": "email",
}
PERSONAL = {"address", "phone", "email"}


def _text(data: bytes) -> str:
    for codec in ("utf-8-sig", "cp932"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def looks_delimited(data: bytes) -> bool:
    lines = [line for line in _text(data[:65536]).splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    for delimiter in ",\t":
        counts = {line.count(delimiter) for line in lines[:-1]}
        if len(counts) == 1 and counts.pop() >= 1:
            return True
    return False


def read_delimited(data: bytes, *, name: str) -> list[Sheet]:
    text = _text(data.replace(b"\x00", b""))
    delimiter = (
        "\t" if text.split("\n", 1)[0].count("\t") > text.split("\n", 1)[0].count(",") else ","
    )
    return [Sheet(name=name, rows=list(csv.reader(io.StringIO(text), delimiter=delimiter)))]


def read_workbook(data: bytes) -> list[Sheet]:
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return [
            Sheet(name=sheet, rows=book.get_sheet_by_name(sheet).to_python())
            for sheet in book.sheet_names
        ]
    except Exception as exc:
        raise Unscannable("corrupt", f"workbook unreadable ({type(exc).__name__})") from None


def _mask(value: str) -> str:
    return value[:1] + " **"


def analyze(sheets: Sequence[Sheet]) -> TableFindings:
    rows = personal = 0
    columns: list[Column] = []
    samples: list[str] = []
    for sheet in sheets:
        if not sheet.rows:
            continue
        header = [str(cell).strip() for cell in sheet.rows[0]]
        kinds = {
            i: HEADERS[h.lower() if h.isascii() else h]
            for i, h in enumerate(header)
            if (h.lower() if h.isascii() else h) in HEADERS
        }
        columns += [Column(sheet.name, header[i], kind, i) for i, kind in kinds.items()]
        names = [i for i, kind in kinds.items() if kind == "name"]
        others = [i for i, kind in kinds.items() if kind in PERSONAL]
        for row in sheet.rows[1:]:
            rows += 1
            cells = [str(cell) if cell not in (None, "") else "" for cell in row]
            if any(i < len(cells) and cells[i] for i in names) and any(
                i < len(cells) and cells[i] for i in others
            ):
                personal += 1
                if len(samples) < 3:
                    samples.append(_mask(cells[names[0]]))
    return TableFindings(
        rows=rows,
        personal_rows=personal,
        persons=personal,
        columns=tuple(columns),
        samples=tuple(samples),
    )


def scan_table(kind: str, data: bytes, name: str) -> TableFindings:
    """The same contract as dlp_proxy.inspect.files._scan_table."""
    if kind in ("csv", "tsv"):
        return analyze(read_delimited(data, name=name))
    return analyze(read_workbook(data))
