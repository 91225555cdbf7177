from __future__ import annotations

import shutil
import subprocess
from email import message_from_bytes
from email.policy import compat32, default
from email.utils import getaddresses
from pathlib import Path

import pytest

from dlp_proxy.actions import mimetree, rewrite
from dlp_proxy.inspect.recipients import Domains
from tests import bytecheck, mailcorpus

SAMPLES = {sample.name: sample for sample in mailcorpus.samples()}
INTERNAL = Domains(["dealer.example.jp"])
JIS_NAME = "あがえ七".encode("iso2022_jp")  # its JIS bytes hold '"', ',', '(' and '<'


# replace_entities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["email-alternative-related", "nested-mixed", "nested-bare-lf", "digest", "odd-parts"],
    ids=["alternative-related", "nested", "bare-lf", "digest", "odd-parts"],
)
def test_replacing_every_leaf_keeps_all_other_bytes(name: str) -> None:
    raw = SAMPLES[name].raw
    sections = [leaf.section for leaf in mimetree.parse(raw).leaves()]
    replacements = {
        section: b"Content-Type: text/x-new; n=%d\r\n\r\nnew %d" % (i, i)
        for i, section in enumerate(sections)
    }
    out = rewrite.replace_entities(raw, replacements)
    bytecheck.assert_only_leaves_changed(raw, out, sections)
    seen = [
        part.get_content_type()
        for part in message_from_bytes(out, policy=compat32).walk()
        if not part.is_multipart()
    ]
    assert seen.count("text/x-new") == len(sections)
    if name == "nested-bare-lf":
        assert b"\r" not in out


def test_one_replacement_changes_one_range_only() -> None:
    raw = SAMPLES["related-inline-image"].raw
    out = rewrite.replace_entities(raw, {"1.2": b"Content-Type: text/plain\r\n\r\ngone"})
    leaf = rewrite.target(mimetree.parse(raw), "1.2")
    assert out[: leaf.start] == raw[: leaf.start]
    assert out[len(out) - (len(raw) - leaf.end) :] == raw[leaf.end :]
    assert out[leaf.start : len(out) - (len(raw) - leaf.end)] == (
        b"Content-Type: text/plain\r\n\r\ngone"
    )


def test_attached_message_without_a_blank_line_is_refused() -> None:
    # Whatever followed this header block would be read as more of its header fields.
    raw = b"From: a@dealer.example.jp\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n"
    assert [leaf.section for leaf in mimetree.parse(raw).leaves()] == ["1"]
    with pytest.raises(rewrite.NotRewritable, match="no blank line before the attached message"):
        rewrite.replace_entities(raw, {"1": b"Content-Type: text/plain\r\n\r\nx"})


