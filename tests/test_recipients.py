"""Recipient analysis: internal or external, visible in To/Cc or envelope-only."""

from __future__ import annotations

import base64
import shutil
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path

import pytest

from dlp_proxy.actions.notice_context import SUBJECT_LIMIT, MessageSummary, Person
from dlp_proxy.envelope import Client, Envelope
from dlp_proxy.inspect.recipients import (
    MAX_ADDRESSES,
    MAX_EXACT,
    MAX_HOPS,
    Domains,
    analyse,
    coarse_mailboxes,
    header_addresses,
    mailboxes,
    route,
)
from dlp_proxy.policy.load import Policy, load_policy
from dlp_proxy.scanner import evaluate, header_section
from tests.builders import customers, xlsx_bytes


def run(header_text: str, envelope_to: list[str], *, sender: str = "me@corp.example"):  # type: ignore[no-untyped-def]
    message = message_from_bytes(header_text.encode() + b"\r\n", policy=compat32)
    return analyse(
        message, envelope_from=sender, envelope_to=envelope_to, internal=Domains(["corp.example"])
    )


def test_visible_and_envelope_only() -> None:
    result = run(
        "From: me@corp.example\r\nTo: a@x.example, colleague@corp.example\r\n"
        'Cc: "B" <B@Y.example>\r\n',
        ["a@x.example", "colleague@corp.example", "b@y.example", "hidden@z.example"],
    )
    assert result.internal == 1
    assert result.external == 3
    assert result.external_visible == 2
    assert result.external_envelope_only == 1
    assert result.external_domains == ("x.example", "y.example", "z.example")
    assert result.as_json() == {
        "internal": 1,
        "external_visible": 2,
        "external_envelope_only": 1,
        "external_domains": 3,
    }


def test_headers_count_even_when_the_envelope_is_split() -> None:
    # An MTA may deliver one copy per domain: this copy goes to one person, yet shows all.
    cc = ", ".join(f"c{i}@cust{i}.example" for i in range(29))
    result = run(
        f"From: me@corp.example\r\nTo: me@corp.example\r\nCc: {cc}\r\n", ["c0@cust0.example"]
    )
    assert result.external_visible == 29
    assert result.external == 1


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("a@corp.example", True),
        ("a@CORP.EXAMPLE", True),
        ("a@tokyo.corp.example", True),
        ("a@notcorp.example", False),
        ("a@corp.example.evil", False),
    ],
)
def test_subdomains(address: str, internal: bool) -> None:
    assert Domains(["corp.example"]).is_internal(address) is internal
    assert Domains(["corp.example"], subdomains=False).is_internal(address) is (
        internal and address.lower().endswith("@corp.example")
    )


def test_from_mismatch_and_null_sender() -> None:
    assert run("From: boss@corp.example\r\nTo: a@x.example\r\n", ["a@x.example"]).from_mismatch
    assert not run("From: Me <ME@corp.example>\r\n", ["a@x.example"]).from_mismatch
    assert not run("From: postmaster@corp.example\r\n", ["a@x.example"], sender="").from_mismatch


def test_group_syntax_and_garbage_do_not_break_it() -> None:
    result = run(
        "From: me@corp.example\r\nTo: undisclosed-recipients:;\r\nCc: <<<>>>, ,, a@x.example\r\n",
        ["a@x.example"],
    )
    assert result.external_visible == 1
    assert result.external_envelope_only == 0


# -- address lists read in one pass ----------------------------------------------------------

WELL_FORMED = [
    "a@x.example",
    "A <a@x.example>, b@y.example",
    '"Smith, J" <j@x.example>, "K (L)" <k@y.example>',
    "a@x.example (Comment), Foo Bar <foo@bar.example> (more)",
    "team: a@x.example, b@y.example;, c@z.example",
    "undisclosed-recipients:;",
    '"a b"@x.example, "a@b"@y.example',
    "a.b+tag@x.example, <c@[192.0.2.1]>",
    "=?UTF-8?B?5bGx55Sw?= <yamada@x.example>, =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <b@y.example>",
    "a(c)@x.example",
    "a @ x . example",
]


