"""Binary Word and PowerPoint 97-2003 files are read like docx and pptx: a customer list in a
.doc (body, header, footnote, text box) or a .ppt table is found, its harmless twin and a plain
letter are read without findings, an encrypted .doc is encrypted, a damaged one corrupt with
what could be read still counted, and the objects embedded in them are files of their own."""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import olefile
import pytest

from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.inspect import Attachment, Limits, inspect_file, legacy
from dlp_proxy.inspect.model import Unscannable
from dlp_proxy.policy.load import load_policy
from dlp_proxy.scanner import evaluate
from tests import cfb, legacycraft
from tests.builders import HEADER, PRODUCT_HEADER, customers, message, products

ROWS = 25  # conftest.office_files
PEOPLE: list[Sequence[str]] = [HEADER, *customers(30, seed=7)]
PRICES: list[Sequence[str]] = [PRODUCT_HEADER, *products(30)]
POLICIES = Path(__file__).resolve().parents[1] / "policies"


def _inspect(data: bytes, name: str) -> tuple[Attachment, ...]:
    return inspect_file(data, name, limits=Limits())


def _summary(found: tuple[Attachment, ...]) -> list[tuple[str, str, int, str, str | None]]:
    return [(a.path, a.type, a.personal_rows, a.status, a.detail) for a in found]


def _text(data: bytes) -> legacy.Content:
    return legacy.read_doc(data, cap=1 << 24, check=lambda: None)


# --- files LibreOffice wrote ------------------------------------------------------------------


@pytest.mark.parametrize("place", [*legacycraft.PLACES, "wide"])
def test_a_list_in_a_word_97_letter_is_found(office_files: dict[str, bytes], place: str) -> None:
    """The list as a table in the body, the page header or a cell of a layout table, as
    tab-separated lines in a footnote or a text box, as a table 64 columns wide (whose
    row-end marks have their properties in the Data stream): every row counted; the
    price-list twin is read with none."""
    [found] = _inspect(office_files[f"legacy-{place}-people.doc"], "letter.doc")
    assert (found.type, found.status, found.read_as) == ("doc", "read", "table"), found.detail
    assert found.personal_rows == ROWS
    [twin] = _inspect(office_files[f"legacy-{place}-products.doc"], "letter.doc")
    assert (twin.type, twin.status, twin.personal_rows) == ("doc", "read", 0), twin.detail


def test_a_word_97_letter_is_read_as_text(office_files: dict[str, bytes]) -> None:
    """A letter without a list passes as read text; what it shows is read (the header, a
    hyperlink's text) and a field's instruction (the link's address) is not."""
    data = office_files["letter.doc"]
    [found] = _inspect(data, "letter.doc")
    assert (found.type, found.status, found.read_as, found.personal_rows) == (
        "doc",
        "read",
        "text",
        0,
    )
    content = _text(data)
    assert content.problems == []
    lines = content.text.splitlines()
    assert lines[0] == f"いつもお世話になっております。{legacycraft.LINK_TEXT}"
    assert "社外秘" in lines
    assert legacycraft.LINK not in content.text
    assert "HYPERLINK" not in content.text


def test_a_word_97_table_is_laid_out_as_rows(office_files: dict[str, bytes]) -> None:
    """Cell marks become tabs and row-end marks end the line: the header row as written."""
    content = _text(office_files["legacy-body-people.doc"])
    assert "\t".join(HEADER) in content.text.splitlines()
    assert sum(line.count("\t") == 3 for line in content.text.splitlines()) == ROWS + 1


def test_a_list_in_a_powerpoint_97_table_is_found(office_files: dict[str, bytes]) -> None:
    """A table on a slide is a group of cell shapes: laid out in rows by their anchors."""
    [found] = _inspect(office_files["legacy-people.ppt"], "deck.ppt")
    assert (found.type, found.status, found.read_as) == ("ppt", "read", "table"), found.detail
    assert found.personal_rows == ROWS
    [twin] = _inspect(office_files["legacy-products.ppt"], "deck.ppt")
    assert (twin.type, twin.status, twin.personal_rows) == ("ppt", "read", 0), twin.detail
    content = legacy.read_ppt(
        office_files["legacy-people.ppt"],
        cap=1 << 24,
        object_cap=1 << 24,
        max_ratio=250,
        check=lambda: None,
    )
    lines = content.text.splitlines()
    assert "\t".join(HEADER) in lines
    assert legacycraft.NOTES in lines  # speaker notes are read
    assert "ご提案" in lines


