"""docker-compose.yml and its Dockerfiles, checked without a Docker engine.

The compose file is read with PyYAML and interpolated as Compose does; the proxy's environment
goes through dlp_proxy.config.load_settings; the Postfix entrypoint runs for real against a
temporary configuration directory and Postfix's own postconf reads the result.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from dlp_proxy.config import ENV_PREFIX, Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
PROXY_DOCKERFILE = REPO / "Dockerfile"
POSTFIX_DIR = REPO / "deploy" / "postfix"
POSTFIX_DOCKERFILE = POSTFIX_DIR / "Dockerfile"
ENTRYPOINT = POSTFIX_DIR / "entrypoint.sh"
DEPLOY_DOC = REPO / "docs" / "deploy.md"

PROXIES = ("dlp-proxy-1", "dlp-proxy-2")
SERVICES = {"postfix", *PROXIES, "postgres", "mailpit"}
# host ip, host port, container port: what docs/deploy.md tells people to open.
PUBLISHED = {
    "postfix": {("127.0.0.1", 2525, 25)},
    "dlp-proxy-1": {("127.0.0.1", 8025, 8025)},
    "dlp-proxy-2": {("127.0.0.1", 8026, 8025)},
    "mailpit": {("127.0.0.1", 8030, 8025)},
    "postgres": set(),
}
MAILPIT_SMTP_PORT = 1025  # the sink image's SMTP listener
POSTGRES_DATA = "/var/lib/postgresql/data"  # PGDATA of the official image up to 17
POSTFIX_QUEUE = "/var/spool/postfix"

# What docs/deploy.md has people put in .env, made the same way.
SECRETS = {
    "POSTGRES_PASSWORD": secrets.token_hex(24),
    "DLP_QUARANTINE_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    "DLP_SECRET_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
}


# -- Compose's variable interpolation ------------------------------------------------------


class MissingVariable(Exception):
    """A ``${NAME:?message}`` whose variable is unset: Compose refuses the file."""


REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    """``$$``, ``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?err}``,
    ``${NAME?err}``, ``${NAME:+alt}``, ``${NAME+alt}``, as the Compose specification defines them.
    """

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = BRACED.fullmatch(match["braced"])
        assert braced is not None, f"not a Compose variable: ${{{match['braced']}}}"
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        value = env.get(name)
        empty_counts = op is not None and op.startswith(":")
        unset = value is None or (empty_counts and value == "")
        if op is None:
            return value or ""
        if op.endswith("-"):
            return interpolate_text(arg, env) if unset else str(value)
        if op.endswith("?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return str(value)
        return "" if unset else interpolate_text(arg, env)  # + : an alternative value

    return REFERENCE.sub(one, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def load_compose(env: Mapping[str, str] = SECRETS) -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return {key: interpolate(value, env) for key, value in document.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment``, in either of Compose's two forms, as strings."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


# -- Dockerfiles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and parser directives dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path}: ends inside a continued line"
    return found


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    matching = [item for item in instructions if item.keyword == keyword]
    assert len(matching) == 1, f"expected one {keyword}, found {len(matching)}"
    return matching[0]


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in instructions:
        if item.keyword == "ENV":
            for word in shlex.split(item.args):
                name, equals, value = word.partition("=")
                assert equals, f"ENV {item.args!r}: use NAME=value"
                values[name] = value
    return values


def copies(instructions: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, flags such as --chmod left out."""
    result = []
    for item in instructions:
        if item.keyword == "COPY":
            words = [word for word in item.args.split() if not word.startswith("--")]
            result.append((words[:-1], words[-1]))
    return result


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    args = only(instructions, "HEALTHCHECK").args
    _, cmd, command = args.partition("CMD ")
    assert cmd, f"HEALTHCHECK without CMD: {args}"
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return [str(word) for word in parsed]


PROXY_IMAGE = dockerfile(PROXY_DOCKERFILE)
POSTFIX_IMAGE = dockerfile(POSTFIX_DOCKERFILE)


