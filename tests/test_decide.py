"""Decisions from the shipped policy and from small policies, over findings and recipients."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from dlp_proxy.decide import Facts, combine, decide
from dlp_proxy.inspect.model import Attachment, Column
from dlp_proxy.inspect.recipients import Domains, Recipients, analyse
from dlp_proxy.policy.directory import SenderInfo
from dlp_proxy.policy.load import Policy, load_policy

REPO = Path(__file__).resolve().parent.parent
INTERNAL = "example.co.jp"


@pytest.fixture(scope="module")
def default_policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    directory = tmp_path_factory.mktemp("policy")
    for file in (REPO / "policies").glob("*.yaml"):
        shutil.copy(file, directory)
    (directory / "local.yaml").write_text(f"internal_domains: [{INTERNAL}]\n")
    return load_policy(directory).policy


def customer_list(rows: int, *, kinds: tuple[str, ...] = ("person_name", "phone", "address")):
    columns = tuple(Column("顧客", k, k, i) for i, k in enumerate(kinds))
    return Attachment(
        path="顧客リスト.xlsx",
        type="xlsx",
        size=100_000,
        personal_rows=rows,
        persons=rows,
        columns=columns,
    )


PRICE_LIST = Attachment(
    path="price.xlsx",
    type="xlsx",
    size=9_000,
    columns=(Column("parts", "部品番号", "customer_id", 0),),
)
LOCKED_ZIP = Attachment(path="a.zip/b.xlsx", type="xlsx", size=1, unscannable="encrypted")


def headers(to: list[str], cc: list[str]) -> bytes:
    return (
        f"From: tanaka@{INTERNAL}\r\nTo: {', '.join(to)}\r\nCc: {', '.join(cc)}\r\n"
        "Subject: x\r\n\r\n"
    ).encode()


@dataclass
class Case:
    attachments: tuple[Attachment, ...]
    to: list[str]
    cc: list[str]
    bcc: list[str]
    action: str
    actions: tuple[str, ...]
    rules: tuple[str, ...]


CUSTOMERS = [f"customer{i}@mail{i % 7}.example" for i in range(29)]
INCIDENTS = {
    # The dealer incident: 2,940 customers to 29 customers, all visible in Cc.
    "2940-rows-to-29-in-cc": Case(
        (customer_list(2940),),
        [f"tanaka@{INTERNAL}"],
        CUSTOMERS,
        [],
        "block",
        ("block",),
        ("appi-reportable-volume", "personal-data-to-external", "many-visible-external-addresses"),
    ),
    "3-rows-to-external": Case(
        (customer_list(3),),
        ["client@partner.example"],
        [],
        [],
        "hold",
        ("hold", "encrypt"),
        ("personal-data-to-external",),
    ),
    "list-to-internal-only": Case(
        (customer_list(2940),),
        [f"sato@{INTERNAL}"],
        [f"kato@tokyo.{INTERNAL}"],
        [],
        "pass",
        ("pass",),
        (),
    ),
    "price-list-to-partner": Case(
        (PRICE_LIST,),
        ["buyer@partner.example"],
        [],
        [],
        "pass",
        ("pass",),
        (),
    ),
    "29-customers-in-bcc-only": Case(
        (),
        [f"tanaka@{INTERNAL}"],
        [],
        CUSTOMERS,
        "pass",
        ("pass",),
        (),
    ),
    "29-customers-in-cc-no-attachment": Case(
        (),
        [f"tanaka@{INTERNAL}"],
        CUSTOMERS,
        [],
        "hold",
        ("hold",),
        ("many-visible-external-addresses",),
    ),
    "my-number-any-size": Case(
        (customer_list(2, kinds=("person_name", "my_number")),),
        ["tax@accountant.example"],
        [],
        [],
        "block",
        ("block",),
        ("appi-reportable-volume", "personal-data-to-external"),
    ),
    "encrypted-zip-to-external": Case(
        (LOCKED_ZIP,),
        ["x@partner.example"],
        [],
        [],
        "hold",
        ("hold",),
        ("unscannable-attachment-to-external",),
    ),
    "encrypted-zip-internal": Case((LOCKED_ZIP,), [f"x@{INTERNAL}"], [], [], "pass", ("pass",), ()),
}


@pytest.mark.parametrize("case", list(INCIDENTS.values()), ids=list(INCIDENTS))
def test_default_policy_on_the_incident_cases(default_policy: Policy, case: Case) -> None:
    raw = headers(case.to, case.cc)
    recipients = analyse(
        message_from_bytes(raw, policy=compat32),
        envelope_from=f"tanaka@{INTERNAL}",
        envelope_to=[*case.to, *case.cc, *case.bcc],
        internal=Domains([INTERNAL]),
    )
    decision = decide(default_policy, Facts(case.attachments, recipients))
    assert decision.action == case.action
    assert decision.actions == case.actions
    assert tuple(r.name for r in decision.rules) == case.rules
    assert decision.policy_version == default_policy.version
    for rule in decision.rules:
        assert rule.reason.ja and rule.reason.en and rule.why
    matched = {r.name for r in decision.rules}
    assert {r.name for r in decision.not_matched} == {
        r.name for r in default_policy.rules
    } - matched


def test_why_lines_say_what_was_measured(default_policy: Policy) -> None:
    case = INCIDENTS["2940-rows-to-29-in-cc"]
    recipients = analyse(
        message_from_bytes(headers(case.to, case.cc), policy=compat32),
        envelope_from=f"tanaka@{INTERNAL}",
        envelope_to=[*case.to, *case.cc],
        internal=Domains([INTERNAL]),
    )
    decision = decide(default_policy, Facts(case.attachments, recipients))
    block = decision.rules[0]
    assert "✓ external recipients is 29 (>= 1)" in block.why
    assert any("personal rows is 2940 (>= 1000)" in line for line in block.why)


def small_policy(tmp_path: Path, text: str) -> Policy:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    return load_policy(tmp_path).policy


def facts(rows: int = 0, domains: tuple[str, ...] = ("a.example",), **sender: object) -> Facts:
    recipients = Recipients(
        internal=0,
        external=len(domains),
        external_visible=len(domains),
        external_envelope_only=0,
        external_domains=domains,
        sender="s@x.jp",
        from_address="s@x.jp",
        from_mismatch=False,
    )
    return Facts((customer_list(rows),) if rows else (), recipients, SenderInfo(**sender))  # type: ignore[arg-type]


REASON = "reason: {ja: 理由, en: reason}"


def test_monitor_mode_records_but_passes(tmp_path: Path) -> None:
    policy = small_policy(
        tmp_path, f"mode: monitor\nrules:\n  - name: b\n    {REASON}\n    action: block\n"
    )
    decision = decide(policy, facts())
    assert decision.action == "pass" and decision.would == "block"
    assert [r.name for r in decision.rules] == ["b"]


def test_monitor_rule_is_recorded_not_enforced(tmp_path: Path) -> None:
    policy = small_policy(
        tmp_path,
        f"rules:\n  - name: b\n    {REASON}\n    action: block\n    mode: monitor\n"
        f"  - name: t\n    {REASON}\n    action: tag\n",
    )
    decision = decide(policy, facts())
    assert decision.action == "tag"
    assert [(r.name, r.mode) for r in decision.rules] == [("b", "monitor"), ("t", "enforce")]


def test_unless_exempts_an_allow_listed_partner(tmp_path: Path) -> None:
    policy = small_policy(
        tmp_path,
        f"rules:\n  - name: h\n    {REASON}\n    when: {{personal_rows: 1}}\n"
        "    unless: {only_to_domains: [partner.example]}\n    action: hold\n",
    )
    assert decide(policy, facts(5, ("partner.example",))).action == "pass"
    assert decide(policy, facts(5, ("sub.partner.example",))).action == "pass"
    assert decide(policy, facts(5, ("partner.example", "other.example"))).action == "hold"


def test_deny_list_and_sender_groups(tmp_path: Path) -> None:
    policy = small_policy(
        tmp_path,
        f"rules:\n  - name: rival\n    {REASON}\n    when: {{to_domains: [rival.example]}}\n"
        "    action: block\n"
        f"  - name: interns\n    {REASON}\n"
        "    when: {sender_groups: [interns], personal_rows: '> 0'}\n    action: hold\n",
    )
    assert decide(policy, facts(0, ("rival.example",))).action == "block"
    assert decide(policy, facts(3, ("a.example",), groups=("interns",))).action == "hold"
    assert decide(policy, facts(3, ("a.example",), groups=("sales",))).action == "pass"


def test_any_all_not(tmp_path: Path) -> None:
    policy = small_policy(
        tmp_path,
        f"rules:\n  - name: x\n    {REASON}\n    action: tag\n    when:\n"
        "      any: [{personal_rows: '>= 100'}, {external_domains: '>= 3'}]\n"
        "      not: {sender_in_directory: true}\n",
    )
    assert decide(policy, facts(100)).action == "tag"
    assert decide(policy, facts(1, ("a.example", "b.example", "c.example"))).action == "tag"
    assert decide(policy, facts(1)).action == "pass"
    assert decide(policy, facts(100, in_directory=True)).action == "pass"


@pytest.mark.parametrize(
    ("requested", "action", "actions"),
    [
        (set(), "pass", ("pass",)),
        ({"tag"}, "tag", ("tag",)),
        ({"encrypt", "tag"}, "encrypt", ("encrypt", "tag")),
        ({"bcc", "encrypt"}, "encrypt", ("encrypt", "bcc")),
        ({"hold", "encrypt", "tag"}, "hold", ("hold", "encrypt", "tag")),
        ({"block", "hold", "encrypt"}, "block", ("block",)),
        ({"pass", "tag"}, "tag", ("tag",)),
    ],
)
def test_strictest_action_wins_and_composes(
    requested: set[str], action: str, actions: tuple[str, ...]
) -> None:
    assert combine(requested) == (action, actions)  # type: ignore[arg-type]