def test_an_encrypted_word_97_file_is_encrypted(office_files: dict[str, bytes]) -> None:
    [found] = _inspect(office_files["encrypted.doc"], "secret.doc")
    assert (found.type, found.status, found.unscannable) == ("doc", "unscannable", "encrypted")
    with pytest.raises(Unscannable) as raised:
        _text(office_files["encrypted.doc"])
    assert raised.value.reason == "encrypted"


@pytest.mark.parametrize("kind", ["doc", "ppt"])
def test_an_embedded_workbook_is_found(office_files: dict[str, bytes], kind: str) -> None:
    """A Calc object in a Writer document saved as Word 97 (an ObjectPool storage) and on an
    Impress slide saved as PowerPoint 97 (a compressed ExOleObjStg): the workbook is a file
    of its own and its list is found."""
    found = _inspect(office_files[f"embedded-people.{kind}"], f"outer.{kind}")
    assert [(a.type, a.status) for a in found] == [(kind, "read"), ("xls", "read")], _summary(found)
    assert found[1].path.startswith(f"outer.{kind}/ObjectPool/_" if kind == "doc" else "outer")
    assert found[1].personal_rows == ROWS
    twin = _inspect(office_files[f"embedded-products.{kind}"], f"outer.{kind}")
    assert [(a.status, a.personal_rows) for a in twin] == [("read", 0), ("read", 0)]


def _stream_offsets(data: bytes, name: str) -> list[int]:
    """The file offset of each byte of a stream stored in regular sectors."""
    with olefile.OleFileIO(data) as ole:
        entry = next(e for e in ole.direntries if e is not None and e.name == name)
        sector, size, fat, sector_size = entry.isectStart, entry.size, ole.fat, ole.sectorsize
    assert size >= 4096, "in the mini stream"
    offsets: list[int] = []
    while len(offsets) < size:
        base = (sector + 1) * sector_size
        offsets += range(base, base + sector_size)
        sector = fat[sector]
    return offsets[:size]


def _patch(data: bytes, stream: str, position: int, value: bytes) -> bytes:
    offsets = _stream_offsets(data, stream)
    patched = bytearray(data)
    for index, byte in enumerate(value):
        patched[offsets[position + index]] = byte
    return bytes(patched)


