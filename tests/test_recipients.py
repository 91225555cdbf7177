"""Recipient analysis: internal or external, visible in To/Cc or envelope-only."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import compat32

import pytest

from dlp_proxy.inspect.recipients import Domains, analyse


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
