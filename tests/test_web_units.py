"""Pure parts of the web UI: rate limiter, texts and languages, the stored summary, settings."""

from __future__ import annotations

import os
import re
import stat
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from dlp_proxy.actions.notice_context import AttachmentSummary, MessageSummary, Person
from dlp_proxy.config import HostPort, load_settings
from dlp_proxy.decide import Decision, RuleResult
from dlp_proxy.errors import ConfigError
from dlp_proxy.policy.schema import Texts
from dlp_proxy.quarantine import STATES
from dlp_proxy.web import i18n
from dlp_proxy.web.auth import safe_next
from dlp_proxy.web.ratelimit import Limits, SignInLimiter
from dlp_proxy.web.render import TEMPLATES
from dlp_proxy.web.secret import derive, load_secret, read_or_create
from dlp_proxy.web.summary import Summary, headers_of, make_summary

# --- rate limiter -------------------------------------------------------------------------


def test_the_limiter_forgets_failures_after_the_window() -> None:
    now = [1000.0]
    limiter = SignInLimiter(Limits(account=2, address=5, window=60), clock=lambda: now[0])
    limiter.failed("A@x.example", "192.0.2.1")
    now[0] += 30
    limiter.failed("a@x.example", "192.0.2.1")
    assert limiter.retry_after("a@x.example", "192.0.2.9") == pytest.approx(30)
    assert limiter.retry_after("b@x.example", "192.0.2.1") is None
    now[0] += 31
    assert limiter.retry_after("a@x.example", "192.0.2.1") is None
    limiter.failed("a@x.example", "192.0.2.1")
    limiter.succeeded("a@x.example", "192.0.2.1")
    limiter.failed("a@x.example", "192.0.2.1")
    assert limiter.retry_after("a@x.example", "192.0.2.1") is None


def test_a_success_takes_back_its_own_count_at_the_address() -> None:
    limiter = SignInLimiter(Limits(account=5, address=2, window=60), clock=lambda: 0.0)
    for _ in range(5):
        limiter.failed("a@x.example", "192.0.2.1")  # counted before the check ...
        limiter.succeeded("a@x.example", "192.0.2.1")  # ... and taken back when it passed
    assert limiter.retry_after("b@x.example", "192.0.2.1") is None
    limiter.failed("b@x.example", "192.0.2.1")
    limiter.failed("c@x.example", "192.0.2.1")
    assert limiter.retry_after("d@x.example", "192.0.2.1") == 60


def test_the_limiter_stays_small_under_a_spray_of_names() -> None:
    limiter = SignInLimiter()
    for index in range(25_000):
        limiter.failed(f"user{index}@x.example", f"10.0.{index // 250}.{index % 250}")
    assert len(limiter._accounts) <= 10_000 and len(limiter._addresses) <= 10_000


# --- texts --------------------------------------------------------------------------------


def test_every_text_exists_in_both_languages_with_the_same_placeholders() -> None:
    for key, entry in i18n.TEXTS.items():
        assert set(entry) == {"ja", "en"}, key
        assert entry["ja"].strip() and entry["en"].strip(), key
        names = {lang: set(re.findall(r"\{(\w+)\}", text)) for lang, text in entry.items()}
        assert names["ja"] == names["en"], key


def test_every_text_the_templates_ask_for_exists() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.j2"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", template.read_text()))
    assert used, "no t(...) calls found: the pattern is out of date"
    prefixes = {k for k in used if k.endswith(".")}
    missing = {k for k in used - prefixes if k not in i18n.TEXTS}
    assert not missing
    # Keys built from a prefix and a value: every value they can take.
    assert {f"state.{s}" for s in (*STATES, "all")} <= set(i18n.TEXTS)
    for prefix in ("link.title.", "link.intro.", "link.confirm.", "done."):
        assert {prefix + a for a in ("approve", "reject", "withdraw")} <= set(i18n.TEXTS)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja,en-US;q=0.9,en;q=0.8", "ja"),
        ("en-US,en;q=0.9,ja;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.5,ja;q=0.7", "ja"),
        ("de, en;q=0", None),
        ("JA-jp", "ja"),
        ("en;q=abc, ja;q=0.1", "ja"),
        ("", None),
        ("*", None),
    ],
)
def test_accept_language(header: str, expected: str | None) -> None:
    assert i18n.accepted(header) == expected


def test_the_toggle_wins_then_the_user_then_the_browser() -> None:
    assert i18n.choose(chosen="en", user="ja", header="ja", default="ja") == "en"
    assert i18n.choose(chosen=None, user="en", header="ja", default="ja") == "en"
    assert i18n.choose(chosen="xx", user=None, header="en", default="ja") == "en"
    assert i18n.choose(chosen=None, user=None, header=None, default="en") == "en"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/m/Q1", "/m/Q1"), ("//x.example", "/"), ("http://x", "/"), ("/\\x", "/"), (None, "/")],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


# --- the stored summary -------------------------------------------------------------------


def _decision() -> Decision:
    rule = RuleResult(
        name="personal-data-to-external",
        matched=True,
        mode="enforce",
        actions=("hold", "encrypt"),
        reason=Texts(ja="個人データがあります。", en="Personal data."),
        why=("✓ personal rows is 3 (>= 1)",),
    )
    watching = RuleResult("watch", True, "monitor", ("hold",), Texts(ja="見", en="w"), ())
    return Decision(
        action="hold", actions=("hold", "encrypt"), rules=(rule, watching), policy_version="v7"
    )


