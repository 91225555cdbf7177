"""Notices: every kind in both languages, headers, MIME structure, escaping, overrides, delivery."""

from __future__ import annotations

import re
from dataclasses import replace
from email import message_from_string, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import jinja2
import pytest

from dlp_proxy.actions.notice_context import Approval, Person
from dlp_proxy.actions.notify import (
    LANGUAGES,
    NOTICE_KINDS,
    Formatter,
    NoticeError,
    NoticeRenderer,
    NoticeSettings,
    sample_context,
)
from dlp_proxy.config import HostPort
from dlp_proxy.envelope import Client
from dlp_proxy.policy.directory import Directory, PersonEntry
from dlp_proxy.relay import NextHop
from tests.conftest import Sink
from tests.notices import (
    APPROVER,
    CJK,
    HIRAGANA,
    NOW,
    PASSWORD,
    SENDER,
    context,
    html_problems,
    read,
    settings,
)

CASES = [(kind, lang) for kind in NOTICE_KINDS for lang in LANGUAGES]
IDS = [f"{kind}-{lang}" for kind, lang in CASES]
# Kinds whose reader is the sender (the rest: approver, recipient, admin).
TO_SENDER = {"encrypted", "blocked", "held", "rejected", "released"}


def reader_of(kind: str) -> Person:
    if kind == "approval_request":
        return APPROVER
    if kind == "admin_alert":
        return Person("admin@example.co.jp")
    if kind == "encrypted_recipient_password":
        return Person("buyer@customer.example")
    return SENDER


@pytest.fixture(scope="module")
def renderer() -> NoticeRenderer:
    return NoticeRenderer(settings())


def renderer_for(kind: str) -> NoticeRenderer:
    """The default settings, except that the recipients' password notice must be switched on."""
    return NoticeRenderer(settings(password_to_recipients=kind == "encrypted_recipient_password"))


@pytest.mark.parametrize(("kind", "lang"), CASES, ids=IDS)
def test_every_notice_is_a_complete_message(kind: str, lang: str):
    to = reader_of(kind)
    raw = renderer_for(kind).render(kind, context(), to=to, language=lang, now=NOW)  # type: ignore[arg-type]
    notice = read(raw)
    msg = notice.message

    assert msg["From"] == "dlp-proxy <dlp-proxy@mx.example.co.jp>"
    assert msg["To"].addresses[0].addr_spec == to.address
    assert msg["To"].addresses[0].display_name == (to.name or "")
    # (a subject that fits on one continuation line is folded before it; unfolding restores it)
    assert msg["Subject"].strip().startswith("[dlp-proxy] ")
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert re.fullmatch(r"<[^<>@\s]+@mx\.example\.co\.jp>", msg["Message-ID"])
    assert msg["References"] == "<original.42@example.co.jp>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-DLP-Notice"] == kind
    assert msg["X-DLP-Queue-ID"] == "18F2A3B4C5D6E"
    assert msg["Content-Language"] == lang
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable", "base64")

    # 7-bit clean with CRLF line ends only: any next hop takes it without 8BITMIME/SMTPUTF8.
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998

    assert f'<html lang="{lang}">' in notice.html
    assert html_problems(notice.html) == []
    assert "18F2A3B4C5D6E" in notice.text and "18F2A3B4C5D6E" in notice.html
    assert "{{" not in notice.text + notice.html and "{%" not in notice.text + notice.html
    if lang == "ja":
        assert HIRAGANA.search(notice.text) and HIRAGANA.search(notice.html)
        assert HIRAGANA.search(msg["Subject"])
    else:
        # The context is ASCII: any Japanese in an English notice is an untranslated string.
        assert not CJK.search(notice.text), CJK.findall(notice.text)
        assert not CJK.search(notice.html), CJK.findall(notice.html)
        assert not CJK.search(msg["Subject"])
    if kind in TO_SENDER or kind == "approval_request":
        assert "Quotation with customer list" in msg["Subject"]


