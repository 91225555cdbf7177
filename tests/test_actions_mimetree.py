from __future__ import annotations

import random
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

import pytest

from dlp_proxy.actions import mimetree, rewrite
from dlp_proxy.inspect import mime
from tests import mailcorpus

SAMPLES = {sample.name: sample.raw for sample in mailcorpus.samples()}


def walk_sections(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, bytes | None]]:
    """(section, type, decoded data or None when damaged) of every leaf inspect/mime.py
    yields. Without file names its paths are ``part <section>``: the sections can be read.
    Header blocks and fragments (message/delivery-status, message/partial...) are leaves to
    inspection and opaque to rewriting: left out."""
    with monkeypatch.context() as patch:
        patch.setattr(mime, "filename", lambda entity: None)
        parts = list(mime.walk(raw))
    return [
        (
            part.path.rsplit("/", 1)[-1].removeprefix("part "),
            part.content_type,
            None if part.damage else part.data,
        )
        for part in parts
        if not part.message and not part.content_type.startswith("message/")
    ]


def email_leaves(message: Message) -> Iterator[tuple[str, bytes]]:
    """(type, raw body) of the leaves as the email package holds them, in walk order."""
    payload = message._payload  # type: ignore[attr-defined]
    content_type = message.get_content_type()
    if isinstance(payload, list):
        if (
            content_type.startswith(("message/", "multipart/"))
            and content_type not in mimetree.OPAQUE
        ):
            for inner in payload:
                yield from email_leaves(inner)
        return
    yield content_type, payload.encode("ascii", "surrogateescape")


def assert_agrees(
    raw: bytes, monkeypatch: pytest.MonkeyPatch, *, damaged: bool = False
) -> mimetree.Tree:
    """Our leaves are inspection's leaves, section for section, and the email package's,
    byte for byte. With ``damaged``, a leaf we cannot decode exactly may differ in content
    (we refuse to rewrite it; inspection scans its best guess)."""
    tree = mimetree.parse(raw)
    assert tree.rewritable, tree.problem
    leaves = tree.leaves()
    ours = [(leaf.section, leaf.content_type, mimetree.content(raw, leaf)) for leaf in leaves]
    theirs_walk = walk_sections(raw, monkeypatch)
    if damaged:
        assert [o[:2] for o in ours] == [t[:2] for t in theirs_walk]
        assert all(o[2] is None or o[2] == t[2] for o, t in zip(ours, theirs_walk, strict=True))
    else:
        assert ours == theirs_walk
    theirs = list(email_leaves(message_from_bytes(raw, policy=compat32)))
    assert [(leaf.content_type, raw[leaf.body_start : leaf.end]) for leaf in leaves] == theirs
    assert mimetree.verified(raw).rewritable
    return tree


@pytest.mark.parametrize("name", SAMPLES, ids=list(SAMPLES))
def test_sections_and_bodies_match_inspection(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = assert_agrees(SAMPLES[name], monkeypatch)
    assert tree.leaves()


@pytest.mark.parametrize(
    ("name", "sections"),
    [
        ("email-alternative-related", ["1.1", "1.2.1", "1.2.2", "2"]),
        ("email-forwarded-both", ["1", "2.1", "2.2", "3"]),
        ("nested-mixed", ["1", "2.1", "2.2", "3"]),
        ("related-inline-image", ["1.1.1", "1.1.2", "1.2", "2"]),
        ("forwarded-single-part", ["1", "2"]),
        ("single-part", ["1"]),
        ("digest", ["1", "2.1", "2.2"]),
        ("report", ["1", "3"]),
        ("top-level-message", ["1", "2"]),
        ("odd-parts", ["1", "2", "3", "4"]),
    ],
    ids=[
        "alternative-related",
        "forwarded",
        "nested",
        "related",
        "forwarded-single-part",
        "single-part",
        "digest",
        "report",
        "top-level-message",
        "odd-parts",
    ],
)
def test_section_numbers(name: str, sections: list[str]) -> None:
    assert [leaf.section for leaf in mimetree.parse(SAMPLES[name]).leaves()] == sections


def test_ranges_follow_rfc2046() -> None:
    raw = SAMPLES["nested-mixed"]
    tree = mimetree.parse(raw)
    assert tree.root is not None
    inner = tree.root.children[1]
    assert inner.kind == "multipart"
    text = inner.children[0]
    # The CRLF before a delimiter belongs to the delimiter; the blank line before it does not.
    assert raw[text.body_start : text.end] == b"inner text\r\n"
    assert raw[text.end : text.end + 9] == b"\r\n--inner"
    assert raw[text.start : text.header_end] == b"Content-Type: text/plain\r\n"
    odd = mimetree.parse(SAMPLES["odd-parts"])
    assert odd.root is not None
    headerless, header_only, bare_cr, last = odd.root.children
    assert headerless.header_end == headerless.start and headerless.header.fields == ()
    assert header_only.body_start == header_only.end
    assert b"\rline two" in SAMPLES["odd-parts"][bare_cr.body_start : bare_cr.end]
    assert SAMPLES["odd-parts"][last.body_start : last.end] == b"a,b"


def test_bare_lf_tree_has_the_same_shape() -> None:
    crlf = mimetree.parse(SAMPLES["nested-mixed"])
    lf = mimetree.parse(SAMPLES["nested-bare-lf"])
    assert lf.eol == b"\n" and crlf.eol == b"\r\n"
    assert [leaf.section for leaf in lf.leaves()] == [leaf.section for leaf in crlf.leaves()]


def _deep(levels: int) -> bytes:
    head = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(levels)
    )
    tail = b"".join(b"\r\n--b%d--" % i for i in reversed(range(levels)))
    return (
        mailcorpus.crlf(
            b"From: a@example.jp\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n"
        )
        + head
        + b"--b%d\r\n\r\nleaf\r\n--b%d--" % (levels, levels)
        + tail
    )


