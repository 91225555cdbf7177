"""HTML, XML and RTF as mailers and programs write them: Outlook's Word HTML with a pasted
Excel range, Thunderbird's and Gmail's HTML, Excel's "web page" .xls, Excel's SpreadsheetML
2003, WordPad's Japanese RTF and Word's embedded objects (MS-OLEDS OLE1 headers, by hand)."""

from __future__ import annotations

import base64
import html
import quopri
import struct
from collections.abc import Sequence

from tests.builders import HEADER, customers

Rows = Sequence[Sequence[str]]
CUSTOMERS = customers(30)


def _e(text: str) -> str:
    return html.escape(text, quote=False)


# --- Outlook (Word 16 HTML, "filtered medium") ----------------------------------------------

OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" \
xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" \
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv=Content-Type content="text/html; charset=iso-2022-jp">
<meta name=Generator content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{font-family:"ＭＳ ゴシック";
\tpanose-1:2 11 6 9 7 2 5 8 2 4;}
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:游ゴシック;
\tpanose-1:2 11 4 0 0 0 0 0 0 0;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0mm;
\ttext-align:justify;
\ttext-justify:inter-ideograph;
\tfont-size:10.5pt;
\tfont-family:游ゴシック;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#0563C1;
\ttext-decoration:underline;}
span.EmailStyle17
\t{mso-style-type:personal-compose;
\tfont-family:游ゴシック;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;
\tfont-family:游ゴシック;}
/* Page Definitions */
@page WordSection1
\t{size:612.0pt 792.0pt;
\tmargin:99.25pt 30.0mm 30.0mm 30.0mm;}
div.WordSection1
\t{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang=JA link="#0563C1" vlink="#954F72" style='text-justify-trim:punctuation'>
<div class=WordSection1>
"""

OUTLOOK_SIGNATURE = """<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>--<o:p></o:p></p>
<p class=MsoNormal>株式会社サンプル販売　営業部<o:p></o:p></p>
<p class=MsoNormal>鈴木 一郎<o:p></o:p></p>
<p class=MsoNormal>TEL: 03-5555-0101 / FAX: 03-5555-0102<o:p></o:p></p>
<p class=MsoNormal>E-mail: <a href="mailto:suzuki@dealer.example.jp">\
suzuki@dealer.example.jp</a><o:p></o:p></p>
"""


def _outlook_cell(text: str, width: int) -> str:
    return (
        f"<td width={width} nowrap valign=bottom style='width:{width * 0.75:.1f}pt;"
        "border:solid windowtext 1.0pt;padding:0mm 5.4pt 0mm 5.4pt;height:18.75pt'>\n"
        "<p class=MsoNormal align=left style='text-align:left'><span style='font-size:11.0pt;"
        f'font-family:"游ゴシック",sans-serif;color:black\'>{_e(text) or "&nbsp;"}'
        "<o:p></o:p></span></p>\n</td>\n"
    )


def outlook_table(rows: Rows, *, header: Sequence[str] = HEADER) -> str:
    """An Excel range pasted into Outlook: a MsoNormalTable of nowrap cells, one Word
    paragraph in each."""
    widths = [101, 300, 120, 220, 80, 80][: len(header)]
    body = "".join(
        "<tr style='height:18.75pt'>\n"
        + "".join(_outlook_cell(cell, width) for cell, width in zip(row, widths, strict=False))
        + "</tr>\n"
        for row in [header, *rows]
    )
    return (
        "<table class=MsoNormalTable border=0 cellspacing=0 cellpadding=0 width=821 "
        "style='width:616.0pt;border-collapse:collapse'>\n" + body + "</table>\n"
    )


def outlook_html(paragraphs: Sequence[str], *, table: str = "") -> str:
    prose = "".join(f"<p class=MsoNormal>{_e(p)}<o:p></o:p></p>\n" for p in paragraphs)
    return (
        OUTLOOK_HEAD
        + prose
        + "<p class=MsoNormal><o:p>&nbsp;</o:p></p>\n"
        + table
        + OUTLOOK_SIGNATURE
        + "</div>\n</body>\n</html>\n"
    )


def outlook_body(rows: Rows = CUSTOMERS) -> str:
    return outlook_html(
        ["お世話になっております。", "ご依頼の顧客リストを以下に貼り付けます。"],
        table=outlook_table(rows),
    )


def typical_outlook_body(size: int = 30_000) -> str:
    """An Outlook HTML reply of about ``size`` bytes: Word's head, prose paragraphs, a
    signature, no list (most HTML mail)."""
    sentence = "先日はお打ち合わせのお時間をいただき、誠にありがとうございました。"
    paragraphs: list[str] = []
    while len(outlook_html(paragraphs).encode()) < size:
        paragraphs.append(sentence * 2)
    return outlook_html(paragraphs)


def tab_text(rows: Rows, *, header: Sequence[str] = HEADER) -> str:
    """The text/plain twin mailers write for a pasted table: cells tab-separated."""
    return "".join("\t".join(row) + "\r\n" for row in [header, *rows])


# --- Thunderbird and Gmail ------------------------------------------------------------------


def thunderbird_body(rows: Rows = CUSTOMERS) -> str:
    """Thunderbird 115 after pasting a LibreOffice Calc range."""
    cells = "".join(
        "        <tr>\n"
        + "".join(
            '          <td style="border-top: 1px solid #000000; border-bottom: 1px solid '
            '#000000; border-left: 1px solid #000000; border-right: 1px solid #000000" '
            f'height="17" align="left">{_e(cell)}</td>\n'
            for cell in row
        )
        + "        </tr>\n"
        for row in [HEADER, *rows]
    )
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n\n"
        '    <meta http-equiv="content-type" content="text/html; charset=UTF-8">\n'
        "  </head>\n  <body>\n    <p>お世話になっております。</p>\n"
        "    <p>顧客リストをお送りします。<br>\n    </p>\n"
        '    <table width="465" cellspacing="0" border="0">\n'
        '      <colgroup width="85"></colgroup>\n      <colgroup width="164"></colgroup>\n'
        '      <colgroup width="101"></colgroup>\n      <colgroup width="115"></colgroup>\n'
        "      <tbody>\n" + cells + "      </tbody>\n    </table>\n    <p><br>\n    </p>\n"
        '    <div class="moz-signature">-- <br>\n      鈴木 一郎<br>\n'
        "      株式会社サンプル販売</div>\n  </body>\n</html>\n"
    )


def gmail_body(rows: Rows = CUSTOMERS) -> str:
    """Gmail after pasting a Google Sheets range: one line of HTML."""
    row_html = "".join(
        '<tr style="height:21px">'
        + "".join(
            '<td style="overflow:hidden;padding:2px 3px 2px 3px;vertical-align:bottom">'
            f"{_e(cell)}</td>"
            for cell in row
        )
        + "</tr>"
        for row in [HEADER, *rows]
    )
    return (
        '<div dir="ltr"><div>お世話になっております。</div><div><br></div>'
        '<google-sheets-html-origin><table xmlns="http://www.w3.org/1999/xhtml" cellspacing="0" '
        'cellpadding="0" dir="ltr" border="1" style="table-layout:fixed;font-size:10pt;'
        'font-family:Arial;width:0px;border-collapse:collapse;border:none" data-sheets-root="1">'
        '<colgroup><col width="100"><col width="260"><col width="120"><col width="200">'
        "</colgroup><tbody>" + row_html + "</tbody></table></google-sheets-html-origin>"
        '<div><br></div><span class="gmail_signature_prefix">-- </span><br>'
        '<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">'
        '<div dir="ltr">鈴木 一郎<div>株式会社サンプル販売</div></div></div></div>\n'
    )


def newsletter_body() -> str:
    """A retailer's HTML newsletter: layout tables, a price table, an unsubscribe footer."""
    items = [("ノートPC 14型", "98,000円", "在庫あり"), ("ワイヤレスマウス", "2,980円", "在庫あり")]
    items += [("USB-C ハブ", "4,480円", "残りわずか"), ("27型モニター", "32,800円", "予約受付中")]
    prices = "".join(
        f'<tr><td style="padding:4px">{_e(a)}</td><td align="right">{_e(b)}</td>'
        f"<td>{_e(c)}</td></tr>"
        for a, b, c in items
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>春のセール</title>'
        "<style>td{font-family:sans-serif}.btn{background:#c00;color:#fff}</style></head>"
        '<body><table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
        '<td align="center"><table role="presentation" width="600"><tr><td>'
        '<img src="https://shop.example.jp/logo.png" alt="ショップ" width="200">'
        "<h1>春のセール開催中</h1><p>人気商品が最大30%オフ。</p>"
        '<table border="1" cellpadding="4"><tr><th>商品</th><th>価格</th><th>在庫</th></tr>'
        + prices
        + '</table><p><a class="btn" href="https://shop.example.jp/sale">今すぐ購入</a></p>'
        '</td></tr><tr><td><p style="font-size:11px">配信停止は'
        '<a href="https://shop.example.jp/unsubscribe">こちら</a>。<br>'
        "株式会社ショップ 東京都千代田区丸の内1-1-1 TEL 03-0000-0000</p>"
        "</td></tr></table></td></tr></table></body></html>"
    )


def signature_body() -> str:
    """An Outlook reply with nothing but a signature in a layout table."""
    return (
        OUTLOOK_HEAD
        + "<p class=MsoNormal>承知しました。<o:p></o:p></p>\n"
        + "<table class=MsoNormalTable border=0 cellspacing=0 cellpadding=0><tr>"
        "<td style='padding:0mm'><p class=MsoNormal><b>鈴木 一郎</b><o:p></o:p></p>"
        "<p class=MsoNormal>株式会社サンプル販売 営業部<o:p></o:p></p></td>"
        "<td style='padding:0mm 0mm 0mm 8pt'><p class=MsoNormal>TEL 03-5555-0101<o:p></o:p></p>"
        "<p class=MsoNormal>suzuki@dealer.example.jp<o:p></o:p></p></td></tr></table>\n"
        "</div>\n</body>\n</html>\n"
    )


# --- Excel "web page" (.htm saved as .xls) and SpreadsheetML 2003 ------------------------------

EXCEL_WEB_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml"
xmlns:o="urn:schemas-microsoft-com:office:office"
xmlns:x="urn:schemas-microsoft-com:office:excel"
xmlns="http://www.w3.org/TR/REC-html40">

<head>
<meta http-equiv=Content-Type content="text/html; charset=shift_jis">
<meta name=ProgId content=Excel.Sheet>
<meta name=Generator content="Microsoft Excel 15">
<style>
<!--table
\t{mso-displayed-decimal-separator:"\\.";
\tmso-displayed-thousand-separator:"\\,";}
.xl65
\t{mso-number-format:"\\@";}
-->
</style>
<!--[if gte mso 9]><xml>
 <x:ExcelWorkbook>
  <x:ExcelWorksheets>
   <x:ExcelWorksheet>
    <x:Name>顧客</x:Name>
    <x:WorksheetOptions>
     <x:Selected/>
    </x:WorksheetOptions>
   </x:ExcelWorksheet>
  </x:ExcelWorksheets>
 </x:ExcelWorkbook>
</xml><![endif]-->
</head>

<body link="#0563C1" vlink="#954F72">

<table border=0 cellpadding=0 cellspacing=0 width=700 style='border-collapse:
 collapse;table-layout:fixed;width:525pt'>
 <col width=100 style='mso-width-source:userset;width:75pt'>
 <col width=300 style='mso-width-source:userset;width:225pt'>
 <col width=120 style='width:90pt'>
 <col width=180 style='width:135pt'>
"""


def excel_web_xls(rows: Rows = CUSTOMERS) -> bytes:
    """What exporters and Excel's "Save as Web Page" write and mail as .xls (Shift_JIS)."""
    body = "".join(
        " <tr height=18 style='height:13.5pt'>\n"
        + "".join(f"  <td class=xl65>{_e(cell)}</td>\n" for cell in row)
        + " </tr>\n"
        for row in [HEADER, *rows]
    )
    return (EXCEL_WEB_HEAD + body + "</table>\n\n</body>\n\n</html>\n").encode("cp932")


def spreadsheetml(rows: Rows = CUSTOMERS, *, hidden_rows: Rows = ()) -> bytes:
    """Excel 2003's "XML Spreadsheet": ss:Index skipping an empty column, a merged title
    row, a second, hidden worksheet."""

    def cells(row: Sequence[str]) -> str:
        name, address, phone, email = row
        return (
            f'<Cell><Data ss:Type="String">{_e(name)}</Data></Cell>'
            f'<Cell ss:Index="3"><Data ss:Type="String">{_e(address)}</Data></Cell>'
            f'<Cell><Data ss:Type="String">{_e(phone)}</Data></Cell>'
            f'<Cell ss:StyleID="s62"><Data ss:Type="String">{_e(email)}</Data></Cell>'
        )

    def table(title: str, data: Rows) -> str:
        return (
            f'  <Table ss:ExpandedColumnCount="5" ss:ExpandedRowCount="{len(data) + 2}" '
            'x:FullColumns="1" x:FullRows="1" ss:DefaultColumnWidth="54" '
            'ss:DefaultRowHeight="18.75">\n'
            f'   <Row ss:AutoFitHeight="0"><Cell ss:MergeAcross="4"><Data ss:Type="String">'
            f"{_e(title)}</Data></Cell></Row>\n"
            f"   <Row>{cells(HEADER)}</Row>\n"
            + "".join(f"   <Row>{cells(row)}</Row>\n" for row in data)
            + "  </Table>\n"
        )

    hidden = (
        ' <Worksheet ss:Name="旧顧客">\n'
        + table("旧顧客", hidden_rows)
        + '  <WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel">\n'
        "   <Visible>SheetHidden</Visible>\n  </WorksheetOptions>\n </Worksheet>\n"
        if hidden_rows
        else ""
    )
    return (
        '<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"\n'
        ' xmlns:o="urn:schemas-microsoft-com:office:office"\n'
        ' xmlns:x="urn:schemas-microsoft-com:office:excel"\n'
        ' xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"\n'
        ' xmlns:html="http://www.w3.org/TR/REC-html40">\n'
        ' <DocumentProperties xmlns="urn:schemas-microsoft-com:office:office">\n'
        "  <Author>suzuki</Author>\n  <Created>2024-04-01T00:00:00Z</Created>\n"
        "  <Version>16.00</Version>\n </DocumentProperties>\n"
        ' <Styles>\n  <Style ss:ID="Default" ss:Name="Normal">\n'
        '   <Alignment ss:Vertical="Center"/>\n   <Font ss:FontName="游ゴシック" x:CharSet="128"'
        ' x:Family="Modern" ss:Size="11" ss:Color="#000000"/>\n  </Style>\n'
        '  <Style ss:ID="s62"><NumberFormat ss:Format="@"/></Style>\n </Styles>\n'
        ' <Worksheet ss:Name="顧客">\n'
        + table("顧客一覧 2024年4月", rows)
        + '  <WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel">\n'
        "   <Selected/>\n   <ProtectObjects>False</ProtectObjects>\n"
        "  </WorksheetOptions>\n </Worksheet>\n" + hidden + "</Workbook>\n"
    ).encode()


# --- RTF --------------------------------------------------------------------------------------


def _rtf_cp932(text: str) -> str:
    out = []
    for char in text:
        if ord(char) < 0x80:
            out.append("\\" + char if char in "\\{}" else char)
        else:
            out.append("".join(f"\\'{byte:02x}" for byte in char.encode("cp932")))
    return "".join(out)


def wordpad_rtf(rows: Rows = CUSTOMERS) -> bytes:
    """WordPad (Japanese Windows): \\ansicpg932, a \\fcharset128 font, text as \\'hh bytes
    of cp932, the list as comma-separated paragraphs."""
    lines = "".join(_rtf_cp932(",".join(row)) + "\\par\r\n" for row in [HEADER, *rows])
    return (
        "{\\rtf1\\ansi\\ansicpg932\\deff0\\nouicompat\\deflang1033\\deflangfe1041"
        "{\\fonttbl{\\f0\\fnil\\fcharset128 \\'82\\'6c\\'82\\'72 \\'96\\'be\\'92\\'a9;}}\r\n"
        "{\\*\\generator Riched20 10.0.19041}\\viewkind4\\uc1 \r\n"
        "\\pard\\sa200\\sl276\\slmult1\\f0\\fs22\\lang1041 " + lines + "}\r\n\x00"
    ).encode("ascii")


def ole1_embedded(class_name: str, native: bytes) -> bytes:
    """An OLE1 EmbeddedObject (MS-OLEDS 2.2.5): header, class, empty topic and item names,
    the native data, then an empty presentation object (as Word writes them)."""
    name = class_name.encode("ascii") + b"\x00"
    return (
        struct.pack("<II", 0x00000501, 2)
        + struct.pack("<I", len(name))
        + name
        + struct.pack("<II", 0, 0)
        + struct.pack("<I", len(native))
        + native
        + struct.pack("<II", 0x00000501, 0)
    )


def packager(name: str, data: bytes) -> bytes:
    """Windows Packager native data for an embedded file (what Word's Insert > Object >
    Create from File stores for a .csv)."""
    label = name.encode("cp932") + b"\x00"
    path = b"C:\\Users\\suzuki\\Desktop\\" + name.encode("cp932") + b"\x00"
    temp = b"C:\\Users\\suzuki\\AppData\\Local\\Temp\\" + name.encode("cp932") + b"\x00"
    return (
        struct.pack("<H", 2)
        + label
        + path
        + struct.pack("<HH", 0, 3)
        + struct.pack("<I", len(temp))
        + temp
        + struct.pack("<I", len(data))
        + data
    )


def rtf_with_object(class_name: str, native: bytes, *, binary: bool = False) -> bytes:
    """A Word document holding one embedded object: \\object\\objemb, its class, the OLE1
    data in hex lines of 128 digits (or one \\bin run), a \\result picture left out."""
    blob = ole1_embedded(class_name, native)
    if binary:
        data = b"\\bin" + str(len(blob)).encode() + b" " + blob
    else:
        digits = blob.hex().encode()
        data = b"\r\n".join(digits[i : i + 128] for i in range(0, len(digits), 128))
    return (
        b"{\\rtf1\\adeflang1025\\ansi\\ansicpg1252\\uc1\\adeff0\\deff0"
        b"{\\fonttbl{\\f0\\fbidi \\froman\\fcharset0\\fprq2 Times New Roman;}}\r\n"
        b"{\\*\\generator Microsoft Word 16.0;}\\pard\\plain Attached list:\\par\r\n"
        b"{\\object\\objemb\\objw1440\\objh960{\\*\\objclass " + class_name.encode() + b"}"
        b"{\\*\\objdata " + data + b"\r\n}"
        b"{\\result {\\pict\\wmetafile8\\picw1440\\pich960 0100090000033000000000000000}}}"
        b"\\par}\r\n"
    )


def data_uri_link(data: bytes, media: str = "text/csv") -> str:
    """An HTML body whose link downloads a file held in the link itself."""
    uri = f"data:{media};base64,{base64.b64encode(data).decode()}"
    return (
        '<html><body><div dir="ltr"><p>資料はこちらからダウンロードしてください: '
        f'<a href="{uri}" download="list.csv">list.csv</a></p></div></body></html>'
    )


def qp(text: str, charset: str = "utf-8") -> bytes:
    encoded = text.encode("iso2022_jp" if charset == "iso-2022-jp" else charset)
    return quopri.encodestring(encoded).replace(b"\n", b"\r\n")


def alternative(plain: str, markup: str, *, charset: str = "utf-8") -> bytes:
    """multipart/alternative as Outlook and Thunderbird send it: the plain twin first,
    quoted-printable both."""
    return (
        b"From: sales@dealer.example.jp\r\nTo: customer@example.com\r\nSubject: list\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="_000_alt_"\r\n\r\n'
        b"--_000_alt_\r\n"
        b'Content-Type: text/plain; charset="' + charset.encode() + b'"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + qp(plain, charset)
        + b"\r\n--_000_alt_\r\n"
        b'Content-Type: text/html; charset="' + charset.encode() + b'"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + qp(markup, charset)
        + b"\r\n--_000_alt_--\r\n"
    )


def html_only(markup: str | bytes, *, charset: str = "utf-8") -> bytes:
    body = markup.encode(charset) if isinstance(markup, str) else markup
    return (
        b"From: sales@dealer.example.jp\r\nTo: customer@example.com\r\nSubject: html\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: text/html; charset="' + charset.encode() + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(body).replace(b"\n", b"\r\n")
    )


def outlook_rtf_html(rows: Rows = CUSTOMERS) -> bytes:
    """An Outlook RTF body that encapsulates HTML (MS-OXRTFEX \\fromhtml1): the markup in
    \\*\\htmltag groups, RTF-only formatting between \\htmlrtf and \\htmlrtf0, Japanese text as
    \\'hh bytes of cp932, the pasted range as a table both ways."""

    def cell(text: str) -> str:
        return (
            "{\\*\\htmltag84 <td nowrap valign=bottom style='padding:0mm 5.4pt'>}"
            "\\htmlrtf {\\htmlrtf0 " + _rtf_cp932(text) + "\\htmlrtf }\\htmlrtf0 \r\n"
            "{\\*\\htmltag92 </td>}\\htmlrtf \\cell \\htmlrtf0 \r\n"
        )

    table = "".join(
        "{\\*\\htmltag68 <tr>}\\htmlrtf {\\trowd\\cellx1500\\cellx4500\\cellx6000\\cellx9000"
        "\\pard\\intbl \\htmlrtf0 \r\n"
        + "".join(cell(value) for value in row)
        + "{\\*\\htmltag76 </tr>}\\htmlrtf \\row}\\htmlrtf0 \r\n"
        for row in [HEADER, *rows]
    )
    return (
        "{\\rtf1\\ansi\\ansicpg932\\fromhtml1 \\fbidis \\deff0{\\fonttbl\r\n"
        "{\\f0\\fswiss\\fcharset128 MS UI Gothic;}\r\n{\\f1\\fmodern MS Gothic;}\r\n"
        "{\\f2\\fnil\\fcharset2 Symbol;}\r\n{\\f3\\fmodern\\fcharset0 Courier New;}}\r\n"
        "{\\colortbl\\red0\\green0\\blue0;\\red5\\green99\\blue193;}\r\n"
        "\\uc1\\pard\\plain\\deftab360 \\f0\\fs24 \r\n"
        "{\\*\\htmltag19 <html>}\r\n{\\*\\htmltag34 <head>}\r\n"
        '{\\*\\htmltag241 <meta http-equiv="Content-Type" content="text/html; '
        'charset=shift_jis">}\r\n'
        "{\\*\\htmltag41 </head>}\r\n"
        "{\\*\\htmltag50 <body lang=JA>}\\htmlrtf \\lang1041 \\htmlrtf0 \r\n"
        "{\\*\\htmltag64 <p class=MsoNormal>}\\htmlrtf {\\htmlrtf0 "
        + _rtf_cp932("お世話になっております。")
        + "\\htmlrtf }\\htmlrtf0 \r\n{\\*\\htmltag72 </p>}\\htmlrtf \\par \\htmlrtf0 \r\n"
        "{\\*\\htmltag0 <table class=MsoNormalTable border=0 cellspacing=0 cellpadding=0>}"
        "\\htmlrtf {\\htmlrtf0 \r\n" + table + "{\\*\\htmltag0 </table>}\\htmlrtf }\\htmlrtf0 \r\n"
        "{\\*\\htmltag58 </body>}\r\n{\\*\\htmltag27 </html>}}\r\n"
    ).encode("ascii")