# What each notice must tell its reader, as (kind, lang) -> phrases in both parts.
MUST_SAY = {
    ("encrypted", "ja"): [
        PASSWORD,
        "customers.zip",
        "メール以外の方法",
        "メールで続けて送ることはお控えください",
        "7-Zip",
        "エクスプローラーでは開けません",
    ],
    ("encrypted", "en"): [
        PASSWORD,
        "customers.zip",
        "by phone, in a chat",
        "do not send it in a follow-up mail",
        "7-Zip",
        "Windows Explorer cannot open",
    ],
    ("encrypted_recipient_password", "ja"): [
        PASSWORD,
        "PPAP",
        "2020年",
        "7-Zip",
        "エクスプローラー",
    ],
    ("encrypted_recipient_password", "en"): [PASSWORD, "PPAP", "2020", "7-Zip", "Windows Explorer"],
    ("blocked", "ja"): [
        "送信を停止しました",
        "personal-data-to-external",
        "社外宛てのメールに個人データを含む添付ファイルがあります。",
        "2,940行",
        "Y**** T***",
        "個人データを削除",
        "https://files.example.co.jp/",
        "上長",
    ],
    ("blocked", "en"): [
        "was not sent",
        "personal-data-to-external",
        "attachments with personal data",
        "2,940 rows",
        "Y**** T***",
        "Remove the personal data",
        "https://files.example.co.jp/",
        "ask your manager",
    ],
    ("admin_alert", "ja"): [
        "tanaka@example.co.jp",
        "2,940行",
        "personal-data-to-external",
        "abc123",
    ],
    ("admin_alert", "en"): ["tanaka@example.co.jp", "2,940 rows", "personal-data-to-external"],
    ("held", "ja"): ["Sato Hanako", "承認", "2024年5月3日 14:03", "暗号化"],
    ("held", "en"): ["Sato Hanako", "approves", "3 May 2024, 14:03 JST", "encrypted"],
    ("approval_request", "ja"): [
        "承認する",
        "却下する",
        "buyer@customer.example",
        "suzuki@example.co.jp",
        "Y**** T***",
        "2,940行",
    ],
    ("approval_request", "en"): [
        "Approve",
        "Reject",
        "buyer@customer.example",
        "suzuki@example.co.jp",
        "Y**** T***",
        "2,940 rows",
    ],
    ("rejected", "ja"): ["却下", "Sato Hanako", "Please send only the rows they need."],
    ("rejected", "en"): ["rejected", "Sato Hanako", "Please send only the rows they need."],
    ("released", "ja"): ["承認", "送信しました", "パスワードは別のお知らせ"],
    ("released", "en"): ["approved", "has been sent", "password in a separate notice"],
}


@pytest.mark.parametrize(("kind", "lang"), CASES, ids=IDS)
def test_each_notice_says_what_its_reader_needs(kind: str, lang: str):
    renderer = renderer_for(kind)
    notice = read(renderer.render(kind, context(), to=reader_of(kind), language=lang, now=NOW))  # type: ignore[arg-type]
    for phrase in MUST_SAY[(kind, lang)]:
        assert phrase in notice.text, phrase
        assert phrase in notice.html.replace("&amp;", "&"), phrase


def test_approval_links_are_real_links_in_html(renderer: NoticeRenderer):
    notice = read(renderer.render("approval_request", context(), to=APPROVER, language="en"))
    assert 'href="https://dlp.example.co.jp/a/approve?t=1&amp;u=2"' in notice.html
    assert 'href="https://dlp.example.co.jp/a/reject?t=1&amp;u=2"' in notice.html
    assert "https://dlp.example.co.jp/a/approve?t=1&u=2" in notice.text


