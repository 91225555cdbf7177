"""Process settings: defaults, then a TOML file, then DLP_PROXY_* variables, then flags."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from dlp_proxy.errors import ConfigError
from dlp_proxy.inspect.archives import Limits

ENV_PREFIX = "DLP_PROXY_"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostPort(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(value: object) -> object:
    """Accept ``host:port``, ``[v6]:port`` or a ``[host, port]`` pair."""
    if isinstance(value, HostPort | list | tuple) or not isinstance(value, str):
        return value
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\s]+):(\d+)", value.strip())
    if not match:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return HostPort(host, port)


def split_list(value: object) -> object:
    """Let a list setting come as one string, separated by commas or spaces."""
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return value


def check_database_url(value: str | None) -> str | None:
    """The quarantine database: SQLite (a file) or PostgreSQL; the async driver is implied."""
    if value is not None and not re.match(
        r"^(sqlite(\+aiosqlite)?:///.|postgres(ql)?(\+asyncpg)?://)", value
    ):
        raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE")
    return value


def check_key(value: SecretStr | None) -> SecretStr | None:
    """A quarantine key is base64 of 32 random bytes (``openssl rand -base64 32``)."""
    if value is None:
        return None
    text = "".join(value.get_secret_value().split())
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64; make one with: openssl rand -base64 32") from None
    if len(key) != 32:
        raise ValueError(f"must be base64 of 32 bytes, not {len(key)}")
    return value


def parse_size(value: object) -> object:
    """Accept a byte count with an optional K/M/G suffix (binary units)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B?)?\s*", value, re.IGNORECASE)
        if not match:
            raise ValueError(f"expected a size such as 52428800 or 50M, got {value!r}")
        unit = (match.group(2) or " ")[0].upper()
        return int(match.group(1)) * {" ": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit]
    return value


def parse_base_url(value: object) -> object:
    """Accept an absolute http(s) URL without query or fragment; drop a trailing slash."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    match = re.fullmatch(r"(https?)://([^/?#\s@]+)(/[^?#\s]*)?", text, re.IGNORECASE)
    if not match:
        raise ValueError(
            f"expected an http:// or https:// URL without query or fragment, got {value!r}"
        )
    return text.rstrip("/")


Address = Annotated[HostPort, BeforeValidator(parse_host_port)]
BaseUrl = Annotated[str, BeforeValidator(parse_base_url)]
Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]


class Settings(BaseModel):
    """Everything a running proxy needs to know; frozen once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Address = HostPort("127.0.0.1", 10025)
    next_hop: Address | None = None
    policy_dir: Path = Path("policies")
    data_dir: Path = Path("var")
    allow: Annotated[tuple[IPNetwork, ...], BeforeValidator(split_list)] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    max_size: Size = 50 << 20
    hostname: str = Field(default_factory=socket.gethostname, min_length=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    workers: int = Field(1, ge=0, description="SMTP worker processes; 0 = one per core")
    scan_processes: int = Field(
        0, ge=0, description="scanner processes per worker; 0 = auto (cores ÷ workers, at least 2)"
    )
    scan_timeout: float = Field(60.0, gt=0)
    scan_memory: Size = 2 << 30
    smtp_timeout: float = Field(300.0, gt=0)
    next_hop_timeout: float = Field(60.0, gt=0)
    next_hop_connections: int = Field(16, ge=0, description="idle connections kept per worker")
    archive_depth: int = Field(5, ge=0, description="containers inside containers")
    archive_max_bytes: Size = 256 << 20
    archive_max_members: int = Field(10_000, ge=1)
    archive_max_ratio: float = Field(250.0, gt=1)
    max_recipients: int = Field(1000, ge=1)
    refuse_routed_recipients: bool = Field(
        False, description="refuse recipients that route elsewhere (%, !, quoted @, source route)"
    )
    max_line_length: int = Field(65536, ge=1001)
    shutdown_grace: float = Field(30.0, ge=0)
    log_level: str = Field("INFO", pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR)$")
    web_listen: Address = HostPort("127.0.0.1", 8025)
    web_url: BaseUrl | None = Field(None, description="public base URL of the web UI, in links")
    secret_key: SecretStr | None = Field(
        None, min_length=32, description="signs sessions and links; default DATA_DIR/secret.key"
    )
    quarantine_url: str | None = Field(
        None, description="held mail database; default sqlite in data_dir"
    )
    quarantine_key: SecretStr | None = Field(
        None, description="base64 AES-256 key; default data_dir/quarantine.key"
    )
    retention_days: int = Field(30, ge=0, description="days held content is kept once final")
    release_retry_max: float = Field(3600.0, gt=0, description="longest wait between tries")

    _database_url = field_validator("quarantine_url")(check_database_url)
    _key = field_validator("quarantine_key")(check_key)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        return self

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def scanner_count(self) -> int:
        if self.scan_processes:
            return self.scan_processes
        # At least two: large messages (scanner.LARGE_MESSAGE) may take all processes but one,
        # so small mail never waits behind a big scan.
        return max(2, -(-(os.cpu_count() or 1) // self.worker_count))

    @property
    def limits(self) -> Limits:
        """How far inspection may unpack one message."""
        return Limits(
            max_depth=self.archive_depth,
            max_total_bytes=self.archive_max_bytes,
            max_member_bytes=min(self.archive_max_bytes, Limits().max_member_bytes),
            max_members=self.archive_max_members,
            max_ratio=self.archive_max_ratio,
        )

    @property
    def public_url(self) -> str:
        """The web UI's base URL as people reach it (``web_url``, else ``web_listen``)."""
        return self.web_url or f"http://{self.web_listen}"

    @property
    def inspection_deadline(self) -> float:
        """How long one message may spend between end of DATA and our reply."""
        return self.scan_timeout + self.next_hop_timeout + 10.0


FIELDS = tuple(Settings.model_fields)


def _toml_line(text: str, key: str) -> int | None:
    match = re.search(rf"^\s*{re.escape(key)}\s*=", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _read_toml(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    sources = {}
    for key in data:
        line = _toml_line(text, key)
        sources[key] = f"{path}:{line}" if line else str(path)
    return {key.replace("-", "_"): value for key, value in data.items()}, {
        key.replace("-", "_"): source for key, source in sources.items()
    }


def _read_environ(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        data[key] = value
        sources[key] = f"environment variable {name}"
    return data, sources


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> Settings:
    """Merge the sources (later wins) and validate; every error names where the value came from."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is not None:
        data, sources = _read_toml(config_file)
    env_data, env_sources = _read_environ(environ)
    data.update(env_data)
    sources.update(env_sources)
    for key, value in (flags or {}).items():
        if value is None or value == ():
            continue
        data[key] = value
        sources[key] = "--" + key.replace("_", "-")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None


def _describe(exc: ValidationError, sources: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        where = sources.get(key, "settings")
        if error["type"] == "extra_forbidden":
            known = ", ".join(FIELDS)
            lines.append(f"{where}: unknown setting {key!r} (known settings: {known})")
        else:
            label = f"{key}: " if key else ""
            lines.append(f"{where}: {label}{error['msg']}")
    return "\n".join(lines)
