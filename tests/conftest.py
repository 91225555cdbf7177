"""Shared fixtures."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlp_proxy.inspect import files
from tests import table_stub
from tests.builders import customers, xlsx_bytes

TOOLS = Path(__file__).parent / "tools"


def _real_tables() -> bool:
    return all(
        importlib.util.find_spec(f"dlp_proxy.inspect.{name}") is not None
        for name in ("tables", "detect")
    )


@pytest.fixture(autouse=True)
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """STUB(detect-merge): stand in for tables.py/detect.py until the `detect` branch lands.

    Once both modules exist this fixture does nothing and every test runs against them;
    then delete it and tests/table_stub.py.
    """
    if _real_tables():
        yield "real"
        return
    monkeypatch.setattr(files, "_scan_table", table_stub.scan_table)
    monkeypatch.setattr(files, "_looks_delimited", table_stub.looks_delimited)
    yield "stub"


def pytest_report_header() -> str:
    if _real_tables():
        return "tables/detect: real modules"
    return "tables/detect: tests/table_stub.py (the detect branch is not merged yet)"


OFFICE_FILTERS = {
    "xls": "MS Excel 97",
    "ods": "calc8",
}
OFFICE_PASSWORD = "Secret-2024"


@pytest.fixture(scope="session")
def office_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Workbooks written by LibreOffice from an openpyxl customer list: xls, ods, and both
    saved with a password (RC4 CryptoAPI xls, encrypted ODF). One soffice start per session."""
    directory = tmp_path_factory.mktemp("office")
    source = directory / "customers.xlsx"
    source.write_bytes(xlsx_bytes(customers(25)))
    jobs: list[str] = []
    for kind, filter_name in OFFICE_FILTERS.items():
        jobs += [str(directory / f"plain.{kind}"), filter_name, ""]
        jobs += [str(directory / f"encrypted.{kind}"), filter_name, OFFICE_PASSWORD]
    subprocess.run(
        ["/usr/bin/python3", str(TOOLS / "lo_convert.py"), str(source), *jobs],
        check=True,
        timeout=120,
    )
    made = {
        f"{stem}.{kind}": (directory / f"{stem}.{kind}").read_bytes()
        for kind in OFFICE_FILTERS
        for stem in ("plain", "encrypted")
    }
    made["plain.xlsx"] = source.read_bytes()
    return made