@pytest.mark.parametrize("on", [False, True], ids=["password-by-other-channel", "password-mailed"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_encrypted_notice_follows_the_password_setting(lang: str, on: bool):
    renderer = NoticeRenderer(settings(password_to_recipients=on))
    text = read(renderer.render("encrypted", context(), to=SENDER, language=lang)).text  # type: ignore[arg-type]
    follow_up = {"ja": "メールで続けて送ることはお控えください", "en": "follow-up mail"}[lang]
    mailed = {"ja": "受信者にも別のメールでお送りしています", "en": "also get the password"}[lang]
    assert (follow_up in text) is not on
    assert (mailed in text) is on


HOSTILE = "<script>alert(1)</script>"


@pytest.mark.parametrize(("kind", "lang"), CASES, ids=IDS)
def test_html_escapes_hostile_subjects_names_and_comments(kind: str, lang: str):
    hostile = context(
        subject=f"Re: {HOSTILE}",
        attachment_name='"><img src=x onerror=alert(2)>.xlsx',
        sender=Person("tanaka@example.co.jp", f"Tanaka {HOSTILE}"),
        comment=f"No. {HOSTILE}",
        reason_en=f"Rule text <b>{HOSTILE}</b>",
    )
    to = reader_of(kind)
    notice = read(renderer_for(kind).render(kind, hostile, to=to, language=lang))  # type: ignore[arg-type]
    assert "<script" not in notice.html
    assert "<img" not in notice.html and "<b>" not in notice.html
    assert html_problems(notice.html) == []
    if kind in TO_SENDER | {"approval_request"}:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in notice.html
        assert HOSTILE in notice.text  # plain text shows it as written: it is just text there


def test_header_injection_through_the_subject_is_impossible(renderer: NoticeRenderer):
    evil = context(subject="hello\r\nBcc: victim@evil.example\r\n\r\nbody")
    msg = read(renderer.render("blocked", evil, to=SENDER, language="en")).message
    assert msg["Bcc"] is None
    assert "Bcc: victim@evil.example" in msg["Subject"]  # folded into the one subject line


def test_a_missing_variable_is_an_error(tmp_path: Path):
    (tmp_path / "blocked.en.txt.j2").write_text(
        "{% set subject %}x{% endset %}{{ message.subject }} {{ message.raw_body }}\n"
    )
    renderer = NoticeRenderer(settings(), template_dirs=[tmp_path])
    with pytest.raises(NoticeError, match="raw_body") as failure:
        renderer.render("blocked", context(), to=SENDER, language="en")
    assert isinstance(failure.value.__cause__, jinja2.UndefinedError)
    # the built-in Japanese one is untouched and still renders
    assert renderer.render("blocked", context(), to=SENDER, language="ja")


def test_check_reports_a_broken_override(tmp_path: Path):
    NoticeRenderer(settings(), template_dirs=[tmp_path]).check()
    (tmp_path / "held.ja.html.j2").write_text("{{ undefined_thing }}")
    (tmp_path / "rejected.en.txt.j2").write_text("{% if %}")
    with pytest.raises(NoticeError) as failure:
        NoticeRenderer(settings(), template_dirs=[tmp_path]).check()
    assert "held.ja" in str(failure.value) and "undefined_thing" in str(failure.value)
    assert "rejected.en.txt.j2" in str(failure.value)


def test_a_template_without_a_subject_is_refused(tmp_path: Path):
    (tmp_path / "released.en.txt.j2").write_text("no subject set here\n")
    renderer = NoticeRenderer(settings(), template_dirs=[tmp_path])
    with pytest.raises(NoticeError, match="sets no subject"):
        renderer.render("released", context(), to=SENDER, language="en")


def test_templates_override_by_file_name(tmp_path: Path):
    (tmp_path / "blocked.ja.txt.j2").write_text(
        '{% extends "_layout.ja.txt.j2" %}\n'
        "{% set subject %}送信できませんでした（{{ message.queue_id }}）{% endset %}\n"
        "{% block body %}情報システム部の手順書をご覧ください。{% endblock %}\n",
        encoding="utf-8",
    )
    (tmp_path / "_layout.en.html.j2").write_text(
        "<html><body>ACME {% block body %}{% endblock %}</body></html>"
    )
    renderer = NoticeRenderer(settings(), template_dirs=[tmp_path])
    ja = read(renderer.render("blocked", context(), to=SENDER, language="ja"))
    assert ja.message["Subject"] == "[dlp-proxy] 送信できませんでした（18F2A3B4C5D6E）"
    assert "情報システム部の手順書" in ja.text
    assert "受付番号: 18F2A3B4C5D6E" in ja.text  # the built-in layout around it
    assert "personal-data-to-external" in ja.html  # the HTML part is still the built-in one
    en = read(renderer.render("held", context(), to=SENDER, language="en"))
    assert en.html.startswith("<html><body>ACME ") and "is held" in en.html
    builtin = read(
        NoticeRenderer(settings()).render("blocked", context(), to=SENDER, language="ja")
    )
    assert "情報システム部の手順書" not in builtin.text


def test_the_override_example_in_the_docs_works(tmp_path: Path):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "notices.md").read_text()
    example = re.search(r"```jinja\n(.*?)```", docs, re.DOTALL)
    assert example is not None
    (tmp_path / "blocked.ja.txt.j2").write_text(example.group(1), encoding="utf-8")
    renderer = NoticeRenderer(settings(), template_dirs=[tmp_path])
    notice = read(renderer.render("blocked", context(), to=SENDER, language="ja"))
    assert (
        notice.message["Subject"].strip()
        == "[dlp-proxy] 送信を停止しました: Quotation with customer list"
    )
    assert "個人情報取扱規程" in notice.text and "personal-data-to-external" in notice.text


@pytest.mark.parametrize(
    ("kind", "change", "problem"),
    [
        ("encrypted", {"encryption": None}, "needs the encryption"),
        ("encrypted_recipient_password", {"encryption": None}, "needs the encryption"),
        ("held", {"approval": None}, "needs the approval"),
        ("held", {"approval": Approval()}, "at least one approver"),
        ("approval_request", {"approval": Approval(approvers=(APPROVER,))}, "links"),
        ("rejected", {"approval": None}, "needs the approval"),
        ("released", {"approval": None}, "needs the approval"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_missing_context_for_a_kind_is_a_clear_error(kind: str, change: dict[str, object], problem):
    renderer = NoticeRenderer(settings(password_to_recipients=True))
    with pytest.raises(NoticeError, match=problem):
        renderer.render(kind, replace(context(), **change), to=SENDER)  # type: ignore[arg-type]


def test_unknown_kind_and_language_are_errors(renderer: NoticeRenderer):
    with pytest.raises(NoticeError, match="unknown notice kind"):
        renderer.render("memo", context(), to=SENDER)  # type: ignore[arg-type]
    with pytest.raises(NoticeError, match="no notices in language"):
        renderer.render("blocked", context(), to=SENDER, language="fr")  # type: ignore[arg-type]


def test_password_to_recipients_is_off_by_default():
    renderer = NoticeRenderer(settings())
    assert renderer.settings.password_to_recipients is False
    assert renderer.audience("encrypted_recipient_password", context()) == ()
    assert renderer.notices("encrypted_recipient_password", context()) == ()
    with pytest.raises(NoticeError, match="password_to_recipients"):
        renderer.render("encrypted_recipient_password", context(), to=SENDER)


def test_audience_and_language_per_person():
    directory = Directory(
        {
            "tanaka@example.co.jp": PersonEntry(
                email="tanaka@example.co.jp", name="田中 一郎", language="en"
            ),
            "soc@example.co.jp": PersonEntry(email="soc@example.co.jp", name="SOC", language="en"),
        }
    )
    renderer = NoticeRenderer(settings(password_to_recipients=True))
    ctx = replace(
        context(), message=replace(context().message, sender=Person("tanaka@example.co.jp"))
    )

    [blocked] = renderer.notices("blocked", ctx, directory=directory, now=NOW)
    assert (blocked.rcpt_to, blocked.language, blocked.mail_from) == (
        "tanaka@example.co.jp",
        "en",
        "",
    )
    assert read(blocked.content).message["To"].addresses[0].display_name == "田中 一郎"

    admins = renderer.notices("admin_alert", ctx, directory=directory, now=NOW)
    assert [(n.rcpt_to, n.language) for n in admins] == [
        ("admin@example.co.jp", "ja"),  # not in the directory: the default language
        ("soc@example.co.jp", "en"),
    ]
    # one mail per recipient: no recipient learns of another (Bcc recipients stay hidden)
    mailed = renderer.notices("encrypted_recipient_password", ctx, now=NOW)
    assert [n.rcpt_to for n in mailed] == ["buyer@customer.example", "info@partner.example"]
    assert "info@partner.example" not in read(mailed[0].content).everything
    [request] = renderer.notices("approval_request", ctx, now=NOW)
    assert request.rcpt_to == APPROVER.address

    english = NoticeRenderer(settings(default_language="en"))
    assert (
        read(english.render("blocked", ctx, to=Person("x@example.co.jp"))).message[
            "Content-Language"
        ]
        == "en"
    )


def test_non_ascii_address_needs_smtputf8(renderer: NoticeRenderer):
    notice = renderer.notice("blocked", context(), to=Person("田中@example.co.jp", "田中"))
    assert notice.smtputf8
    parsed = message_from_string(notice.content.decode("utf-8"), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "田中@example.co.jp"
    assert parsed["X-DLP-Notice"] == "blocked"
    assert not renderer.notice("blocked", context(), to=SENDER).smtputf8


@pytest.mark.parametrize(
    "options",
    [
        {"from_address": "not an address"},
        {"admin_addresses": ("ok@example.co.jp", "@nowhere")},
        {"timezone": "Mars/Olympus"},
        {"default_language": "de"},
    ],
    ids=["from", "admin", "timezone", "language"],
)
def test_bad_settings_are_refused(options: dict[str, object]):
    with pytest.raises(NoticeError):
        settings(**options)


def test_for_host_and_formatter():
    assert (
        NoticeSettings.for_host("mx1.example.co.jp").from_address == "dlp-proxy@mx1.example.co.jp"
    )
    tokyo = settings().zone
    ja, en = Formatter("ja", tokyo), Formatter("en", tokyo)
    assert ja.when(NOW) == "2024年5月1日 14:05（JST）"
    assert en.when(NOW) == "1 May 2024, 14:05 JST"
    assert (ja.size(900), en.size(900), en.size(183_024), en.size(5_500_000)) == (
        "900 バイト",
        "900 bytes",
        "179 KB",
        "5.2 MB",
    )
    assert (
        ja.kinds(["person_name", "my_number", "new_kind"])
        == "氏名、マイナンバー（個人番号）、new_kind"
    )
    assert en.action("block") == "blocked" and ja.action("hold") == "承認待ちで保留"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_long_recipient_lists_are_cut(renderer: NoticeRenderer, lang: str):
    many = tuple(f"customer{i:02}@mail.example" for i in range(25))
    text = read(renderer.render("blocked", context(external=many), to=SENDER, language=lang)).text  # type: ignore[arg-type]
    assert "customer19@mail.example" in text and "customer20@mail.example" not in text
    assert {"ja": "ほか5件", "en": "and 5 more"}[lang] in text
    assert {"ja": "社外（25件）", "en": "External (25)"}[lang] in text


def test_sample_context_renders_everywhere():
    NoticeRenderer(settings()).check()
    ctx = sample_context()
    assert "Kq7" not in repr(ctx)  # the password stays out of reprs (and so out of logs)


async def test_a_notice_goes_through_the_next_hop_unchanged(sink: Sink, renderer: NoticeRenderer):
    hop = NextHop(
        HostPort("127.0.0.1", sink.port), local_hostname="proxy.test", timeout=5, max_idle=1
    )
    notices = renderer.notices("admin_alert", context(), now=NOW)
    try:
        for notice in notices:
            options = ["SMTPUTF8"] if notice.smtputf8 else []
            transaction = await hop.begin(notice.mail_from, options, Client("127.0.0.1"))
            await transaction.rcpt(notice.rcpt_to)
            await transaction.data(notice.content)
    finally:
        await hop.close()
    assert [(m.mail_from, m.rcpt_tos) for m in sink.messages] == [
        ("<>", ["admin@example.co.jp"]),
        ("<>", ["soc@example.co.jp"]),
    ]
    for received, notice in zip(sink.messages, notices, strict=True):
        assert received.content == notice.content
        assert read(received.content).message["X-DLP-Notice"] == "admin_alert"
    assert "Qv8" not in repr(notices)
