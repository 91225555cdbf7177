"""Policy files: merged in name order, validated all or nothing, every error at file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlp_proxy.cli import main
from dlp_proxy.policy.errors import PolicyError
from dlp_proxy.policy.load import load_policy

REPO = Path(__file__).resolve().parent.parent
RULE = """\
rules:
  - name: r1
    reason: {ja: 理由, en: reason}
    when:
      personal_rows: ">= 1"
    action: hold
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as error:
        load_policy(directory)
    return [str(p) for p in error.value.problems]


def test_shipped_default_policy_is_valid() -> None:
    loaded = load_policy(REPO / "policies")
    names = [rule.name for rule in loaded.policy.rules]
    assert names == [
        "appi-reportable-volume",
        "personal-data-to-external",
        "many-visible-external-addresses",
        "unscannable-attachment-to-external",
        "scanned-pdf-to-external",
    ]
    assert loaded.policy.config.mode == "enforce"
    assert len(loaded.policy.version) == 12


def test_every_key_of_the_default_policy_is_commented() -> None:
    lines = (REPO / "policies" / "default.yaml").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if line and not line[0].isspace() and not stripped.startswith("#"):
            previous = lines[number - 1].strip() if number else ""
            assert previous.startswith("#"), f"top-level key without a comment: {line}"


CASES = {
    "yaml-syntax": (
        {"a.yaml": "rules:\n  - name: x\n    reason: [unclosed\n"},
        "a.yaml:4: YAML syntax",
    ),
    "unknown-top-level-key": (
        {"a.yaml": "mode: enforce\ninternal_domain: [example.jp]\n"},
        "a.yaml:2: internal_domain: Extra inputs are not permitted",
    ),
    "unknown-condition": (
        {"a.yaml": RULE.replace('personal_rows: ">= 1"', 'personal_rows: ">= 1"\n      rows: 3')},
        "a.yaml:6: rules[0].when.rows: Extra inputs are not permitted",
    ),
    "bad-count": (
        {"a.yaml": RULE.replace('">= 1"', '"lots"')},
        'a.yaml:5: rules[0].when.personal_rows: Value error, write a count test such as ">= 1000"',
    ),
    "missing-english-reason": (
        {"a.yaml": RULE.replace("{ja: 理由, en: reason}", "{ja: 理由}")},
        "a.yaml:3: rules[0].reason.en: Field required",
    ),
    "bad-action": (
        {"a.yaml": RULE.replace("action: hold", "action: quarantine")},
        "a.yaml:6: rules[0].action:",
    ),
    "bad-kind": (
        {"a.yaml": RULE.replace('personal_rows: ">= 1"', "column_kinds: [mynumber]")},
        "a.yaml:5: rules[0].when.column_kinds[0]:",
    ),
    "bad-mode": ({"a.yaml": "mode: dry-run\n"}, "a.yaml:1: mode:"),
    "bad-time-zone": (
        {"a.yaml": "notices:\n  timezone: Asia/Edo\n"},
        "a.yaml:2: notices.timezone: Value error, unknown time zone 'Asia/Edo'",
    ),
    "bad-admin-address": (
        {"a.yaml": "notices:\n  admins: [security]\n"},
        "a.yaml:2: notices.admins[0]:",
    ),
    "bad-unmodifiable": ({"a.yaml": "unmodifiable: pass\n"}, "a.yaml:1: unmodifiable:"),
    "bad-domain": ({"a.yaml": "internal_domains: [example.jp, 'not a domain']\n"}, "a.yaml:1:"),
    "twice-in-one-file": (
        {"a.yaml": RULE + RULE.split("rules:\n", 1)[1]},
        "a.yaml:7: name: rule 'r1' appears twice",
    ),
    "top-level-not-a-mapping": ({"a.yaml": "- just\n- a list\n"}, "a.yaml:1: a policy file"),
    "later-file-breaks-a-rule": (
        {"10-base.yaml": RULE, "20-local.yaml": "rules:\n  - name: r1\n    mode: sometimes\n"},
        "20-local.yaml:3: rules[0].mode:",
    ),
}