@pytest.mark.parametrize("value", WELL_FORMED)
def test_well_formed_address_lists_read_as_the_email_package_reads_them(value: str) -> None:
    theirs = [addr for _, addr in getaddresses([value]) if "@" in addr]
    assert mailboxes(value.encode()) == theirs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.example b@y.example", ["a@x.example", "b@y.example"]),  # a missing comma
        ("John a@x.example", ["a@x.example"]),
        ("<@a.example,@b.example:u@c.example>", ["@a.example,@b.example:u@c.example"]),
        ("a: b: c: x@y.example;;;, z@w.example", ["x@y.example", "z@w.example"]),
        ("<<<>>>, ,, a@x.example", ["a@x.example"]),
        ('"unterminated <a@x.example>', ['"unterminated <a@x.example>']),  # as written
        ("(unterminated a@x.example", []),
    ],
)
def test_malformed_address_lists_lose_no_address_they_show(value: str, expected: list[str]) -> None:
    assert mailboxes(value.encode()) == expected


N = 5000
BOMBS = {
    "nested-groups": b"g: " * N + b"x@out.example" + b";" * N,
    "nested-comments": b"(" * N + b"c" + b")" * N + b" x@out.example",
    "encoded-words-with-colons": b" ".join([b"=?UTF-8?Q?=E5=B1=B1:?="] * N) + b" <x@out.example>",
    "encoded-words-with-parens": b" ".join([b"=?UTF-8?Q?(a?="] * N) + b" <x@out.example>",
}


@pytest.mark.parametrize("value", BOMBS.values(), ids=list(BOMBS))
def test_address_list_bombs_recurse_in_the_email_package_but_not_here(value: bytes) -> None:
    with pytest.raises(RecursionError):
        getaddresses([value.decode()])
    message = message_from_bytes(
        b"From: me@corp.example\r\nTo: " + value + b"\r\n\r\n", policy=compat32
    )
    assert header_addresses(message) == ["x@out.example"]


def test_a_group_of_a_hundred_thousand_members_is_read_in_linear_time() -> None:
    count = 100_000
    value = b"all: " + b", ".join(b"m%d@out.example" % i for i in range(count)) + b";"
    # getaddresses copies the group's list for each member; we read each byte once.
    assert len(mailboxes(value)) == count


# -- addresses that route elsewhere ----------------------------------------------------------

CORP = Domains(["corp.example"])


@pytest.mark.parametrize(
    ("address", "hops", "reached"),
    [
        ("user@corp.example", (), ("corp.example",)),
        ("user%ext.example@corp.example", ("ext.example",), ("ext.example",)),
        ("ext.example!user@corp.example", ("ext.example",), ("ext.example",)),
        ('"user@ext.example"@corp.example', ("ext.example",), ("ext.example",)),
        ('"user%ext.example"@corp.example', ("ext.example",), ("ext.example",)),
        ("@a.example,@b.example:user@corp.example", ("a.example", "b.example"), None),
        ("a%b.example%c.example@corp.example", ("c.example", "b.example"), None),
        ("a.example!b.example!user@corp.example", ("a.example", "b.example"), None),
        ("user%corp.example@corp.example", ("corp.example",), ("corp.example",)),
        ("user%@corp.example", ("",), ("corp.example",)),
        ("user%ext.example@partner.example", ("ext.example",), ("ext.example", "partner.example")),
        ('"a b"@corp.example', (), ("corp.example",)),
    ],
)
def test_routed_addresses_are_never_internal(
    address: str, hops: tuple[str, ...], reached: tuple[str, ...] | None
) -> None:
    assert route(address) == hops
    assert CORP.is_internal(address) is (not hops)
    assert CORP.reached(address) == (reached or hops)


def test_routing_is_bounded() -> None:
    address = "u" + "%x.example" * 10_000 + "@corp.example"
    hops = route(address)
    assert len(hops) == MAX_HOPS + 1 and hops[-1] == ""  # the rest: routed, no domain named
    assert not CORP.is_internal(address)


def test_routed_recipients_count_as_external_by_the_domain_they_reach() -> None:
    result = run(
        "From: me@corp.example\r\nTo: user%ext.example@corp.example, colleague@corp.example\r\n"
        'Cc: "boss@rival.example"@corp.example, <@relay.example:x@corp.example>\r\n',
        ["user%ext.example@corp.example", "colleague@corp.example", "bang.example!u@corp.example"],
    )
    assert result.internal == 1
    assert result.external == 2
    assert result.external_visible == 3
    assert result.external_envelope_only == 1
    assert result.external_domains == (
        "bang.example",
        "ext.example",
        "relay.example",
        "rival.example",
    )


