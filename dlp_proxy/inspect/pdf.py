"""Read a PDF (PDFium through pypdfium2): the text of every page and every embedded file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from dlp_proxy.inspect.limits import describe
from dlp_proxy.inspect.model import Unscannable

# More pages than this is not a document anyone mails as a list; it is refused, not read.
MAX_PAGES = 5000
MAX_ATTACHMENTS = 1000


@dataclass(slots=True)
class PdfContent:
    """What a PDF shows and carries: its text page by page and its embedded files."""

    pages: list[str] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    image_pages: int = 0  # pages with images and no text

    @property
    def text(self) -> str:
        return "\n".join(self.pages)


def read_pdf(data: bytes, *, check: Callable[[], None] = lambda: None) -> PdfContent:
    """The text and embedded files of a PDF. ``check`` runs between pages (the inspection's
    time budget). Raises Unscannable: encrypted (a password is needed to open it), corrupt,
    limit."""
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise Unscannable("encrypted", "password-protected PDF") from None
        raise Unscannable("corrupt", f"PDF unreadable ({describe(exc)})") from None
    content = PdfContent()
    try:
        pages = len(document)
        if pages > MAX_PAGES:
            raise Unscannable("limit", f"{pages:,} pages, over {MAX_PAGES:,}")
        for number in range(pages):
            check()
            content.pages.append(_page_text(document, number, content))
        _embedded(document, content)
    except pdfium.PdfiumError as exc:
        raise Unscannable("corrupt", f"PDF page unreadable ({describe(exc)})") from None
    finally:
        document.close()
    return content


def _page_text(document: pdfium.PdfDocument, number: int, content: PdfContent) -> str:
    page = document[number]
    try:
        textpage = page.get_textpage()
        try:
            text: str = textpage.get_text_range()
        finally:
            textpage.close()
        if not text.strip() and any(
            item.type == pdfium_c.FPDF_PAGEOBJ_IMAGE for item in page.get_objects()
        ):
            content.image_pages += 1
    finally:
        page.close()
    return text.replace("\r\n", "\n")


def _embedded(document: pdfium.PdfDocument, content: PdfContent) -> None:
    count = document.count_attachments()
    if count > MAX_ATTACHMENTS:
        raise Unscannable("limit", f"{count:,} embedded files, over {MAX_ATTACHMENTS:,}")
    for index in range(count):
        attachment = document.get_attachment(index)
        name = attachment.get_name() or f"attachment {index + 1}"
        content.files.append((name, bytes(attachment.get_data())))
