"""HTML, XML and RTF as mailers and programs write them: each customer list found, harmless
twins read without findings, broken variants a definite answer."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from dlp_proxy.inspect import Limits, inspect_file, inspect_message, markup, rtf, xmldoc
from dlp_proxy.inspect.model import Attachment
from tests import markupcorpus as mc
from tests.builders import HEADER, csv_bytes, customers, message

ROWS = mc.CUSTOMERS
CSV = csv_bytes(ROWS)
TOOLS = Path(__file__).parent / "tools"


def _found(attachments: tuple[Attachment, ...]) -> list[tuple[str, str, int, str | None]]:
    return [(a.path, a.type, a.personal_rows, a.unscannable) for a in attachments]


def _fodt(rows: list[tuple[str, str, str, str]]) -> str:
    """A text document with a paragraph, the list as a table, and a closing paragraph."""

    def cells(row: tuple[str, ...]) -> str:
        return "".join(
            f'<table:table-cell office:value-type="string"><text:p>{escape(c)}</text:p>'
            "</table:table-cell>"
            for c in row
        )

    body = "".join(f"<table:table-row>{cells(r)}</table:table-row>" for r in [HEADER, *rows])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<office:document '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2" '
        'office:mimetype="application/vnd.oasis.opendocument.text"><office:body><office:text>'
        "<text:p>顧客一覧をお送りします。</text:p>"
        '<table:table table:name="T1"><table:table-column table:number-columns-repeated="4"/>'
        + body
        + "</table:table><text:p>よろしくお願いします。</text:p></office:text></office:body>"
        "</office:document>"
    )


@pytest.fixture(scope="module")
def libreoffice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Calc's HTML export and SpreadsheetML 2003 of a customer CSV; Writer's RTF and HTML of
    a letter holding the list as a table. One soffice start."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed: run scripts/test-deps as root")
    if not Path("/usr/lib/libreoffice/program/libswlo.so").exists():
        pytest.skip("LibreOffice Writer is not installed: run scripts/test-deps as root")
    directory = tmp_path_factory.mktemp("markup")
    (directory / "list.csv").write_bytes(CSV)
    (directory / "letter.fodt").write_text(_fodt(ROWS), encoding="utf-8")
    outputs = {
        "calc.html": "HTML (StarCalc)",
        "calc.xml": "MS Excel 2003 XML",
        "calc.fods": "OpenDocument Spreadsheet Flat XML",
        "+letter.fodt": "",
        "writer.rtf": "Rich Text Format",
        "writer.html": "HTML (StarWriter)",
    }
    arguments: list[str] = []
    for name, filter_name in outputs.items():
        if name.startswith("+"):
            arguments.append("+" + str(directory / name[1:]))
        else:
            arguments += [str(directory / name), filter_name, ""]
    subprocess.run(
        ["/usr/bin/python3", str(TOOLS / "lo_convert.py"), str(directory / "list.csv"), *arguments],
        check=True,
        timeout=240,
    )
    return {name: (directory / name).read_bytes() for name in outputs if "+" not in name}


# --- lists found --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            mc.alternative(mc.tab_text(ROWS), mc.outlook_body(), charset="iso-2022-jp"),
            [("part 1", "tsv", len(ROWS), None), ("part 2", "html", len(ROWS), None)],
        ),
        (
            mc.html_only(mc.outlook_body(), charset="iso-2022-jp"),
            [("part 1", "html", len(ROWS), None)],
        ),
        (
            mc.alternative(mc.tab_text(ROWS), mc.thunderbird_body()),
            [("part 1", "tsv", len(ROWS), None), ("part 2", "html", len(ROWS), None)],
        ),
        (mc.html_only(mc.gmail_body()), [("part 1", "html", len(ROWS), None)]),
        (
            mc.html_only(mc.data_uri_link(CSV)),
            [("part 1", "html", 0, None), ("part 1/data-uri-1.csv", "csv", len(ROWS), None)],
        ),
        (
            mc.html_only(mc.data_uri_link(csv_bytes(ROWS, encoding="cp932"), "text/plain")),
            [("part 1", "html", 0, None), ("part 1/data-uri-1.txt", "csv", len(ROWS), None)],
        ),
    ],
    ids=[
        "outlook-pasted-range-with-plain-twin",
        "outlook-html-only",
        "thunderbird-with-plain-twin",
        "gmail-google-sheets-paste",
        "data-uri-download-link",
        "data-uri-shift-jis-declared-text",
    ],
)
def test_a_list_in_an_html_body_is_found(raw: bytes, expected: list[object]) -> None:
    assert _found(inspect_message(raw).attachments) == expected


def test_plain_text_declared_as_html_is_read_as_lines() -> None:
    """No markup at all: a browser would join the lines, the recipient still sees a list."""
    raw = mc.html_only(CSV.decode())
    assert _found(inspect_message(raw).attachments) == [("part 1", "html", len(ROWS), None)]


@pytest.mark.parametrize(
    "spelled",
    ["data&colon;text/csv;base64,", "da&Tab;ta:text/csv;base64,", "&#100;ata:text/csv;base64,"],
    ids=["html5-colon-reference", "tab-inside-scheme", "numeric-reference"],
)
def test_a_data_uri_spelled_with_references_is_found(spelled: str) -> None:
    body = f'<a href="{spelled}{base64.b64encode(CSV).decode()}">x</a>'.encode()
    found = inspect_file(body, "a.html")
    assert _found(found)[1] == ("a.html/data-uri-1.csv", "csv", len(ROWS), None)


def test_data_uri_with_a_declared_charset_is_decoded_in_it() -> None:
    encoded = base64.b64encode(csv_bytes(ROWS).decode().encode("iso2022_jp", "replace"))
    body = f'<p><a href="data:text/csv;charset=ISO-2022-JP;base64,{encoded.decode()}">x</a></p>'
    attachments = inspect_file(body.encode(), "page.html")
    assert _found(attachments)[1] == ("page.html/data-uri-1.csv", "csv", len(ROWS), None)


@pytest.mark.parametrize(
    ("data", "name", "expected_type"),
    [
        (mc.excel_web_xls(), "顧客.xls", "html"),
        (mc.spreadsheetml(), "顧客.xls", "xml"),
        (mc.spreadsheetml(), "export.xml", "xml"),
        (mc.wordpad_rtf(), "顧客.rtf", "rtf"),
        (mc.outlook_body().encode("utf-8"), "saved.htm", "html"),
    ],
    ids=["excel-web-page-xls", "spreadsheetml-xls", "spreadsheetml-xml", "wordpad-cp932", "htm"],
)
def test_a_list_in_a_markup_attachment_is_found(data: bytes, name: str, expected_type: str) -> None:
    [attachment] = inspect_file(data, name)
    assert (attachment.type, attachment.personal_rows, attachment.unscannable) == (
        expected_type,
        len(ROWS),
        None,
    )


@pytest.mark.parametrize(
    ("name", "expected_type"),
    [
        ("calc.html", "html"),
        ("calc.xml", "xml"),
        ("calc.fods", "xml"),
        ("writer.rtf", "rtf"),
        ("writer.html", "html"),
    ],
    ids=[
        "calc-html-export",
        "calc-spreadsheetml-2003",
        "calc-flat-xml",
        "writer-rtf",
        "writer-html",
    ],
)
def test_files_written_by_libreoffice(
    libreoffice: dict[str, bytes], name: str, expected_type: str
) -> None:
    [attachment] = inspect_file(libreoffice[name], name)
    assert (attachment.type, attachment.personal_rows, attachment.unscannable) == (
        expected_type,
        len(ROWS),
        None,
    )
    # Every column recognised: the Japanese came through (not only phones and emails)
    assert {"person_name", "address", "phone", "email"} <= {c.kind for c in attachment.columns}


def test_hidden_spreadsheetml_worksheet_is_read() -> None:
    old = customers(12, seed=8)
    content = xmldoc.read_xml(mc.spreadsheetml(ROWS, hidden_rows=old))
    assert content.sheets is not None
    assert [(s.name, s.hidden, len(s.rows)) for s in content.sheets] == [
        ("顧客", False, len(ROWS) + 2),
        ("旧顧客", True, len(old) + 2),
    ]
    first = content.sheets[0].rows
    assert first[1] == [HEADER[0], None, HEADER[1], HEADER[2], HEADER[3]]  # ss:Index="3"
    [attachment] = inspect_file(mc.spreadsheetml(ROWS, hidden_rows=old), "book.xml")
    assert attachment.personal_rows == len(ROWS) + len(old)


@pytest.mark.parametrize(
    ("native", "class_name", "binary", "expected"),
    [
        ("xls", "Excel.Sheet.8", False, [("doc.rtf/object 1", "xls", 25, None)]),
        ("xls", "Excel.Sheet.8", True, [("doc.rtf/object 1", "xls", 25, None)]),
        ("csv", "Package", False, [("doc.rtf/object 1/顧客.csv", "csv", len(ROWS), None)]),
    ],
    ids=["excel-sheet-hex", "excel-sheet-bin", "packager-csv"],
)
def test_an_object_embedded_in_rtf_is_read(
    office_files: dict[str, bytes],
    native: str,
    class_name: str,
    binary: bool,
    expected: list[object],
) -> None:
    data = office_files["plain.xls"] if native == "xls" else mc.packager("顧客.csv", CSV)
    found = inspect_file(mc.rtf_with_object(class_name, data, binary=binary), "doc.rtf")
    assert _found(found) == [("doc.rtf", "rtf", 0, None), *expected]
    assert found[0].read_as == "container" or found[0].read_as == "text"


def test_outlook_rtf_body_encapsulating_html() -> None:
    """MS-OXRTFEX: the HTML comes back whole (for the TNEF reader), and both readings of the
    body find the pasted range."""
    data = mc.outlook_rtf_html()
    html = rtf.rtf_html(data)
    assert html is not None and html.startswith("<html><head><meta")
    root = markup.parse_html(html.encode())
    assert root is not None
    [table] = markup.html_tables(root)
    assert table.rows == [list(HEADER), *map(list, ROWS)]
    assert rtf.rtf_text(data).splitlines()[1] == "\t".join(HEADER)
    assert rtf.rtf_html(mc.wordpad_rtf()) is None
    [attachment] = inspect_file(data, "body.rtf")
    assert (attachment.type, attachment.personal_rows) == ("rtf", len(ROWS))


def test_rtf_objects_hand_over_the_ole2_file() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    [found] = rtf.rtf_objects(mc.rtf_with_object("Excel.Sheet.8", ole2))
    assert (found.class_name, found.data, found.problem) == ("Excel.Sheet.8", ole2, None)


# --- harmless twins ------------------------------------------------------------------------

SVG_LOGO = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    b'width="200" height="60" viewBox="0 0 200 60"><title>Dealer logo</title>'
    b'<rect x="0" y="0" width="200" height="60" rx="8" fill="#0a4"/>'
    b'<circle cx="30" cy="30" r="18" fill="#fff"/>'
    b'<text x="60" y="38" font-family="sans-serif" font-size="22" fill="#fff">DEALER</text></svg>'
)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (mc.newsletter_body().encode(), "newsletter.html"),
        (mc.signature_body().encode(), "reply.htm"),
        (SVG_LOGO, "logo.svg"),
        (SVG_LOGO.replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', b""), "logo.svg"),
        (mc.typical_outlook_body().encode(), "reply.html"),
    ],
    ids=["newsletter-price-table", "outlook-signature", "svg-logo", "svg-no-declaration", "reply"],
)
def test_harmless_markup_is_read_without_findings(data: bytes, name: str) -> None:
    [attachment] = inspect_file(data, name)
    assert (attachment.status, attachment.personal_rows) == ("read", 0)


def test_a_png_named_svg_is_an_image_not_ambiguous_text() -> None:
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    [attachment] = inspect_file(png, "logo.svg")
    assert attachment.status == "not-applicable"


def test_an_html_body_of_prose_is_not_listed() -> None:
    raw = mc.alternative("承知しました。\r\n", mc.signature_body())
    assert inspect_message(raw).attachments == ()


def test_inline_images_in_data_uris_are_not_applicable() -> None:
    png = base64.b64encode(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
        )
    ).decode()
    body = f'<p>Logo <img src="data:image/png;base64,{png}"></p>'
    found = inspect_file(body.encode(), "sig.html")
    assert [(a.path, a.status) for a in found] == [
        ("sig.html", "read"),
        ("sig.html/data-uri-1.png", "not-applicable"),
    ]


# --- the text a recipient sees -------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("<p>a</p>\n\t\t<p>b  c\n d</p>", "a\nb c d"),
        ("<div>one<br>two</div><div>three&nbsp;four</div>", "one\ntwo\nthree four"),
        ("<div>a<script>x=1</script>b<style>p{}</style>c<!-- note -->d</div>", "abcd"),
        ("<pre>a,b\nc,d</pre>e", "a,b\nc,d\ne"),
        (
            "<table><tr><td>a<td colspan=2>b<td>c<tr><td>x<td>y<td>z<td>w</table>",
            "a\tb\t\tc\nx\ty\tz\tw",
        ),
        (
            "<table><tr><td rowspan=2>a<td>b<tr><td>c</table>",
            "a\tb\n\tc",
        ),
        (
            "<table><tr><td>layout<table><tr><td>n<td>p<tr><td>m<td>q</table></td>"
            "<td>side</td></tr></table>",
            "layout\tside\nn\tp\nm\tq",
        ),
        ("<html><body><p>a</p></body></html>\n<p>after the end</p>", "a\nafter the end"),
        ("<table><tr><td><p>first</p><p>second</p></td><td>x</td></tr></table>", "first second\tx"),
        (
            "<p>a</p><!--[if mso]><table><tr><td>x<td>y</table><![endif]--><p>b</p>"
            '<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" /></xml><![endif]-->',
            "a\nx\ty\nb",
        ),
        (
            '<p>Logo: <img src="cid:1" alt="ACME"></p><input value="山田"><input type=hidden '
            'value="token">',
            "Logo: ACME\n山田",
        ),
        (
            '<p>x</p><iframe srcdoc="<table><tr><td>a<td>b</table>"></iframe><p>y</p>',
            "x\na\tb\ny",
        ),
    ],
    ids=[
        "blocks-and-whitespace",
        "br-and-nbsp",
        "script-style-comments",
        "pre",
        "colspan-padded",
        "rowspan-filled",
        "nested-table-rows-below",
        "content-after-html-end",
        "paragraphs-in-a-cell",
        "outlook-conditional-comment",
        "alt-text-and-field-values",
        "iframe-srcdoc",
    ],
)
def test_html_is_laid_out_as_a_browser_shows_it(source: str, text: str) -> None:
    assert markup.read_html(source.encode()).text == text


def test_html_tables_are_rows_of_cells_nested_ones_too() -> None:
    root = markup.parse_html(
        b"<table><tr><th>h1<th>h2<tr><td>a<br>b<td><table><tr><td>i</table></table>"
    )
    assert root is not None
    assert [(t.rows, t.depth) for t in markup.html_tables(root)] == [
        ([["h1", "h2"], ["a\nb", ""]], 0),
        ([["i"]], 1),
    ]


def test_xml_records_become_tables() -> None:
    records = "".join(
        f"<customer id='{i}'><name>{n}</name><address>{a}</address><tel>{t}</tel>"
        f"<mail>{m}</mail></customer>"
        for i, (n, a, t, m) in enumerate(ROWS)
    )
    data = f"<?xml version='1.0'?><export><title>顧客</title>{records}</export>".encode()
    content = xmldoc.read_xml(data)
    assert content.text == "顧客"
    [table] = content.records
    assert (table.name, table.rows[0], table.rows[1]) == (
        "customer",
        ["name", "address", "tel", "mail"],
        list(ROWS[0]),
    )
    [attachment] = inspect_file(data, "export.xml")
    assert attachment.personal_rows == len(ROWS)


def test_xml_runs_of_different_records_are_different_tables() -> None:
    """Flat XML (.fods-like): font declarations (records of attributes) and rows of cells
    (records of one repeated name: no header of their own) are tables apart."""
    fonts = "".join(f'<font name="F{i}" family="Family {i}"/>' for i in range(5))
    rows = "".join(
        "<row>" + "".join(f"<cell><p>{v}</p></cell>" for v in row) + "</row>"
        for row in [HEADER, *ROWS]
    )
    data = f"<?xml version='1.0'?><doc><fonts>{fonts}</fonts><table>{rows}</table></doc>".encode()
    fonts_table, cells_table = xmldoc.read_xml(data).records
    assert fonts_table.rows[0] == ["name", "family"]
    assert cells_table.rows[0] == list(HEADER)
    [attachment] = inspect_file(data, "flat.xml")
    assert attachment.personal_rows == len(ROWS)


def test_rtf_text_code_pages_unicode_and_tables() -> None:
    assert rtf.rtf_text(mc.wordpad_rtf(ROWS[:1])).splitlines() == [
        ",".join(HEADER),
        ",".join(ROWS[0]),
    ]
    unicode = rb"{\rtf1\ansi\uc2 \u23665\'8e\'52\u30000 ?? \uc1\u-10179 ?\u-8704 ? x\par}"
    assert rtf.rtf_text(unicode) == "\u5c71\u7530 \U0001f600 x"  # fallbacks skipped
    table = (
        rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\trowd\cellx100\cellx200\pard\intbl a\par b\cell"
        rb" c\cell\row\trowd\cellx100\cellx200\pard\intbl d\cell e\cell\row\pard after\par}"
    )
    assert rtf.rtf_text(table) == "a b\tc\nd\te\nafter"


# --- broken and hostile ------------------------------------------------------------------


def test_truncated_html_is_read_as_far_as_it_goes() -> None:
    body = mc.outlook_body().encode()
    cut = body[: body.index(b"</table>") - 2000]
    [attachment] = inspect_file(cut, "cut.html")
    assert attachment.unscannable is None
    assert 20 < attachment.personal_rows < len(ROWS)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("data:text/csv;base64,!!!notbase64", "corrupt"),
        ("data:text/csv;base64", "corrupt"),
        ("data:text/csv;base64,QUJD=Q", "corrupt"),
    ],
    ids=["bad-alphabet", "no-comma", "bad-padding"],
)
def test_a_malformed_data_uri_is_its_own_unscannable_record(uri: str, reason: str) -> None:
    found = inspect_file(f'<a href="{uri}">x</a>'.encode(), "a.html")
    assert [(a.path, a.status, a.unscannable) for a in found] == [
        ("a.html", "read", None),
        ("a.html/data-uri-1.csv", "unscannable", reason),
    ]
    assert "notbase64" not in (found[1].detail or "")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (mc.wordpad_rtf()[:-200], "corrupt"),
        (b"{\\rtf1 a}}} b\\par}", "corrupt"),
        (b"{\\rtf1 " + b"{" * 5000 + b"deep" + b"}" * 5000 + b"}", "limit"),
    ],
    ids=["rtf-cut-short", "rtf-closes-too-much", "rtf-nesting-bomb"],
)
def test_broken_rtf_reads_what_is_there_with_a_reason(data: bytes, reason: str) -> None:
    [attachment] = inspect_file(data, "bad.rtf")
    assert attachment.read_as is not None
    assert (attachment.unscannable, bool(attachment.detail)) == (reason, True)


def test_rtf_cut_short_still_counts_the_rows_before_the_cut() -> None:
    [attachment] = inspect_file(mc.wordpad_rtf()[:-300], "cut.rtf")
    assert attachment.unscannable == "corrupt"
    assert attachment.personal_rows >= len(ROWS) - 3


def _billion_laughs(use: bytes) -> bytes:
    entities = b' <!ENTITY lol0 "lol">\n' + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + entities + b"]>\n" + use + b"\n"


BILLION_LAUGHS = _billion_laughs(b"<lolz>&lol9;</lolz>")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BILLION_LAUGHS, "limit"),
        (_billion_laughs(b'<lolz a="&lol9;"/>'), "limit"),
        (b"<r>" + b"<d>" * 300 + b"x" + b"</d>" * 300 + b"</r>", "limit"),
        (b'<?xml version="1.0"?><r><a>1</a><b>2', "corrupt"),
        (b'<?xml version="1.0"?>not xml', "corrupt"),
        (mc.spreadsheetml()[:-400], "corrupt"),
        (
            b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>',
            "unsupported",
        ),
    ],
    ids=[
        "billion-laughs",
        "billion-laughs-in-attribute",
        "nesting-300",
        "truncated",
        "not-xml",
        "spreadsheetml-cut",
        "external-entity",
    ],
)
def test_hostile_xml_gets_a_definite_answer(data: bytes, reason: str) -> None:
    [attachment] = inspect_file(data, "x.xml")
    assert attachment.unscannable == reason
    assert attachment.detail
    assert b"root:" not in (attachment.detail or "").encode()


def test_html_nested_past_the_parser_bound_is_unscannable() -> None:
    data = b"<div>" * 300 + CSV.replace(b"\r\n", b"<br>") + b"</div>" * 300
    [attachment] = inspect_file(data, "deep.html")
    assert (attachment.unscannable, attachment.read_as) == ("limit", "text")


def test_html_too_large_is_a_limit() -> None:
    data = b"<p>" + b"x" * (markup.MAX_BYTES + 1)
    [attachment] = inspect_file(data, "big.html")
    assert attachment.unscannable == "limit"


def test_data_uris_share_the_inspection_budget() -> None:
    body = "".join(f'<img src="data:text/plain,{i}">' for i in range(30)).encode()
    found = inspect_file(body, "many.html", limits=Limits(max_members=10))
    assert found[0].unscannable == "limit"
    assert len(found) == 11


def test_an_html_attachment_in_a_message_with_its_own_charset() -> None:
    raw = message(attachments=[(mc.excel_web_xls(), "application/vnd.ms-excel", "顧客.xls")])
    assert _found(inspect_message(raw.as_bytes()).attachments) == [
        ("顧客.xls", "html", len(ROWS), None)
    ]


def test_xhtml_that_sniffs_as_xml_is_read_as_html() -> None:
    xhtml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        "<body>" + mc.thunderbird_body().split("<body>", 1)[1]
    ).encode()
    [attachment] = inspect_file(xhtml, "page.xml")
    assert (attachment.type, attachment.personal_rows) == ("xml", len(ROWS))


def test_budget_checks_run_while_reading() -> None:
    calls = []
    markup.read_html(mc.outlook_body().encode() * 3, check=lambda: calls.append(1))
    assert calls