HEAD = b"From: a@example.jp\r\nMIME-Version: 1.0\r\n"
MALFORMED = {
    "empty": b"",
    "no-boundary-parameter": HEAD + b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\na\r\n--x--",
    "boundary-never-appears": HEAD
    + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--y\r\n\r\na\r\n--y--\r\n",
    "no-closing-delimiter": HEAD
    + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x\r\n\r\nb\r\n",
    "truncated-inside-a-part": mailcorpus.email_mixed()[:3000],
    "closing-first": HEAD
    + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n--x\r\n\r\na\r\n--x--",
    "consecutive-delimiters": HEAD
    + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n\r\na\r\n--x--",
    "delimiter-after-close": HEAD
    + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x--\r\n--x\r\n\r\nb",
    "nested-reuses-boundary": HEAD + b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x--\r\n--x--",
    "boundary-given-twice": HEAD
    + b"Content-Type: multipart/mixed; boundary=x; boundary=y\r\n\r\n--x\r\n\r\na\r\n--x--",
    "two-content-types": HEAD + b"Content-Type: text/plain\r\n"
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x--",
    "content-type-name-with-space": HEAD
    + b"Content-Type : multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x--",
    "base64-multipart": HEAD + b"Content-Type: multipart/mixed; boundary=x\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n--x\r\n\r\na\r\n--x--",
    "base64-message": HEAD + b"Content-Type: message/rfc822\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n",
    "empty-boundary": HEAD
    + b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n\r\na\r\n----',
    "nesting-61-deep": _deep(61),
    "binary-junk": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("name", MALFORMED, ids=list(MALFORMED))
def test_malformed_is_not_rewritable(name: str) -> None:
    raw = MALFORMED[name]
    tree = mimetree.parse(raw)
    if name in ("empty", "binary-junk", "content-type-name-with-space"):
        # For the email package this is one text leaf (a field name followed by a space is no
        # header line: the body starts there). Replacing it would need a header block that
        # ends with a blank line.
        assert tree.rewritable and [leaf.section for leaf in tree.leaves()] == ["1"]
        if name != "empty":
            with pytest.raises(rewrite.NotRewritable, match="header block"):
                rewrite.replace_entities(raw, {"1": b"Content-Type: text/plain\r\n\r\nx"})
        return
    assert not tree.rewritable and tree.root is None and tree.problem
    with pytest.raises(rewrite.NotRewritable, match="message structure"):
        rewrite.replace_entities(raw, {"1": b"Content-Type: text/plain\r\n\r\nx"})


def test_nesting_up_to_the_limit_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = assert_agrees(_deep(59), monkeypatch)
    assert tree.leaves()[0].section == ".".join(["1"] * 60)


PROBE = b"Content-Type: text/x-probe\r\n\r\nP"
MUTATIONS = ("drop-line", "repeat-line", "cut", "swap-lines", "flip-byte", "bare-lf", "bare-cr")


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    lines = raw.splitlines(keepends=True)
    kind = rng.choice(MUTATIONS)
    at = rng.randrange(len(lines))
    if kind == "drop-line":
        del lines[at]
    elif kind == "repeat-line":
        lines.insert(at, lines[at])
    elif kind == "cut":
        return raw[: rng.randrange(len(raw))]
    elif kind == "swap-lines":
        other = rng.randrange(len(lines))
        lines[at], lines[other] = lines[other], lines[at]
    elif kind == "flip-byte":
        data = bytearray(raw)
        data[rng.randrange(len(data))] = rng.choice(b'-\r\n:;"= xb\x1b')
        return bytes(data)
    elif kind == "bare-lf":
        lines[at] = lines[at].replace(b"\r\n", b"\n")
    else:
        lines[at] = lines[at].replace(b"\r\n", b"\r")
    return b"".join(lines)


def test_mutated_messages_never_raise_and_agree_when_rewritable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = [raw for raw in SAMPLES.values() if len(raw) < 4000] + [
        mailcorpus.raw_report(),
        mailcorpus.raw_odd_parts(),
        mailcorpus.raw_top_level_message(),
    ]
    rng = random.Random(20240401)
    outcomes = {"rewritable": 0, "refused": 0}
    for _ in range(600):
        raw = rng.choice(small)
        for _ in range(rng.randint(1, 3)):
            raw = _mutate(raw, rng) or b"x"
        tree = mimetree.parse(raw)
        if not tree.rewritable:
            outcomes["refused"] += 1
            continue
        outcomes["rewritable"] += 1
        verified = mimetree.verified(raw)
        assert verified.rewritable, (verified.problem, raw)
        assert_agrees(raw, monkeypatch, damaged=True)
        if not tree.leaves():
            continue  # e.g. a type mutated into message/delivery-status: nothing to rewrite
        leaf = rng.choice(tree.leaves())
        try:
            out = rewrite.replace_entities(raw, {leaf.section: PROBE})
        except rewrite.NotRewritable:
            outcomes["refused"] += 1  # inside a signature, or a whole message's header unclean
            continue
        after = mimetree.parse(out)
        assert after.rewritable, after.problem
        assert [e.section for e in after.leaves()] == [e.section for e in tree.leaves()]
        probe = after.lineage(leaf.section)
        assert probe is not None and probe[-1].content_type == "text/x-probe"
    assert outcomes["rewritable"] > 100 and outcomes["refused"] > 100, outcomes