def test_a_cut_word_97_file_is_corrupt(office_files: dict[str, bytes]) -> None:
    """LibreOffice writes the directory last: cut anywhere, the file cannot be opened."""
    data = office_files["legacy-body-people.doc"]
    for cut in (len(data) // 2, len(data) - 100, 1000):
        [found] = _inspect(data[:cut], "letter.doc")
        assert (found.status, found.unscannable) == ("unscannable", "corrupt"), cut


def test_damaged_paragraph_properties_still_count_the_list(
    office_files: dict[str, bytes],
) -> None:
    """Garbage where the paragraph properties are: corrupt, and rows are told apart by the
    marks alone (two cell marks in a row), so the list is still counted."""
    data = office_files["legacy-body-people.doc"]
    fib = _fib_offsets(data)
    broken = _patch(data, "WordDocument", fib[13] + 4, struct.pack("<I", 0x7FFFFFF0))
    [found] = _inspect(broken, "letter.doc")
    assert (found.status, found.unscannable, found.personal_rows) == (
        "unscannable",
        "corrupt",
        ROWS,
    ), found.detail
    assert "paragraph properties" in (found.detail or "")


def test_a_wide_table_without_its_data_stream_is_corrupt_and_still_counted(
    office_files: dict[str, bytes],
) -> None:
    """The row properties of a wide table are in the Data stream: without it (renamed), the
    file is corrupt and rows are told apart by the marks alone."""
    data = office_files["legacy-wide-people.doc"]
    name = "Data".encode("utf-16-le") + b"\x00\x00"
    assert data.count(name) == 1
    broken = data.replace(name, "Xata".encode("utf-16-le") + b"\x00\x00")
    [found] = _inspect(broken, "wide.doc")
    assert (found.status, found.unscannable, found.personal_rows) == (
        "unscannable",
        "corrupt",
        ROWS,
    ), found.detail
    assert "missing from the Data stream" in (found.detail or "")


def test_a_piece_table_pointing_nowhere_is_corrupt(office_files: dict[str, bytes]) -> None:
    data = office_files["legacy-body-people.doc"]
    fib = _fib_offsets(data)
    broken = _patch(data, "WordDocument", fib[33], struct.pack("<I", 0x7FFFFFF0))
    [found] = _inspect(broken, "letter.doc")
    assert (found.type, found.status, found.unscannable) == ("doc", "unscannable", "corrupt")
    assert "piece table" in (found.detail or "")


def _fib_offsets(data: bytes) -> dict[int, int]:
    """Offsets in the WordDocument stream of the FIB's (fc, lcb) pairs 13 and 33."""
    with olefile.OleFileIO(data) as ole:
        word = ole.openstream("WordDocument").read()
    position = 32
    position += 2 + 2 * struct.unpack_from("<H", word, position)[0]
    position += 2 + 4 * struct.unpack_from("<H", word, position)[0]
    return {pair: position + 2 + 8 * pair for pair in (13, 33)}


# --- .doc files written by hand ------------------------------------------------------------


def _table_doc(rows: Sequence[Sequence[str]], *, empty_cells: bool = False) -> bytes:
    return legacycraft.word97_table(rows, empty_cells=empty_cells)


def test_row_ends_come_from_paragraph_properties() -> None:
    """A row ending in an empty cell reads as two cell marks in a row: only the paragraph
    properties tell the row's end from an empty cell."""
    content = _text(_table_doc(PEOPLE, empty_cells=True))
    assert content.problems == []
    rows = [line for line in content.text.splitlines() if "\t" in line]
    assert rows == ["\t".join([*row, ""]) for row in PEOPLE]
    [found] = _inspect(_table_doc(PEOPLE, empty_cells=True), "t.doc")
    assert (found.status, found.personal_rows) == ("read", len(PEOPLE) - 1)
    [twin] = _inspect(_table_doc(PRICES), "t.doc")
    assert (twin.status, twin.personal_rows) == ("read", 0)


def test_fields_keep_their_result_and_drop_their_instruction() -> None:
    """Nested fields: only what Word displays is read; special characters are stripped."""
    text = (
        "Total: \x13 = \x13 REF a \x14ignored-inner\x15 + 1 \x14 42\x15.\r"
        "Page \x13 PAGE \x15 end\x01\x08\r"
        "Résumé – “quoted” café\r"
    )
    content = _text(legacycraft.word97([legacycraft.Piece(text, compressed=True)]))
    assert content.text.splitlines() == ["Total:  42.", "Page  end", "Résumé – “quoted” café"]


def test_pieces_in_both_encodings_and_all_stories_are_read() -> None:
    """8-bit (Windows-1252) and UTF-16 pieces, the main text and a header story."""
    pieces = [
        legacycraft.Piece("Price list\r", compressed=True),
        legacycraft.Piece("価格表\r"),
        legacycraft.Piece("社外秘\r\r"),
    ]
    data = legacycraft.word97(pieces, ccp_text=15, ccp_hdd=4)  # and one last paragraph mark
    content = _text(data)
    assert content.text.splitlines() == ["Price list", "価格表", "社外秘"]
    assert content.problems == []


def test_a_piece_table_shorter_than_the_main_text_is_corrupt() -> None:
    """The FIB's main text is longer than all pieces: pieces were lost. Story counts that do
    not add up otherwise cost nothing: every piece is read anyway."""
    pieces = [legacycraft.Piece("hello\r")]
    short = _text(legacycraft.word97(pieces, ccp_text=100))
    assert [p.detail for p in short.problems] == [
        "the piece table holds 6 characters, the main text 100"
    ]
    assert _text(legacycraft.word97(pieces, ccp_text=3, ccp_hdd=9)).problems == []


def test_a_piece_past_the_stream_costs_that_piece_only() -> None:
    """A piece whose text lies past the WordDocument stream is corrupt; the list in the next
    piece is still counted."""
    rows = "".join("\t".join(row) + "\r" for row in PEOPLE)
    data = legacycraft.word97(
        [legacycraft.Piece("lost text\r", compressed=True), legacycraft.Piece(rows)]
    )
    fc = legacycraft.TEXT_AT * 2 | 0x40000000
    patched = data.replace(struct.pack("<HIH", 0, fc, 0), struct.pack("<HIH", 0, 0x3FFFFF00, 0))
    assert patched != data
    [found] = _inspect(patched, "x.doc")
    assert (found.unscannable, found.personal_rows) == ("corrupt", len(PEOPLE) - 1)
    assert "piece 0 runs past the end" in (found.detail or "")


def test_pieces_that_reuse_the_stream_cannot_multiply_it() -> None:
    """10,000 pieces all pointing at the same text: read until they hold more text than the
    stream, then corrupt."""
    data = legacycraft.word97([legacycraft.Piece("x" * 500 + "\r")], repeat=10_000)
    content = _text(data)
    assert len(content.text) < 20_000
    assert [p.reason for p in content.problems] == ["corrupt"]


def test_a_cut_word_97_file_whose_directory_is_left_is_read_as_far_as_it_goes() -> None:
    rows = "".join("\t".join(row) + "\r" for row in PEOPLE)
    data = legacycraft.word97([legacycraft.Piece("Hello\r"), legacycraft.Piece(rows)])
    [whole] = _inspect(data, "x.doc")
    assert (whole.status, whole.personal_rows) == ("read", len(PEOPLE) - 1)
    [cut] = _inspect(data[: len(data) * 3 // 4], "x.doc")
    assert cut.unscannable == "corrupt"
    assert "file cut short" in (cut.detail or "")
    assert 0 < cut.personal_rows < len(PEOPLE) - 1


def test_a_word_6_document_is_unsupported() -> None:
    data = legacycraft.word97([legacycraft.Piece("x\r")])
    old = data.replace(b"\xec\xa5\xc1\x00", b"\xec\xa5\x65\x00", 1)
    [found] = _inspect(old, "old.doc")
    assert (found.type, found.unscannable) == ("doc", "unsupported")
    assert "Word 6.0/95" in (found.detail or "")


# --- .ppt records written by hand ------------------------------------------------------------


_record = legacycraft.ppt_record


def _ppt(stream: bytes) -> bytes:
    return cfb.compound_file({"PowerPoint Document": stream, "Current User": bytes(20)})


def _ppt_text(lines: Sequence[str]) -> bytes:
    return legacycraft.ppt_text(*lines)


def test_deeply_nested_ppt_records_are_a_limit_and_the_rest_is_read() -> None:
    nested = _ppt_text(["deep"])
    for _ in range(10_000):
        nested = _record(0x0FF0, nested, container=True)
    rows = ["\t".join(row) for row in PEOPLE]
    stream = _record(0x03E8, _ppt_text(rows), container=True) + nested
    [found] = _inspect(_ppt(stream), "deep.ppt")
    assert (found.unscannable, found.personal_rows) == ("limit", len(PEOPLE) - 1), found.detail


def test_a_ppt_record_past_its_container_is_corrupt() -> None:
    rows = ["\t".join(row) for row in PEOPLE]
    stream = _record(0x03E8, _ppt_text(rows), container=True)
    stream += struct.pack("<HHI", 0, 0x0FA0, 1 << 30) + "tail".encode("utf-16-le")
    [found] = _inspect(_ppt(stream), "cut.ppt")
    assert (found.unscannable, found.personal_rows) == ("corrupt", len(PEOPLE) - 1)


def test_a_compressed_ppt_object_is_bounded() -> None:
    """An ExOleObjStg declaring 1 GiB (a zlib bomb) is refused before it is inflated; one
    whose size lies is corrupt; a good one is a file of its own."""
    inner = cfb.compound_file({"Package": b"PK\x05\x06" + bytes(18)})
    good = _record(0x1011, struct.pack("<I", len(inner)) + zlib.compress(inner), instance=1)
    bomb = _record(0x1011, struct.pack("<I", 1 << 30) + zlib.compress(bytes(1 << 20)), instance=1)
    lying = _record(0x1011, struct.pack("<I", 10) + zlib.compress(inner), instance=1)
    found = _inspect(_ppt(_ppt_text(["Hello"]) + good + bomb + lying), "o.ppt")
    assert found[0].unscannable == "limit"
    assert "object 2" in (found[0].detail or "") and "object 3" in (found[0].detail or "")
    assert [a.path for a in found[1:]] == ["o.ppt/object 1", "o.ppt/object 1/Package"]


def test_an_encrypted_ppt_is_encrypted() -> None:
    stream = _ppt_text(["Hello"]) + _record(0x2F14, bytes(40), container=True)
    [found] = _inspect(_ppt(stream), "secret.ppt")
    assert (found.type, found.unscannable) == ("ppt", "encrypted")


def test_many_problems_are_counted_not_listed() -> None:
    """One problem per record (1,000 broken objects): ten named, the rest counted."""
    broken = _record(0x1011, struct.pack("<I", 10) + b"junk", instance=1) * 1000
    [found] = _inspect(_ppt(_ppt_text(["Hello"]) + broken), "o.ppt")
    assert found.unscannable == "corrupt"
    assert (found.detail or "").endswith("; 990 more problems")
    assert (found.detail or "").count("does not inflate") == 10


# --- the shipped policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("letter.doc", "pass"),
        ("legacy-body-products.doc", "pass"),
        ("legacy-products.ppt", "pass"),
        ("legacy-body-people.doc", "hold"),
        ("legacy-people.ppt", "hold"),
        ("encrypted.doc", "hold"),
    ],
)
def test_the_shipped_policy_passes_letters_and_stops_lists(
    office_files: dict[str, bytes], tmp_path: Path, name: str, action: str
) -> None:
    """Before, every .doc and .ppt mailed outside was held as unsupported; now a letter and a
    price list pass, and a customer list (or an encrypted file) is still stopped."""
    shutil.copy(POLICIES / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / "local.yaml").write_text("internal_domains: [corp.example]\n")
    policy = load_policy(tmp_path).policy
    raw = message(attachments=[(office_files[name], "application/msword", name)]).as_bytes()
    envelope = Envelope("legacy", "sales@corp.example", ("buyer@customer.example",), Client("::1"))
    verdict = evaluate(raw, envelope, policy)
    assert verdict.decision.action == action, (verdict.decision.rules, verdict.inspection)


def test_every_object_in_the_object_pool_is_a_file() -> None:
    """As in a docx: an object of a kind we know is opened, one we do not is listed as
    unsupported (the policy decides), never skipped."""
    pool = {
        "_1": {"\x01CompObj": b"\x01\x00\xfe\xff", "Package": _csv_bytes()},
        "_2": {"\x01CompObj": b"\x01\x00\xfe\xff", "Equation Native": bytes(64)},
    }
    data = legacycraft.word97_table(PRICES, extra={"ObjectPool": pool})
    found = _inspect(data, "x.doc")
    assert [(a.path, a.type, a.status, a.unscannable) for a in found] == [
        ("x.doc", "doc", "read", None),
        ("x.doc/ObjectPool/_1", "ole", "read", None),
        ("x.doc/ObjectPool/_1/Package", "csv", "read", None),
        ("x.doc/ObjectPool/_2", "ole", "unscannable", "unsupported"),
    ]
    assert found[2].personal_rows == len(PEOPLE) - 1


def _csv_bytes() -> bytes:
    return "".join(",".join(row) + "\r\n" for row in PEOPLE).encode()
