"""Convert one spreadsheet with LibreOffice, optionally with a password: run by the system python3.

Usage: lo_convert.py INPUT OUTPUT FILTER [PASSWORD] [OUTPUT FILTER [PASSWORD]]...
       lo_convert.py --batch JOBS.json
Each output is a triple; an empty PASSWORD means none. An argument "+PATH" in place of an
output opens another input (one soffice start for several documents). Filters: "MS Excel 97",
"calc8", "Calc MS Excel 2007 XML", "calc_pdf_Export" (with a PASSWORD: needed to open the
PDF), "HTML (StarCalc)", "MS Excel 2003 XML" (from a CSV: from an xlsx the XSLT recurses too
deep), "writer8", "MS Word 2007 XML", and from a text document (.fodt) "Rich Text Format" and
"HTML (StarWriter)", "MS Word 97" (from a text document), "MS PowerPoint 97" (from a
presentation). A .csv input is read as UTF-8. A batch runs several jobs in one soffice
start, each a JSON object with "outputs" (the triples) and one of: "source" (a file to
convert), "embedded"
(rows for a Calc object embedded in a new Writer document, or with "into": "impress" on a
slide of a new Impress presentation), "cells" (a new Calc document:
[row, column, text or =formula] triples, and optionally "fill": [range, formula] filled
down and right).
Needs python3-uno and soffice (scripts/test-deps installs both).
"""

from __future__ import annotations

import contextlib
import json
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
    if argv[0] == "--batch":
        with open(argv[1], encoding="utf-8") as spec:
            batch = json.load(spec)
    else:
        batch = [{"source": argv[0], "outputs": []}]
        rest = argv[1:]
        while rest:
            if rest[0].startswith("+"):
                batch.append({"source": rest[0][1:], "outputs": []})
                rest = rest[1:]
            else:
                batch[-1]["outputs"].append(rest[:3])
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
            for job in batch:
                document = _document(desktop, job)
                _store(document, job["outputs"])
                document.close(True)
            with contextlib.suppress(Exception):  # the bridge drops as soffice exits
                desktop.terminate()
        finally:
            try:
                office.wait(timeout=30)
            except subprocess.TimeoutExpired:
                office.kill()


def _document(desktop: Any, job: dict[str, Any]) -> Any:
    hidden = (_prop("Hidden", True),)
    if "source" in job:
        source = str(job["source"])
        url = uno.systemPathToFileUrl(os.path.abspath(source))
        options = hidden
        if source.endswith(".csv"):  # UTF-8, comma-separated, quoted (else Calc guesses Latin-1)
            options += (
                _prop("FilterName", "Text - txt - csv (StarCalc)"),
                _prop("FilterOptions", "44,34,76,1"),
            )
        document = desktop.loadComponentFromURL(url, "_blank", 0, options)
        if document is None:
            raise SystemExit(f"soffice could not open {source}")
        return document
    if "embedded" in job and job.get("into") == "impress":
        document = desktop.loadComponentFromURL("private:factory/simpress", "_blank", 0, hidden)
        page = document.DrawPages.getByIndex(0)
        shape = document.createInstance("com.sun.star.drawing.OLE2Shape")
        page.add(shape)
        shape.CLSID = CALC_CLSID
        shape.Size = uno.createUnoStruct("com.sun.star.awt.Size", 16000, 8000)
        calc = shape.Model
        _fill(calc.Sheets.getByIndex(0), job["embedded"])
        calc.setModified(True)
        return document
    if "embedded" in job:
        document = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0, hidden)
        text = document.getText()
        text.insertString(text.getEnd(), "添付の表をご確認ください。", False)
        embedded = document.createInstance("com.sun.star.text.TextEmbeddedObject")
        embedded.CLSID = CALC_CLSID
        text.insertTextContent(text.getEnd(), embedded, False)
        calc = embedded.getEmbeddedObject()
        _fill(calc.Sheets.getByIndex(0), job["embedded"])
        calc.setModified(True)
        return document
    document = desktop.loadComponentFromURL("private:factory/scalc", "_blank", 0, hidden)
    sheet = document.Sheets.getByIndex(0)
    for row, column, value in job.get("cells", []):
        cell = sheet.getCellByPosition(column, row)
        if value.startswith("="):
            cell.setFormula(value)
        else:
            cell.setString(value)
    if "fill" in job:
        area, formula = job["fill"]
        cells = sheet.getCellRangeByName(area)
        cells.getCellByPosition(0, 0).setFormula(formula)
        for direction in ("TO_BOTTOM", "TO_RIGHT"):
            cells.fillAuto(uno.Enum("com.sun.star.sheet.FillDirection", direction), 1)
    return document


CALC_CLSID = "47BBB4CB-CE4C-4E80-A591-42D9AE74950F"


def _fill(sheet: Any, rows: list[list[str]]) -> None:
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.getCellByPosition(c, r).setString(value)


def _store(document: Any, outputs: list[list[str]]) -> None:
    for job in outputs:
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
        url = uno.systemPathToFileUrl(os.path.abspath(output))
        document.storeToURL(url, tuple(props))


if __name__ == "__main__":
    main(sys.argv[1:])
