"""Notice context: decoded subjects, safe truncation, masked samples only, checked links."""

from __future__ import annotations

from email.header import Header
from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest

from dlp_proxy.actions.notice_context import (
    SUBJECT_LIMIT,
    Approval,
    DecisionSummary,
    EncryptedArchive,
    Encryption,
    MessageSummary,
    Person,
    RecipientSummary,
    clean,
    masked_samples,
    subject_of,
    truncate,
)
from dlp_proxy.decide import Decision, RuleResult
from dlp_proxy.inspect.recipients import Domains
from dlp_proxy.policy.directory import Directory, PersonEntry
from dlp_proxy.policy.schema import Texts


def headers(raw: bytes):  # type: ignore[no-untyped-def]
    return BytesHeaderParser(policy=compat32).parsebytes(raw + b"\r\n\r\n")


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        (b"Subject: " + Header("会議のご案内", "iso-2022-jp").encode().encode(), "会議のご案内"),
        (b"Subject: " + Header("見積書㈱", "utf-8").encode().encode(), "見積書㈱"),
        ("Subject: 生のUTF-8の件名".encode(), "生のUTF-8の件名"),
        ("Subject: シフトJISの件名".encode("cp932"), "シフトJISの件名"),
        (
            b"Subject: =?utf-8?b?5pel5pys?=\r\n =?utf-8?b?6Kqe?= folded\r\n\tline",
            "日本語 folded line",
        ),
        (b"Subject: =?unknown-8bit?q?abc?=", "abc"),
        (b"Subject: invoice\xe2\x80\xaexslx.exe", "invoicexslx.exe"),  # RLO removed
        (b"Subject:    ", ""),
        (b"X-Other: no subject here", ""),
    ],
    ids=[
        "iso-2022-jp",
        "utf-8-encoded-word",
        "raw-utf-8",
        "raw-cp932",
        "folded",
        "unknown-charset",
        "bidi-override",
        "blank",
        "missing",
    ],
)
def test_subject_of(raw: bytes, subject: str):
    assert subject_of(headers(raw)) == subject


def test_long_subject_is_cut_with_an_ellipsis():
    text = subject_of(headers(("Subject: " + "あ" * 200).encode()))
    assert len(text) == SUBJECT_LIMIT and text.endswith("…")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("abcdefghij", 5, "abcd…"),
        ("かか\u3099か\u3099", 4, "かか\u3099…"),  # が decomposed: mark stays with its base
        ("ab\U0001f469\u200d\U0001f4bbcd", 4, "ab…"),  # a ZWJ sequence is not split
        ("ab\U0001f44d\U0001f3fdcd", 4, "ab…"),  # nor an emoji and its skin tone
    ],
)
def test_truncate_keeps_characters_whole(text: str, limit: int, expected: str):
    assert truncate(text, limit) == expected


def test_clean_makes_one_safe_line():
    assert clean("a\r\nb\tc\x00d\u200be\u202ef  g") == "a b c def g"


def test_only_masked_samples_survive():
    samples = [
        "山田 **",
        "山田 太郎",
        "山田 **",
        "0901234****",
        "x" * 80 + "*",
        *[f"{i}*" for i in range(9)],
    ]
    kept = masked_samples(samples)
    assert "山田 太郎" not in kept
    assert kept[:2] == ("山田 **", "0901234****")
    assert len(kept) == 5 and all("*" in s and len(s) <= 40 for s in kept)


def test_recipients_split_by_domain_and_visibility():
    split = RecipientSummary.split(
        [
            "Buyer@Customer.example",
            "sato@example.co.jp",
            "buyer@customer.example",
            "a@tokyo.example.co.jp",
        ],
        internal=Domains(["example.co.jp"]),
        visible=["buyer@customer.example", "other@else.example", "sato@example.co.jp"],
    )
    assert split.external == ("buyer@customer.example",)
    assert split.internal == ("sato@example.co.jp", "a@tokyo.example.co.jp")
    assert split.external_visible == 2  # shown in To/Cc, even if not in this envelope
    assert split.external_domains == ("customer.example",)


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("<abc.1@example.co.jp>", "<abc.1@example.co.jp>"),
        ("abc.1@example.co.jp", None),
        ("<a b@example>", None),
        ("<x@y>\r\nBcc: evil@example", None),
    ],
)
def test_message_id_is_kept_only_when_well_formed(value: str, kept: str | None):
    summary = MessageSummary(queue_id="Q", sender=Person("a@example.co.jp"), message_id=value)
    assert summary.message_id == kept


def test_person_from_directory_and_cleaned_names():
    directory = Directory(
        {
            "tanaka@example.co.jp": PersonEntry(
                email="tanaka@example.co.jp", name="田中 一郎", language="en"
            )
        }
    )
    assert Person.lookup("Tanaka@Example.co.jp", directory) == Person(
        "Tanaka@Example.co.jp", "田中 一郎", "en"
    )
    assert Person.lookup("x@example.co.jp", directory) == Person("x@example.co.jp")
    assert Person.lookup("x@example.co.jp", None).language is None
    assert Person("<a@b.example>", "Evil\r\nBcc: x").name == "Evil Bcc: x"


def test_links_must_be_http():
    with pytest.raises(ValueError, match="http"):
        Approval(approve_url="javascript:alert(1)")
    with pytest.raises(ValueError, match="http"):
        Approval(reject_url="https://dlp.example/x y")
    approval = Approval(comment="一行目\r\n\r\n三行目\x00です")
    assert approval.comment == "一行目\n\n三行目 です"
    assert Approval(comment=" \n ").comment is None


def test_password_is_checked_and_never_in_repr():
    with pytest.raises(ValueError):
        Encryption(password="has space", archives=())
    with pytest.raises(ValueError):
        Encryption(password="", archives=())
    encryption = Encryption(
        password="Zq9-Secret", archives=(EncryptedArchive("a.zip", ("a.xlsx",)),)
    )
    assert "Zq9" not in repr(encryption)


def test_decision_summary_leaves_out_monitor_rules():
    def result(name: str, mode: str) -> RuleResult:
        return RuleResult(name, True, mode, ("block",), Texts(ja="理由", en="reason"), ())  # type: ignore[arg-type]

    decision = Decision(
        action="block",
        actions=("block",),
        rules=(result("enforced", "enforce"), result("watching", "monitor")),
        policy_version="v1",
    )
    summary = DecisionSummary.of(decision)
    assert [r.name for r in summary.rules] == ["enforced"]
    assert summary.rules[0].reason("ja") == "理由" and summary.rules[0].reason("en") == "reason"
    assert summary.policy_version == "v1"