def proxy_settings(compose: Mapping[str, Any], name: str) -> tuple[dict[str, str], Settings]:
    """What one replica runs with: the image's ENV, then the service's environment."""
    env = env_of(PROXY_IMAGE) | environment(compose["services"][name])
    return env, load_settings(environ=env)


# -- small parsers -------------------------------------------------------------------------


def published(service: Mapping[str, Any]) -> set[tuple[str, int, int]]:
    """Ports in Compose's short form ``[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp]``."""
    ports = set()
    for entry in service.get("ports", []):
        assert isinstance(entry, str), f"use the short form for {entry!r}"
        match = re.fullmatch(
            r"(?:(?P<ip>[\d.]+):)?(?P<host>\d+):(?P<container>\d+)(?:/tcp)?", entry
        )
        assert match, f"a host port and a container port, not a range: {entry!r}"
        ports.add((match["ip"] or "0.0.0.0", int(match["host"]), int(match["container"])))
    return ports


def mounts(service: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, options) of each volume in Compose's short form."""
    found = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"use the short form for {entry!r}"
        source, target, *options = entry.split(":")
        found.append((source, target, ",".join(options)))
    return found


def named_volumes(service: Mapping[str, Any]) -> dict[str, str]:
    return {
        source: target for source, target, _ in mounts(service) if not source.startswith((".", "/"))
    }


def bind_mounts(service: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        source: (target, options)
        for source, target, options in mounts(service)
        if source.startswith((".", "/"))
    }