# -- whole messages through the scanner's evaluate() -----------------------------------------

REPO = Path(__file__).resolve().parent.parent
WORDS = 50_000


def bomb_message(header: bytes, *, with_list: bool, filename: bytes = b'"list.xlsx"') -> bytes:
    """A message from corp.example to out.example with ``header`` in its header block and an
    attachment: a customer list, or a harmless note."""
    data = xlsx_bytes(customers(5)) if with_list else b"Hello, see you on Monday.\r\n"
    kind = b"application/octet-stream" if with_list else b"text/plain"
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        b"From: me@corp.example\r\n" + header + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b"--B\r\nContent-Type: " + kind + b"\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename="
        + filename
        + b"\r\n\r\n"
        + encoded
        + b"--B--\r\n"
    )


HEADER_BOMBS = {
    "to-nested-groups": (b"To: " + BOMBS["nested-groups"], b'"list.xlsx"'),
    "cc-nested-comments": (
        b"To: x@out.example\r\nCc: " + BOMBS["nested-comments"],
        b'"list.xlsx"',
    ),
    "to-encoded-words-with-colons": (
        b"To: " + BOMBS["encoded-words-with-colons"],
        b'"list.xlsx"',
    ),
    "subject-encoded-words": (
        b"To: x@out.example\r\nSubject: "
        + b"\r\n ".join([b"=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?="] * WORDS),
        b'"list.xlsx"',
    ),
    "filename-encoded-words": (
        b"To: x@out.example",
        b'"' + b"\r\n ".join([b"=?UTF-8?B?5pys?="] * WORDS) + b'.xlsx"',
    ),
}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    directory = tmp_path_factory.mktemp("policy")
    shutil.copy(REPO / "policies" / "default.yaml", directory)
    (directory / "local.yaml").write_text("internal_domains: [corp.example]\n")
    return load_policy(directory).policy


@pytest.mark.parametrize("with_list", [True, False], ids=["customer-list", "note"])
@pytest.mark.parametrize("shape", HEADER_BOMBS.values(), ids=list(HEADER_BOMBS))
def test_header_bombs_get_a_definite_decision(
    shipped: Policy, shape: tuple[bytes, bytes], with_list: bool
) -> None:
    header, filename = shape
    raw = bomb_message(header, with_list=with_list, filename=filename)
    envelope = Envelope("T", "me@corp.example", ("x@out.example",), Client("127.0.0.1"))
    verdict = evaluate(raw, envelope, shipped)
    assert verdict.recipients.external == 1
    assert verdict.decision.action == ("hold" if with_list else "pass")
    # What the SMTP process then builds for notices and held mail (subject, recipients).
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_section(raw))
    summary = MessageSummary.of(
        headers,
        queue_id="T",
        sender=Person("me@corp.example"),
        envelope_to=envelope.rcpt_tos,
        internal=shipped.internal,
        attachments=verdict.inspection.attachments,
    )
    assert summary.recipients.external == ("x@out.example",)
    assert len(summary.subject) <= SUBJECT_LIMIT


def test_fields_past_the_exact_budget_are_read_coarsely_losing_no_address() -> None:
    exact = ", ".join(f"Name {i} <e{i}@exact.example>" for i in range(3000))
    coarse = ", ".join(f'"Name, {i}" <c{i}@coarse.example> (x)' for i in range(3000))
    message = message_from_bytes(f"To: {exact}\r\nCc: {coarse}\r\n\r\n".encode(), policy=compat32)
    assert len(exact) > MAX_EXACT
    found = header_addresses(message)
    assert found == [f"e{i}@exact.example" for i in range(3000)] + [
        f"c{i}@coarse.example" for i in range(3000)
    ]
    assert coarse_mailboxes(b'"a@b" <c@d>, x @ y') == ["a@b", "c@d", "@"]


def test_at_most_max_addresses_are_taken() -> None:
    many = b", ".join(b"u%d@d.example" % i for i in range(MAX_ADDRESSES + 500))
    message = message_from_bytes(
        b"To: " + many + b"\r\nCc: last@x.example\r\n\r\n", policy=compat32
    )
    found = header_addresses(message)
    assert len(found) == MAX_ADDRESSES and found[-1] == f"u{MAX_ADDRESSES - 1}@d.example"
