"""Check that a rewritten message differs from the original only inside given byte ranges."""

from __future__ import annotations

from collections.abc import Sequence

from dlp_proxy.actions import mimetree, rewrite


def segments(data: bytes, spans: Sequence[tuple[int, int]]) -> list[bytes]:
    """The bytes before, between and after the (sorted, disjoint) spans."""
    out, position = [], 0
    for start, end in sorted(spans):
        out.append(data[position:start])
        position = end
    out.append(data[position:])
    return out


def leaf_spans(raw: bytes, sections: Sequence[str]) -> list[tuple[int, int]]:
    tree = mimetree.parse(raw)
    return [(leaf.start, leaf.end) for leaf in (rewrite.target(tree, s) for s in sections)]


def assert_only_leaves_changed(raw: bytes, out: bytes, sections: Sequence[str]) -> None:
    """Outside the leaves named by ``sections`` (found in each message), every byte is equal."""
    before = segments(raw, leaf_spans(raw, sections))
    after = segments(out, leaf_spans(out, sections))
    assert len(before) == len(after) == len(sections) + 1
    for old, new in zip(before, after, strict=True):
        assert old == new
    assert sum(map(len, after)) < len(out)  # something was put in place