@pytest.mark.parametrize(
    ("name", "section", "replacement", "error", "match"),
    [
        (
            "nested-mixed",
            "7",
            b"Content-Type: text/plain\r\n\r\nx",
            rewrite.NotRewritable,
            "no part",
        ),
        (
            "nested-mixed",
            "2.1",
            b"Content-Type: text/plain\r\n\r\n--inner--\r\n",
            ValueError,
            "boundary delimiter",
        ),
        ("nested-mixed", "2.1", b"\r\n\r\nx\r\n--outer\r\n", ValueError, "boundary delimiter"),
        ("single-part", "1", b"Content-Type: text/plain", ValueError, "blank line"),
        (
            "smime-signed",
            "1.1",
            b"Content-Type: text/plain\r\n\r\nx",
            rewrite.NotRewritable,
            "multipart/signed",
        ),
        (
            "smime-enveloped",
            "1",
            b"Content-Type: text/plain\r\n\r\nx",
            rewrite.NotRewritable,
            "pkcs7-mime",
        ),
        (
            "pgp-encrypted",
            "2",
            b"Content-Type: text/plain\r\n\r\nx",
            rewrite.NotRewritable,
            "multipart/encrypted",
        ),
    ],
    ids=[
        "unknown",
        "inner-delimiter",
        "outer-delimiter",
        "no-blank-line",
        "signed",
        "enveloped",
        "pgp-encrypted",
    ],
)
def test_replacement_refusals(
    name: str, section: str, replacement: bytes, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        rewrite.replace_entities(SAMPLES[name].raw, {section: replacement})


# set_visible_recipients -----------------------------------------------------------------------

BODY = b"\r\nTo: body@example.com is text, not a header\r\nCc: neither@example.org\r\n"
TOP = b"Received: from mx.dealer.example.jp by gw; Mon, 1 Apr 2024 09:00:00 +0900\r\n"
FROM = b"From: sales@dealer.example.jp\r\nSubject: =?UTF-8?B?6KaL56mN?=\r\n"
TAIL = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"


def _message(fields: bytes) -> bytes:
    return TOP + FROM + fields + TAIL + BODY


def _fields(raw: bytes, names: tuple[str, ...] = ("to", "cc")) -> list[bytes]:
    block = mimetree.read_headers(raw)
    return [raw[f.start : f.end] for f in block.fields if (f.name or "").rstrip().lower() in names]


def _others(raw: bytes) -> bytes:
    """The message with its To and Cc fields cut out."""
    block = mimetree.read_headers(raw)
    spans = [(f.start, f.end) for f in block.fields if (f.name or "").lower() in ("to", "cc")]
    return b"".join(bytecheck.segments(raw, spans))


CASES = [
    (
        "all-external-to",
        b"To: a@example.com, b@example.org\r\n",
        [b"To: undisclosed-recipients:;\r\n"],
        ["a@example.com", "b@example.org"],
    ),
    (
        "utf8-name-kept-verbatim",
        'To: "山田 太郎" <yamada@dealer.example.jp>, x@example.com\r\n'.encode(),
        ['To: "山田 太郎" <yamada@dealer.example.jp>\r\n'.encode()],
        ["x@example.com"],
    ),
    (
        "encoded-word-name",
        b"To: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@dealer.example.jp>,"
        b" =?UTF-8?Q?D=C3=B6e,_J?= <doe@example.com>\r\n",
        [b"To: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@dealer.example.jp>\r\n"],
        ["doe@example.com"],
    ),
    (
        "quoted-comma",
        b'To: "Doe, John" <john@example.com>, kato@dealer.example.jp\r\n',
        [b"To: kato@dealer.example.jp\r\n"],
        ["john@example.com"],
    ),
    (
        "comment",
        b"To: suzuki@example.net (Suzuki, Ichiro), sato@dealer.example.jp (Sato <HQ>)\r\n",
        [b"To: sato@dealer.example.jp (Sato <HQ>)\r\n"],
        ["suzuki@example.net"],
    ),
    (
        "group-emptied",
        b"To: sato@dealer.example.jp\r\n"
        b"Cc: Customers: a@example.com, b@example.org;, boss@dealer.example.jp\r\n",
        [b"To: sato@dealer.example.jp\r\n", b"Cc: boss@dealer.example.jp\r\n"],
        ["a@example.com", "b@example.org"],
    ),
    (
        "group-partly-kept",
        b"To: Team: a@dealer.example.jp, b@example.com, c@dealer.example.jp;\r\n",
        [b"To: Team: a@dealer.example.jp, c@dealer.example.jp;\r\n"],
        ["b@example.com"],
    ),
    (
        "empty-group-stays",
        b"To: undisclosed-recipients:;, x@example.com\r\n",
        [b"To: undisclosed-recipients:;\r\n"],
        ["x@example.com"],
    ),
    (
        "cc-emptied-goes",
        b"To: a@dealer.example.jp\r\nCc: x@example.com,\r\n y@example.org\r\n",
        [b"To: a@dealer.example.jp\r\n"],
        ["x@example.com", "y@example.org"],
    ),
    (
        "several-fields",
        b"To: a@example.com\r\nTo: b@dealer.example.jp\r\nCc: c@example.com\r\n"
        b"Cc: d@dealer.example.jp\r\n",
        [b"To: b@dealer.example.jp\r\n", b"Cc: d@dealer.example.jp\r\n"],
        ["a@example.com", "c@example.com"],
    ),
    (
        "folded",
        b"To: a@dealer.example.jp,\r\n b@example.com,\r\n\tc@dealer.example.jp\r\n",
        [b"To: a@dealer.example.jp, c@dealer.example.jp\r\n"],
        ["b@example.com"],
    ),
    (
        "folded-name-kept-with-its-fold",
        b"To: =?UTF-8?B?5bGx55Sw?=\r\n =?UTF-8?B?5aSq6YOO?= <t@dealer.example.jp>,"
        b" x@example.com\r\n",
        [b"To: =?UTF-8?B?5bGx55Sw?=\r\n =?UTF-8?B?5aSq6YOO?= <t@dealer.example.jp>\r\n"],
        ["x@example.com"],
    ),
    (
        "raw-iso2022jp-name-external",
        b"To: " + JIS_NAME + b" <x@example.com>, y@dealer.example.jp\r\n",
        [b"To: y@dealer.example.jp\r\n"],
        ["x@example.com"],
    ),
    (
        "raw-iso2022jp-name-internal",
        b"To: " + JIS_NAME + b" <x@dealer.example.jp>, y@example.com\r\n",
        [b"To: " + JIS_NAME + b" <x@dealer.example.jp>\r\n"],
        ["y@example.com"],
    ),
    (
        "unreadable-entry",
        b"To: foo bar, a@dealer.example.jp\r\n",
        [b"To: a@dealer.example.jp\r\n"],
        ["foo bar"],
    ),
    (
        "names-keep-their-case",
        b"TO: a@example.com, b@dealer.example.jp\r\ncc: c@dealer.example.jp, d@example.com\r\n",
        [b"TO: b@dealer.example.jp\r\n", b"cc: c@dealer.example.jp\r\n"],
        ["a@example.com", "d@example.com"],
    ),
    (
        "nothing-to-remove",
        b"To:   a@dealer.example.jp ,b@dealer.example.jp\r\n",
        [b"To:   a@dealer.example.jp ,b@dealer.example.jp\r\n"],
        [],
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected", "removed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_visible_recipients(fields: bytes, expected: list[bytes], removed: list[str]) -> None:
    raw = _message(fields)
    out, taken = rewrite.set_visible_recipients(raw, keep=INTERNAL.is_internal)
    assert taken == removed
    assert _fields(out) == expected
    assert _others(out) == _others(raw)  # every other byte, body included
    parsed = message_from_bytes(out, policy=compat32)
    visible = [
        a
        for _, a in getaddresses(
            [str(v) for v in parsed.get_all("To", []) + parsed.get_all("Cc", [])]
        )
        if "@" in a
    ]
    assert all(INTERNAL.is_internal(address) for address in visible)


def test_hiding_everyone() -> None:
    raw = _message(b"To: a@dealer.example.jp, b@example.com\r\nCc: c@dealer.example.jp\r\n")
    out, taken = rewrite.set_visible_recipients(raw, keep=lambda address: False)
    assert taken == ["a@dealer.example.jp", "b@example.com", "c@dealer.example.jp"]
    assert _fields(out) == [b"To: undisclosed-recipients:;\r\n"]


def test_long_lists_are_folded() -> None:
    internal = [f"staff{i:02d}@dealer.example.jp" for i in range(30)]
    external = [f"customer{i:02d}@example.com" for i in range(30)]
    mixed = [a for pair in zip(internal, external, strict=True) for a in pair]
    raw = _message(b"To: " + ", ".join(mixed).encode() + b"\r\n")
    out, taken = rewrite.set_visible_recipients(raw, keep=INTERNAL.is_internal)
    assert taken == external
    (field,) = _fields(out)
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert [a for _, a in getaddresses([message_from_bytes(out)["To"]])] == internal


def test_bare_lf_message() -> None:
    raw = _message(b"To: a@example.com, b@dealer.example.jp\r\n").replace(b"\r\n", b"\n")
    out, _ = rewrite.set_visible_recipients(raw, keep=INTERNAL.is_internal)
    assert _fields(out) == [b"To: b@dealer.example.jp\n"]
    assert b"\r" not in out


def test_attached_messages_and_bodies_are_left_alone() -> None:
    raw = SAMPLES["email-forwarded-both"].raw
    out, taken = rewrite.set_visible_recipients(raw, keep=INTERNAL.is_internal)
    assert taken == ["customer@example.com"]
    top = mimetree.read_headers(out)
    assert out[top.end :] == raw[mimetree.read_headers(raw).end :]
    inner = message_from_bytes(out).get_payload()[1].get_payload()[0]
    assert inner["To"] == "sales@dealer.example.jp"


def test_unclean_header_block_is_refused() -> None:
    raw = b"From: a@dealer.example.jp\r\nnot a header line\r\nCc: x@example.com\r\n\r\nbody"
    with pytest.raises(rewrite.NotRewritable, match="blank line"):
        rewrite.set_visible_recipients(raw, keep=INTERNAL.is_internal)


# prepend_headers ------------------------------------------------------------------------------

RULES = ", ".join(f"rule-number-{i}" for i in range(15))


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("encrypt", False),
        (RULES, False),
        ("x" * 120, False),
        ("顧客リスト(氏名・住所)を含む添付 / 大量Cc", True),
        ("mixed 顧客 text " * 8, True),
    ],
    ids=["short", "long-folded", "long-word", "japanese", "long-japanese"],
)
def test_prepended_fields_read_back(value: str, encoded: bool) -> None:
    raw = SAMPLES["email-mixed"].raw
    out = rewrite.prepend_headers(raw, [("X-DLP-Decision", "encrypt"), ("X-DLP-Rules", value)])
    assert out.endswith(raw)
    added = out[: len(out) - len(raw)]
    assert added.startswith(b"X-DLP-Decision: encrypt\r\nX-DLP-Rules: ")
    assert added.isascii() and (b"=?utf-8?" in added) == encoded
    lines = added.split(b"\r\n")[:-1]
    # Only a single word too long for a line may pass column 78.
    assert all(len(line) <= 78 or b" " not in line.split(b": ", 1)[-1].strip() for line in lines)
    parsed = message_from_bytes(out, policy=default)
    assert parsed["X-DLP-Rules"] == value
    if not encoded:  # folding only added line breaks
        assert added.split(b"X-DLP-Rules: ")[1].replace(b"\r\n", b"") == value.encode()
    assert parsed["X-DLP-Decision"] == "encrypt"


def test_prepended_fields_follow_bare_lf() -> None:
    raw = SAMPLES["nested-bare-lf"].raw
    out = rewrite.prepend_headers(raw, [("X-DLP-Rules", RULES), ("X-DLP-Note", "顧客")])
    assert b"\r" not in out and out.endswith(raw)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X DLP", "x"),
        ("X-DLP:", "x"),
        ("", "x"),
        ("X-DLP", "a\r\nBcc: x@example.com"),
        ("X-DLP", "a\nb"),
        ("X-DLP", "a\0"),
    ],
    ids=["space-in-name", "colon-in-name", "empty-name", "crlf-injection", "lf", "nul"],
)
def test_prepend_refuses_bad_fields(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        rewrite.prepend_headers(b"Subject: x\r\n\r\nbody", [(name, value)])


# signature ------------------------------------------------------------------------------------

SIGNATURE_CASES = {name: sample.signed for name, sample in SAMPLES.items()}
SIGNATURE_CASES_RAW = {
    "public-key-is-no-signature": (
        mailcorpus.crlf(
            b"Content-Type: text/plain\n\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBF\n"
        ),
        None,
    ),
    "quoted-armor-is-no-signature": (
        mailcorpus.crlf(b"Content-Type: text/plain\n\n> -----BEGIN PGP SIGNED MESSAGE-----\n"),
        None,
    ),
    "inline-armor-8bit": (
        mailcorpus.crlf(b"Content-Type: text/plain\n\n-----BEGIN PGP MESSAGE-----\nhQ\n"),
        "pgp",
    ),
    "x-pkcs7-mime": (
        mailcorpus.crlf(b"Content-Type: application/x-pkcs7-mime; smime-type=signed-data\n\nMII\n"),
        "smime",
    ),
    "signed-inside-forwarded-message": (
        mailcorpus.crlf(
            b"Content-Type: multipart/mixed; boundary=f\n\n--f\nContent-Type: message/rfc822\n\n"
        )
        + mailcorpus.smime_signed()
        + b"\r\n--f--\r\n",
        "smime",
    ),
    "broken-smime": (
        mailcorpus.smime_signed()[: len(mailcorpus.smime_signed()) // 2],
        "smime",
    ),
    "broken-pgp": (mailcorpus.pgp_signed()[:1500], "pgp"),
}


@pytest.mark.parametrize("name", SIGNATURE_CASES, ids=list(SIGNATURE_CASES))
def test_signature_of_samples(name: str) -> None:
    assert rewrite.signature(SAMPLES[name].raw) == SIGNATURE_CASES[name]


@pytest.mark.parametrize("name", SIGNATURE_CASES_RAW, ids=list(SIGNATURE_CASES_RAW))
def test_signature_of_edge_cases(name: str) -> None:
    raw, expected = SIGNATURE_CASES_RAW[name]
    assert rewrite.signature(raw) == expected


def test_header_rewrites_leave_an_smime_signature_valid(tmp_path: Path) -> None:
    """Bcc conversion and tags touch only the top header block, which S/MIME does not sign.
    (DKIM does sign it: see docs/actions.md.)"""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: run scripts/test-deps as root")
    raw = mailcorpus.smime_signed()
    out, taken = rewrite.set_visible_recipients(raw, keep=INTERNAL.is_internal)
    out = rewrite.prepend_headers(out, [("X-DLP-Decision", "pass")])
    assert taken == ["customer@example.com", "other@example.net", "partner@example.org"]
    tampered = out.replace(b"signed text", b"signed TEXT")  # the check must be able to fail
    for name, data in (("before.eml", raw), ("after.eml", out), ("tampered.eml", tampered)):
        path = tmp_path / name
        path.write_bytes(data)
        result = subprocess.run(
            [openssl, "smime", "-verify", "-noverify", "-in", str(path), "-out", "/dev/null"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if name == "tampered.eml":
            assert result.returncode != 0
        else:
            assert result.returncode == 0, result.stderr
            assert "Verification successful" in result.stderr


def test_to_and_cc_too_long_to_rewrite_exactly_are_refused() -> None:
    many = b", ".join(b"u%d@x.example" % i for i in range(10_000))
    raw = b"From: a@corp.example\r\nTo: " + many + b"\r\nSubject: s\r\n\r\nbody\r\n"
    with pytest.raises(rewrite.NotRewritable, match="too long"):
        rewrite.set_visible_recipients(raw, keep=lambda address: False)