@pytest.mark.parametrize(("files", "expected"), list(CASES.values()), ids=list(CASES))
def test_errors_name_file_line_and_key(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    found = problems(write(tmp_path / "p", files))
    assert any(expected in p for p in found), found


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    found = problems(write(tmp_path / "p", {"a.yaml": "mode: x\nbogus: 1\n"}))
    assert len(found) == 2


def test_no_policy_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "no policy files" in problems(tmp_path / "empty")[0]
    assert "not found" in problems(tmp_path / "absent")[0]


def test_local_file_overrides_without_editing_the_shipped_one(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    shutil.copytree(REPO / "policies", directory)
    write(
        directory,
        {
            "local.yaml": """\
internal_domains: [example.co.jp]
rules:
  - name: many-visible-external-addresses
    mode: monitor
  - name: unscannable-attachment-to-external
    enabled: false
  - name: competitor
    reason: {ja: 競合他社宛て, en: to a competitor}
    when: {to_domains: [rival.example]}
    action: block
"""
        },
    )
    policy = load_policy(directory).policy
    rules = {rule.name: rule for rule in policy.rules}
    assert policy.config.internal_domains == ("example.co.jp",)
    assert rules["many-visible-external-addresses"].mode == "monitor"
    assert rules["many-visible-external-addresses"].action == "hold"  # the rest kept
    assert "unscannable-attachment-to-external" not in rules
    assert list(rules)[-1] == "competitor"
    shipped = load_policy(REPO / "policies").policy
    assert policy.version != shipped.version


def test_directory_csv_and_yaml(tmp_path: Path) -> None:
    directory = write(
        tmp_path / "p",
        {
            "policy.yaml": "directory: people.csv\n",
            "people.csv": (
                "email,name,managers,department,groups,language\n"
                "Tanaka@Example.co.jp,田中,sato@example.co.jp;kato@example.co.jp,営業部,sales;field,ja\n"
                "sato@example.co.jp,佐藤,,営業部,managers,en\n"
            ),
        },
    )
    people = load_policy(directory).directory
    tanaka = people.lookup("tanaka@example.co.jp")
    assert tanaka is not None
    assert tanaka.managers == ("sato@example.co.jp", "kato@example.co.jp")
    assert people.sender_info("TANAKA@example.co.jp").groups == ("sales", "field")
    assert not people.sender_info("nobody@example.co.jp").in_directory

    write(
        directory,
        {
            "policy.yaml": "directory: people.yaml\n",
            "people.yaml": (
                "people:\n  - email: a@example.co.jp\n    managers: [b@example.co.jp]\n"
                "  - email: b@example.co.jp\n    language: en\n"
            ),
        },
    )
    assert load_policy(directory).directory.lookup("a@example.co.jp") is not None


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("people.csv", "email,name,boss\na@x.jp,A,b@x.jp\n", "people.csv:2: boss: Extra inputs"),
        ("people.csv", "email,name\nnot-an-address,A\n", "people.csv:2: email:"),
        ("people.csv", "email\na@x.jp\nA@x.jp\n", "people.csv:3: email: a@x.jp is listed twice"),
        (
            "people.yaml",
            "people:\n  - email: a@x.jp\n    language: fr\n",
            "people.yaml:2: language",
        ),
        ("people.yaml", "staff: []\n", "people.yaml:1: people: expected a list"),
    ],
    ids=["unknown-column", "bad-email", "duplicate", "bad-language", "wrong-key"],
)
def test_directory_errors_name_file_and_line(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    directory = write(tmp_path / "p", {"policy.yaml": f"directory: {name}\n", name: text})
    found = problems(directory)
    assert any(expected in p for p in found), found


def test_policy_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["policy", "check", str(REPO / "policies")])
    assert good.exit_code == 0 and "valid" in good.output
    bad = write(tmp_path / "p", {"a.yaml": "mode: x\n"})
    result = runner.invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "a.yaml:1: mode:" in result.output


def test_approvers_are_managers_with_their_delegates_else_the_fallback(tmp_path: Path) -> None:
    directory = write(
        tmp_path / "p",
        {
            "policy.yaml": "directory: people.csv\n",
            "people.csv": (
                "email,managers,delegates\n"
                "tanaka@x.jp,sato@x.jp;kato@x.jp,\n"
                "sato@x.jp,,suzuki@x.jp\n"
                "kato@x.jp,,sato@x.jp\n"
                "loner@x.jp,,\n"
            ),
        },
    )
    people = load_policy(directory).directory
    assert people.approvers_of("Tanaka@x.jp") == ("sato@x.jp", "suzuki@x.jp", "kato@x.jp")
    assert people.approvers_of("loner@x.jp", fallback=("Desk@x.jp",)) == ("desk@x.jp",)
    assert people.approvers_of("stranger@y.jp") == ()
