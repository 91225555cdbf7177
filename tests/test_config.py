"""Settings come from defaults, a TOML file, DLP_PROXY_* variables and flags, in that order."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlp_proxy.cli import main
from dlp_proxy.config import HostPort, Settings, load_settings
from dlp_proxy.errors import ConfigError


def test_defaults_need_nothing() -> None:
    settings = load_settings(environ={})
    assert settings.listen == HostPort("127.0.0.1", 10025)
    assert settings.next_hop is None
    assert settings.data_dir == Path("var")
    assert settings.policy_dir == Path("policies")
    assert ipaddress.ip_address("127.0.0.1") in settings.allow[0]
    assert settings.hostname


@pytest.mark.parametrize(
    ("cpus", "workers", "expected"), [(2, 2, 2), (1, 0, 2), (8, 2, 4), (8, 0, 2)]
)
def test_every_worker_gets_two_scanner_processes_at_least(
    monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int, expected: int
) -> None:
    """One of them stays free for small mail while the other scans a large message."""
    monkeypatch.setattr("os.cpu_count", lambda: cpus)
    settings = load_settings(environ={}, flags={"workers": workers})
    assert settings.scanner_count == expected
    assert (
        load_settings(environ={}, flags={"workers": workers, "scan_processes": 1}).scanner_count
        == 1
    )


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text(
        'listen = "0.0.0.0:2525"\nnext_hop = "10.1.2.3:25"\nmax_size = "10M"\n'
        'allow = ["10.0.0.0/8"]\nhostname = "from-file"\n'
    )
    environ = {"DLP_PROXY_NEXT_HOP": "[::1]:10026", "DLP_PROXY_HOSTNAME": "from-env"}
    settings = load_settings(config_file=config, environ=environ, flags={"hostname": "from-flag"})
    assert settings.listen == HostPort("0.0.0.0", 2525)
    assert settings.next_hop == HostPort("::1", 10026)
    assert str(settings.next_hop) == "[::1]:10026"
    assert settings.max_size == 10 * 1024 * 1024
    assert settings.allow == (ipaddress.ip_network("10.0.0.0/8"),)
    assert settings.hostname == "from-flag"


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text("workers = 3\n")
    settings = load_settings(environ={"DLP_PROXY_CONFIG": str(config)})
    assert settings.workers == 3


def test_list_from_environment() -> None:
    settings = load_settings(environ={"DLP_PROXY_ALLOW": "10.0.0.0/8, 192.168.0.0/16 ::1/128"})
    assert [str(n) for n in settings.allow] == ["10.0.0.0/8", "192.168.0.0/16", "::1/128"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('listen = "127.0.0.1:x"\n', "p.toml:1: listen:"),
        ("workers = 1\nbogus_key = 1\n", "p.toml:2: unknown setting 'bogus_key'"),
        ("scan_timeout = -1\n", "p.toml:1: scan_timeout:"),
        ("listen = \n", "p.toml: Invalid value (at line 1, column 10)"),
        ('tls_cert = "/x.pem"\n', "tls_cert and tls_key must be given together"),
    ],
    ids=["bad-address", "unknown-key", "negative", "toml-syntax", "tls-pair"],
)
def test_file_errors_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "p.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(config_file=config, environ={})
    assert expected in str(error.value)


def test_environment_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"DLP_PROXY_MAX_SIZE": "lots"})
    assert "environment variable DLP_PROXY_MAX_SIZE: max_size:" in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"DLP_PROXY_LISTN": "1.2.3.4:25"})
    assert "DLP_PROXY_LISTN: unknown setting 'listn'" in str(error.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(config_file=tmp_path / "absent.toml", environ={})


def test_cli_reports_bad_settings_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text("workers = 1\nlisten = 25\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "p.toml:2: listen:" in result.output


def test_archive_limits_come_from_settings() -> None:
    settings = load_settings(
        environ={"DLP_PROXY_ARCHIVE_DEPTH": "2", "DLP_PROXY_ARCHIVE_MAX_BYTES": "64M"},
        flags={"archive_max_members": 50, "archive_max_ratio": 100},
    )
    limits = settings.limits
    assert (limits.max_depth, limits.max_total_bytes) == (2, 64 << 20)
    assert (limits.max_members, limits.max_ratio) == (50, 100)
    assert limits.max_member_bytes == 64 << 20


def test_refuse_routed_recipients_from_each_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(environ={}).refuse_routed_recipients is False
    config = tmp_path / "p.toml"
    config.write_text("refuse_routed_recipients = true\n")
    assert load_settings(config_file=config, environ={}).refuse_routed_recipients is True
    environ = {"DLP_PROXY_REFUSE_ROUTED_RECIPIENTS": "yes"}
    assert load_settings(environ=environ).refuse_routed_recipients is True
    with pytest.raises(ConfigError, match="DLP_PROXY_REFUSE_ROUTED_RECIPIENTS"):
        load_settings(environ={"DLP_PROXY_REFUSE_ROUTED_RECIPIENTS": "sometimes"})
    seen: list[bool] = []

    def run(settings: Settings) -> int:
        seen.append(settings.refuse_routed_recipients)
        return 0

    monkeypatch.setattr("dlp_proxy.workers.run", run)
    for flag in ("--refuse-routed-recipients", "--accept-routed-recipients"):
        result = CliRunner().invoke(main, ["serve", "--config", str(config), flag], env={})
        assert result.exit_code == 0, result.output
    assert seen == [True, False]
