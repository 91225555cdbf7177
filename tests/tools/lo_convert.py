"""Convert one spreadsheet with LibreOffice, optionally with a password: run by the system python3.

Usage: lo_convert.py INPUT OUTPUT FILTER [PASSWORD] [OUTPUT FILTER [PASSWORD]]...
Each output is a triple; an empty PASSWORD means none. Filters: "MS Excel 97", "calc8",
"Calc MS Excel 2007 XML", "calc_pdf_Export" (with a PASSWORD: needed to open the PDF).
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

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException


def _prop(name: str, value: object) -> PropertyValue:
    prop = PropertyValue()
    prop.Name = name
    prop.Value = value
    return prop


def main(argv: list[str]) -> None:
    source, rest = argv[0], argv[1:]
    jobs = [rest[i : i + 3] for i in range(0, len(rest), 3)]
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
            url = uno.systemPathToFileUrl(os.path.abspath(source))
            document = desktop.loadComponentFromURL(url, "_blank", 0, (_prop("Hidden", True),))
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
            with contextlib.suppress(Exception):  # the bridge drops as soffice exits
                desktop.terminate()
        finally:
            try:
                office.wait(timeout=30)
            except subprocess.TimeoutExpired:
                office.kill()


if __name__ == "__main__":
    main(sys.argv[1:])
