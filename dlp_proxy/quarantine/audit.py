"""The audit trail as CSV: one header, one line per event, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from dlp_proxy.quarantine.records import AuditRecord

CSV_COLUMNS = ("seq", "at", "message_id", "event", "actor", "via", "policy_version", "detail")
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _line(cells: Sequence[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_cell(c) for c in cells])
    return out.getvalue()


def csv_header() -> str:
    return _line(CSV_COLUMNS)


def csv_line(record: AuditRecord) -> str:
    return _line(
        (
            record.seq,
            record.at.isoformat(),
            record.message_id,
            record.event,
            record.actor,
            record.via,
            record.policy_version,
            json.dumps(record.detail, ensure_ascii=False, sort_keys=True),
        )
    )
