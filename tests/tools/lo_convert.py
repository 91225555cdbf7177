"""Convert one spreadsheet with LibreOffice, optionally with a password: run by the system python3.

Usage: lo_convert.py INPUT OUTPUT FILTER [PASSWORD] [OUTPUT FILTER [PASSWORD]]...
Each output is a triple; an empty PASSWORD means none. An argument "+PATH" in place of an
output opens another input (one soffice start for several documents). Filters: "MS Excel 97",
"calc8", "Calc MS Excel 2007 XML", "calc_pdf_Export" (with a PASSWORD: needed to open the
PDF), "HTML (StarCalc)", "MS Excel 2003 XML" (from a CSV: from an xlsx the XSLT recurses too
deep), and from a text document (.fodt) "Rich Text Format" and "HTML (StarWriter)". A .csv
input is read as UTF-8.
Needs python3-uno and soffice (scripts/test-deps installs both).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException


def _prop(name: str, value: object) -> PropertyValue:
    prop = PropertyValue()
    prop.Name = name
    prop.Value = value
    return prop


def main(argv: list[str]) -> None:
    documents: list[tuple[str, list[list[str]]]] = [(argv[0], [])]
    rest = argv[1:]
    while rest:
        if rest[0].startswith("+"):
            documents.append((rest[0][1:], []))
            rest = rest[1:]
        else:
            documents[-1][1].append(rest[:3])
            rest = rest[3:]
    pipe = f"dlp-test-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as profile:
        office = subprocess.Popen(
            [
                "soffice",
                "--headless",
                "--norestore",
                "--nologo",
                f"-env:UserInstallation=file://{profile}",
                f"--accept=pipe,name={pipe};urp;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            resolver = uno.getComponentContext().ServiceManager.createInstanceWithContext(
                "com.sun.star.bridge.UnoUrlResolver", uno.getComponentContext()
            )
            for _ in range(600):
                try:
                    context = resolver.resolve(
                        f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext"
                    )
                    break
                except NoConnectException:
                    time.sleep(0.1)
            else:
                raise SystemExit("soffice did not start")
            desktop = context.ServiceManager.createInstanceWithContext(
                "com.sun.star.frame.Desktop", context
            )
            for source, jobs in documents:
                _convert(desktop, source, jobs)
            with contextlib.suppress(Exception):  # the bridge drops as soffice exits
                desktop.terminate()
        finally:
            try:
                office.wait(timeout=30)
            except subprocess.TimeoutExpired:
                office.kill()


def _convert(desktop: Any, source: str, jobs: list[list[str]]) -> None:
    url = uno.systemPathToFileUrl(os.path.abspath(source))
    options = [_prop("Hidden", True)]
    if source.endswith(".csv"):  # UTF-8, comma-separated, quoted (else Calc guesses Latin-1)
        options += [
            _prop("FilterName", "Text - txt - csv (StarCalc)"),
            _prop("FilterOptions", "44,34,76,1"),
        ]
    document = desktop.loadComponentFromURL(url, "_blank", 0, tuple(options))
    if document is None:
        raise SystemExit(f"soffice could not open {source}")
    for job in jobs:
        output, filter_name = job[0], job[1]
        password = job[2] if len(job) > 2 else ""
        props = [_prop("FilterName", filter_name), _prop("Overwrite", True)]
        if password and filter_name.endswith("_pdf_Export"):
            options = (_prop("EncryptFile", True), _prop("DocumentOpenPassword", password))
            props.append(
                _prop("FilterData", uno.Any("[]com.sun.star.beans.PropertyValue", options))
            )
        elif password:
            props.append(_prop("Password", password))
        document.storeToURL(uno.systemPathToFileUrl(os.path.abspath(output)), tuple(props))
    document.close(True)


if __name__ == "__main__":
    main(sys.argv[1:])