def test_make_summary_keeps_counts_and_masked_samples_only() -> None:
    message = MessageSummary(
        queue_id="Q1",
        sender=Person("a@dealer.example.jp"),
        subject="件名",
        attachments=(
            AttachmentSummary(
                name="list.xlsx",
                type="xlsx",
                size=1000,
                personal_rows=3,
                persons=3,
                kinds=("person_name", "phone"),
                samples=("山田 **", "山田 太郎", "090-****-5678"),
            ),
        ),
    )
    summary = make_summary(message, _decision(), headers={"subject": "件\x07名", "from": "a"})
    # The keys the pages, the API and `queue show` read (docs/web.md).
    assert set(summary) == {"version", "headers", "recipients", "attachments", "decision"}
    assert set(summary["headers"]) == {"from", "to", "cc", "subject", "date", "message_id"}
    assert set(summary["recipients"]) == {
        "internal",
        "external",
        "external_visible",
        "external_domains",
    }
    assert set(summary["attachments"][0]) == {
        "path",
        "type",
        "size",
        "personal_rows",
        "persons",
        "kinds",
        "samples",
        "unscannable",
    }
    assert set(summary["decision"]) == {"action", "actions", "mode", "policy_version", "rules"}
    assert set(summary["decision"]["rules"][0]) == {"name", "mode", "actions", "reason", "why"}
    assert summary["attachments"][0]["samples"] == ["山田 **", "090-****-5678"]
    assert "山田 太郎" not in repr(summary)
    assert summary["headers"]["subject"] == "件 名"
    assert [r["name"] for r in summary["decision"]["rules"]] == ["personal-data-to-external"]
    read = Summary.read(summary)
    assert read.personal_rows == 3 and read.rule_names == ("personal-data-to-external",)
    assert read.decision.rules[0].reason.ja == "個人データがあります。"
    assert read.headers.from_ == "a"


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {},
        {"attachments": "not a list"},
        {"attachments": [{"name": "a.csv", "personal_rows": "many"}, {"path": "b.zip/c.xlsx"}]},
        {"decision": {"rules": [{"no": "name"}]}, "headers": {"subject": "ok"}},
        {"recipients": {"external": 5}},
    ],
)
def test_a_malformed_summary_still_shows(stored: dict[str, object] | None) -> None:
    summary = Summary.read(stored)
    assert summary.personal_rows >= 0
    if stored and stored.get("headers"):
        assert summary.headers.subject == "ok"
    if stored and isinstance(stored.get("attachments"), list):
        assert [a.name for a in summary.attachments] == ["?", "b.zip/c.xlsx"]


def test_headers_are_decoded_and_cleaned() -> None:
    raw = (
        b"From: =?ISO-2022-JP?B?GyRCRURDZhsoQg==?= <tanaka@dealer.example.jp>\r\n"
        b"To: a@x.example,\r\n b@y.example\r\n"
        b"Subject: =?UTF-8?B?6KaL56mN5pu4?= \xe2\x80\xae(report)\r\n"
        b"Date: Fri, 01 Nov 2024 09:30:00 +0900\r\n"
        b"Message-ID: <1@dealer.example.jp>\r\n\r\nbody\r\n"
    )
    headers = headers_of(message_from_bytes(raw, policy=compat32))
    assert headers["from"] == "田中 <tanaka@dealer.example.jp>"
    assert headers["to"] == "a@x.example, b@y.example"
    assert headers["subject"] == "見積書 (report)"  # the right-to-left override is gone
    assert headers["date"] == "Fri, 01 Nov 2024 09:30:00 +0900"
    assert headers["message_id"] == "<1@dealer.example.jp>"
    assert headers["cc"] == ""


# --- settings and the secret --------------------------------------------------------------


def test_web_settings() -> None:
    settings = load_settings(environ={})
    assert settings.web_listen == HostPort("127.0.0.1", 8025)
    assert settings.public_url == "http://127.0.0.1:8025"
    custom = load_settings(
        environ={
            "DLP_PROXY_WEB_LISTEN": "[::1]:9000",
            "DLP_PROXY_WEB_URL": "https://dlp.example.jp/approvals/",
            "DLP_PROXY_SECRET_KEY": "k" * 40,
        }
    )
    assert custom.public_url == "https://dlp.example.jp/approvals"
    assert custom.web_listen == HostPort("::1", 9000)
    assert "kkkk" not in repr(custom) and "kkkk" not in str(custom.model_dump())
    assert load_secret(custom) == b"k" * 40


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DLP_PROXY_WEB_URL": "dlp.example.jp"}, "DLP_PROXY_WEB_URL: web_url: Value error"),
        ({"DLP_PROXY_WEB_URL": "ftp://dlp.example.jp"}, "expected an http:// or https:// URL"),
        ({"DLP_PROXY_WEB_URL": "https://x.example/?a=1"}, "without query"),
        ({"DLP_PROXY_WEB_URL": "https://user@x.example/"}, "expected an http"),
        ({"DLP_PROXY_SECRET_KEY": "short"}, "secret_key"),
        ({"DLP_PROXY_WEB_LISTEN": "nowhere"}, "web_listen"),
    ],
)
def test_bad_web_settings_are_explained(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ=environ)


def test_the_secret_file_is_made_once_and_private(tmp_path: Path) -> None:
    settings = load_settings(environ={}, flags={"data_dir": tmp_path / "var"})
    first = load_secret(settings)
    path = tmp_path / "var" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert load_secret(settings) == first
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary left


def test_an_unsafe_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(os.urandom(16).hex().encode() * 2)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others; chmod 600"):
        read_or_create(path)
    path.chmod(0o600)
    path.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="shorter than 32"):
        read_or_create(path)


def test_subkeys_differ_by_purpose() -> None:
    secret = os.urandom(32)
    assert derive(secret, "session") != derive(secret, "link")
    assert derive(secret, "link") == derive(secret, "link")