def networks(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    raw = service.get("networks", {})
    if isinstance(raw, list):
        return {name: {} for name in raw}
    return {name: value or {} for name, value in raw.items()}


def subnet(compose: Mapping[str, Any]) -> str:
    (config,) = compose["networks"]["mail"]["ipam"]["config"]
    return str(ip_network(config["subnet"]))


def filter_destination(value: str) -> tuple[str, str, int]:
    """``transport:[host]:port`` of a Postfix content_filter."""
    match = re.fullmatch(r"(?P<transport>[\w-]+):\[(?P<host>[\w.-]+)\]:(?P<port>\d+)", value)
    assert match, f"expected TRANSPORT:[HOST]:PORT (brackets: no MX lookup), got {value!r}"
    return match["transport"], match["host"], int(match["port"])


# -- the services --------------------------------------------------------------------------


def test_the_services_are_postfix_two_proxies_postgres_and_the_sink(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == SERVICES
    for name, service in compose["services"].items():
        assert "mail" in networks(service), f"{name} is not on the mail network"
        assert ("build" in service) != ("image" in service), f"{name}: build or image, not both"
    assert compose["services"]["postfix"]["build"] == "deploy/postfix"
    for name in PROXIES:
        assert compose["services"][name]["build"] == "."


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_secrets_have_no_default_and_stop_compose_when_unset(variable: str) -> None:
    text = COMPOSE.read_text()
    uses = re.findall(rf"\$\{{{variable}(.?.?)", text)
    assert uses, f"{variable} is not used"
    assert set(uses) == {":?"}, f"{variable} must be ${{{variable}:?...}}: no default secret"
    env = {key: value for key, value in SECRETS.items() if key != variable}
    with pytest.raises(MissingVariable, match=variable):
        load_compose(env)


def test_ports_are_published_on_loopback_as_documented_and_never_25(
    compose: dict[str, Any],
) -> None:
    every = {name: published(service) for name, service in compose["services"].items()}
    assert every == PUBLISHED
    host_ports = [port for ports in every.values() for _, port, _ in ports]
    assert 25 not in host_ports
    assert len(host_ports) == len(set(host_ports)), "two services on one host port"
    guide = DEPLOY_DOC.read_text()
    for ports in PUBLISHED.values():
        for _, host_port, _ in ports:
            assert f"localhost:{host_port}" in guide, f"docs/deploy.md never shows {host_port}"


def test_volumes_are_declared_used_and_one_data_directory_per_replica(
    compose: dict[str, Any],
) -> None:
    found = {name: named_volumes(service) for name, service in compose["services"].items()}
    expected = {
        "postfix": {"postfix-queue": POSTFIX_QUEUE},
        "postgres": {"postgres-data": POSTGRES_DATA},
        "mailpit": {},
    }
    for name in PROXIES:
        _, settings = proxy_settings(compose, name)
        expected[name] = {f"{name}-data": str(settings.data_dir)}
    assert found == expected
    used = [volume for volumes in found.values() for volume in volumes]
    assert sorted(used) == sorted(compose["volumes"]), "declared and used volumes differ"


def test_both_replicas_read_the_demo_policy_beside_the_shipped_one(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    binds = [bind_mounts(compose["services"][name]) for name in PROXIES]
    assert binds[0] == binds[1]
    ((source, (target, options)),) = binds[0].items()
    _, settings = proxy_settings(compose, PROXIES[0])
    assert Path(target) == settings.policy_dir / "local.yaml"
    assert options == "ro"
    assert {name: bind_mounts(compose["services"][name]) for name in SERVICES - set(PROXIES)} == {
        name: {} for name in SERVICES - set(PROXIES)
    }
    # The directory as the replicas see it: the image's policies/ plus the mounted file. The
    # sample of the walk-through in docs/deploy.md is held there, and has an approver to ask.
    policy_dir = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policy_dir)
    shutil.copy(REPO / source, policy_dir / "local.yaml")
    sample = REPO / "examples" / "customer-list.eml"
    explain = ["policy", "explain", "--json", "--policy-dir", str(policy_dir), str(sample)]
    explained = subprocess.run(
        [sys.executable, "-m", "dlp_proxy", *explain],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert explained.returncode == 0, explained.stderr
    assert json.loads(explained.stdout)["decision"]["action"] == "hold"
    local = yaml.safe_load((REPO / source).read_text())
    assert local["hold"]["fallback_approvers"], "nobody would get the approval request"


def test_the_proxies_wait_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    test = postgres["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "pg_isready"
    options = dict(option.split("=", 1) for option in test[2:])
    database = environment(postgres)
    assert options["--username"] == database["POSTGRES_USER"]
    assert options["--dbname"] == database["POSTGRES_DB"]
    assert options["--host"] == "127.0.0.1", "TCP: the first-start server listens on a socket only"
    for name in PROXIES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}
    assert "mailpit" in compose["services"]["postfix"]["depends_on"]
    assert compose["services"]["mailpit"]["healthcheck"]["test"][0] == "CMD"


# -- the proxies' settings -----------------------------------------------------------------


@pytest.mark.parametrize("name", PROXIES)
def test_proxy_environment_names_real_settings_and_loads(
    compose: dict[str, Any], name: str
) -> None:
    env, settings = proxy_settings(compose, name)
    names = {key[len(ENV_PREFIX) :].lower() for key in env if key.startswith(ENV_PREFIX)}
    assert names <= set(Settings.model_fields), names - set(Settings.model_fields)
    service_env = environment(compose["services"][name])
    assert all(key.startswith(ENV_PREFIX) for key in service_env), "not a setting"

    assert settings.listen.host == "0.0.0.0"
    assert settings.web_listen.host == "0.0.0.0"
    assert settings.allow == (ip_network(subnet(compose)),), "allow the compose network only"
    assert settings.policy_dir == Path("/etc/dlp-proxy/policies")

    postfix = environment(compose["services"]["postfix"])
    assert settings.next_hop is not None
    assert settings.next_hop.host == "postfix"
    assert str(settings.next_hop.port) == postfix["POSTFIX_REINJECTION"]

    url = urlsplit(settings.quarantine_url or "")
    database = environment(compose["services"]["postgres"])
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == database["POSTGRES_USER"]
    assert url.password == database["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert url.path == "/" + database["POSTGRES_DB"]

    assert settings.quarantine_key is not None and settings.secret_key is not None
    assert settings.quarantine_key.get_secret_value() == SECRETS["DLP_QUARANTINE_KEY"]
    assert settings.secret_key.get_secret_value() == SECRETS["DLP_SECRET_KEY"]

    ((_, host_port, container_port),) = published(compose["services"][name])
    assert container_port == settings.web_listen.port
    assert settings.web_url == f"http://localhost:{host_port}"


def test_replicas_share_the_queue_and_keys_and_differ_in_name_url_and_data(
    compose: dict[str, Any],
) -> None:
    (env_1, one), (env_2, two) = (proxy_settings(compose, name) for name in PROXIES)
    differ = {key for key in env_1.keys() | env_2.keys() if env_1.get(key) != env_2.get(key)}
    assert differ == {"DLP_PROXY_WEB_URL"}
    assert one.quarantine_url == two.quarantine_url
    service_1, service_2 = (compose["services"][name] for name in PROXIES)
    assert service_1["hostname"] != service_2["hostname"]
    assert named_volumes(service_1) != named_volumes(service_2)
    assert service_1["stop_grace_period"] == service_2["stop_grace_period"]
    grace = int(service_1["stop_grace_period"].removesuffix("s"))
    assert grace > one.shutdown_grace, "Docker would SIGKILL transactions still finishing"


# -- Postfix -------------------------------------------------------------------------------


def test_postfix_content_filter_names_both_replicas_and_their_port(
    compose: dict[str, Any],
) -> None:
    postfix = environment(compose["services"]["postfix"])
    transport, host, port = filter_destination(postfix["POSTFIX_CONTENT_FILTER"])
    shipped = (POSTFIX_DIR / "master.cf").read_text()
    assert re.search(rf"^{transport}\s+unix\s.*\ssmtp$", shipped, re.MULTILINE), transport
    answering = {
        name
        for name, service in compose["services"].items()
        if name == host or host in networks(service)["mail"].get("aliases", [])
    }
    assert answering == set(PROXIES), f"{host!r} should be both replicas and nothing else"
    for name in PROXIES:
        _, settings = proxy_settings(compose, name)
        assert port == settings.listen.port

    relay = re.fullmatch(r"\[(?P<host>[\w.-]+)\]:(?P<port>\d+)", postfix["POSTFIX_RELAYHOST"])
    assert relay and relay["host"] == "mailpit" and int(relay["port"]) == MAILPIT_SMTP_PORT
    networks_ = subnet(compose)
    assert postfix["POSTFIX_PROXY_NETWORKS"] == networks_
    assert networks_ in postfix["POSTFIX_MYNETWORKS"].split()


def run_entrypoint(
    config_dir: Path, env: Mapping[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        env={
            "PATH": os.environ["PATH"],
            "POSTFIX_CONFIG_DIR": str(config_dir),
            "POSTFIX_SNIPPETS": str(POSTFIX_DIR),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def postconf(config_dir: Path, *args: str) -> str:
    done = subprocess.run(
        ["postconf", "-c", str(config_dir), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout


NO_POSTCONF = shutil.which("postconf") is None or not Path("/usr/share/postfix").is_dir()


@pytest.mark.skipif(NO_POSTCONF, reason="Postfix is not installed: run scripts/test-deps as root")
def test_postfix_entrypoint_configures_the_shipped_files_for_the_containers(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    env = environment(compose["services"]["postfix"])
    done = run_entrypoint(tmp_path, env, "echo", "started")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "started\n", "the entrypoint must end by running its arguments"

    main = dict(
        line.split(" = ", 1) if " = " in line else (line.removesuffix(" ="), "")
        for line in postconf(tmp_path, "-n").splitlines()
    )
    assert main["content_filter"] == env["POSTFIX_CONTENT_FILTER"]
    assert main["relayhost"] == env["POSTFIX_RELAYHOST"]
    assert main["mynetworks"] == env["POSTFIX_MYNETWORKS"]
    assert main["myhostname"] == env["POSTFIX_MYHOSTNAME"]
    assert main["maillog_file"] == "/dev/stdout"
    # Every other line of the shipped main.cf is kept as it is.
    for line in (POSTFIX_DIR / "main.cf").read_text().splitlines():
        if line and not line.startswith(("#", "content_filter ")):
            name, _, value = line.partition(" = ")
            assert main[name] == value, line

    services = postconf(tmp_path, "-M").splitlines()
    reinjection = f"{env['POSTFIX_REINJECTION']}/inet"
    overrides = postconf(tmp_path, "-P", f"{reinjection}").splitlines()
    master = (POSTFIX_DIR / "master.cf").read_text()
    shipped = re.findall(r"^    -o (\S+?)=(\S*)$", master, re.MULTILINE)
    changed = {"mynetworks", "smtpd_authorized_xforward_hosts"}
    for name, value in shipped:
        if name in changed:
            continue
        present = [f"{reinjection}/{name} = {value}".rstrip(), f"dlpfilter/unix/{name} = {value}"]
        assert any(line.rstrip() in present for line in overrides) or any(
            f"-o {name}={value}" in service for service in services
        ), f"shipped option {name}={value} is missing"
    proxies = ",".join(env["POSTFIX_PROXY_NETWORKS"].split())
    assert f"{reinjection}/mynetworks = {proxies}" in overrides
    assert f"{reinjection}/smtpd_authorized_xforward_hosts = {proxies}" in overrides
    assert f"{reinjection}/content_filter =" in [line.rstrip() for line in overrides]
    assert not any(line.startswith("127.0.0.1:10026") for line in services), "still loopback"
    chrooted = [line for line in services if line.split()[4] == "y"]
    assert chrooted == [], "a chrooted daemon lacks the container's /etc/hosts"


@pytest.mark.skipif(NO_POSTCONF, reason="Postfix is not installed: run scripts/test-deps as root")
def test_postfix_entrypoint_refuses_to_start_without_its_settings(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    env = environment(compose["services"]["postfix"])
    del env["POSTFIX_CONTENT_FILTER"]
    done = run_entrypoint(tmp_path, env, "echo", "started")
    assert done.returncode != 0
    assert "POSTFIX_CONTENT_FILTER" in done.stderr
    assert "started" not in done.stdout


def test_postfix_image_carries_the_shipped_files_where_the_entrypoint_reads_them() -> None:
    assert only(POSTFIX_IMAGE, "FROM").args.startswith("debian:")
    installs = [item.args for item in POSTFIX_IMAGE if item.keyword == "RUN"]
    assert any(re.search(r"apt-get install .*\bpostfix\b", args) for args in installs)
    default = re.search(r"snippets=\$\{POSTFIX_SNIPPETS:-(\S+)\}", ENTRYPOINT.read_text())
    assert default, "entrypoint.sh: where are the snippets?"
    copied = copies(POSTFIX_IMAGE)
    assert (["main.cf", "master.cf"], default[1] + "/") in copied
    ((_, entry_target),) = [item for item in copied if item[0] == ["entrypoint.sh"]]
    assert json.loads(only(POSTFIX_IMAGE, "ENTRYPOINT").args) == [entry_target]
    assert json.loads(only(POSTFIX_IMAGE, "CMD").args) == ["postfix", "start-fg"]
    assert healthcheck_command(POSTFIX_IMAGE) == ["postfix", "status"]
    assert set(only(POSTFIX_IMAGE, "EXPOSE").args.split()) == {"25", "10026"}
    for sources, _ in copied:
        for source in sources:
            assert (POSTFIX_DIR / source).is_file(), source


# -- the dlp-proxy image -------------------------------------------------------------------


def test_proxy_image_runs_dlp_proxy_serve_as_a_user_on_its_two_ports() -> None:
    base = only(PROXY_IMAGE, "FROM").args
    assert re.fullmatch(r"python:3\.(1[1-9])-slim-(bookworm|trixie)", base), base
    assert json.loads(only(PROXY_IMAGE, "ENTRYPOINT").args) == ["dlp-proxy"]
    assert json.loads(only(PROXY_IMAGE, "CMD").args) == ["serve"]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^dlp-proxy = "dlp_proxy\.cli:main"$', pyproject, re.MULTILINE)

    user = only(PROXY_IMAGE, "USER").args.split(":")[0]
    assert user not in ("root", "0")
    keywords = [item.keyword for item in PROXY_IMAGE]
    assert "RUN" not in keywords[keywords.index("USER") :], "the last RUN must come before USER"

    settings = load_settings(environ=env_of(PROXY_IMAGE))
    exposed = {int(port) for port in only(PROXY_IMAGE, "EXPOSE").args.split()}
    assert exposed == {settings.listen.port, settings.web_listen.port}

    copied = copies(PROXY_IMAGE)
    (source_dir,) = {target for sources, target in copied if "pyproject.toml" in sources}
    install = re.compile(rf"pip install {re.escape(source_dir.rstrip('/'))}( &&.*)?")
    runs = [item.args for item in PROXY_IMAGE if item.keyword == "RUN"]
    assert any(install.fullmatch(args) for args in runs), "pip install the source tree"
    assert (["policies"], str(settings.policy_dir)) in copied


def test_proxy_image_healthcheck_asks_readyz_and_fails_unless_ready(tmp_path: Path) -> None:
    command = healthcheck_command(PROXY_IMAGE)
    assert command[0] == "python" and "/readyz" in " ".join(command)
    status = {"code": 200}
    asked: list[str] = []

    class Readyz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(status["code"] if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Readyz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def check(web_listen: str) -> int:
        env = {"PATH": os.environ["PATH"], "DLP_PROXY_WEB_LISTEN": web_listen}
        run = subprocess.run(
            [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False
        )
        return run.returncode

    try:
        assert check(f"0.0.0.0:{port}") == 0
        status["code"] = 503
        assert check(f"0.0.0.0:{port}") != 0
    finally:
        server.shutdown()
        server.server_close()
    assert check(f"0.0.0.0:{port}") != 0, "nobody listening must be unhealthy"
    assert asked == ["/readyz", "/readyz"]


def test_build_context_holds_the_sources_and_never_keys_or_state() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "start from nothing, then name what the image needs"
    included = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    for sources, _ in copies(PROXY_IMAGE):
        for source in sources:
            assert source in included, f"COPY {source}: excluded by .dockerignore"
            assert (REPO / source).exists(), source
    for secret in (".env", ".venv", "var", ".git", "tests"):
        assert not any(item == secret or item.startswith(secret + "/") for item in included)
    assert ".env" in (REPO / ".gitignore").read_text().split()


# -- a real Compose, where one is installed ------------------------------------------------


def compose_command() -> list[str] | None:
    """``docker compose`` (v2 plugin) or ``docker-compose``; neither needs an engine for config."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(
            [*command, "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return command
    return None


COMPOSE_CLI = compose_command()


def run_compose_config(env: Mapping[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_CLI is not None
    empty = tmp_path / "empty.env"  # never a developer's own .env
    empty.write_text("")
    return subprocess.run(
        [*COMPOSE_CLI, "--env-file", str(empty), "-f", str(COMPOSE), "config"],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def compose_cli() -> Iterator[list[str]]:
    if COMPOSE_CLI is None:
        pytest.skip("neither 'docker compose' nor 'docker-compose' is installed")
    yield COMPOSE_CLI


def test_compose_itself_accepts_the_file_and_interpolates_it_as_this_test_does(
    compose_cli: list[str], compose: dict[str, Any], tmp_path: Path
) -> None:
    done = run_compose_config(SECRETS, tmp_path)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == SERVICES
    for name in SERVICES:
        theirs = environment(resolved["services"][name])
        assert theirs == environment(compose["services"][name]), name


def test_compose_itself_refuses_to_run_without_the_keys(
    compose_cli: list[str], tmp_path: Path
) -> None:
    env = {key: value for key, value in SECRETS.items() if key != "DLP_QUARANTINE_KEY"}
    done = run_compose_config(env, tmp_path)
    assert done.returncode != 0
    assert "DLP_QUARANTINE_KEY" in done.stderr
