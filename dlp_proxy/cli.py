"""The dlp-proxy command line: serve, scan, policy; queue, users and audit (cli_quarantine)."""

from __future__ import annotations

import json
import logging
import smtplib
import sys
from pathlib import Path
from typing import Any

import click

from dlp_proxy import __version__, logs, scan, workers
from dlp_proxy.cli_quarantine import audit, queue, users
from dlp_proxy.cli_settings import settings_from, settings_options
from dlp_proxy.errors import StartupError
from dlp_proxy.inspect import Limits
from dlp_proxy.policy.errors import PolicyError
from dlp_proxy.policy.load import LoadedPolicy, load_policy
from dlp_proxy.web import commands as web_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlp-proxy")
def main() -> None:
    """Outbound email data-loss-prevention gateway."""


@main.command()
@settings_options
@click.option("--listen", metavar="HOST:PORT", help="Address to accept SMTP on [127.0.0.1:10025].")
@click.option(
    "--next-hop",
    metavar="HOST:PORT",
    help="Where accepted mail goes; without it, .eml files in DATA_DIR/outbox.",
)
@click.option(
    "--allow",
    metavar="CIDR",
    multiple=True,
    help="Client network allowed to connect (repeatable) [loopback].",
)
@click.option("--max-size", metavar="BYTES", help="Largest message accepted, e.g. 52428800 or 50M.")
@click.option("--hostname", help="Name in the greeting and Received headers [this host's name].")
@click.option("--tls-cert", type=click.Path(path_type=Path), help="Certificate for STARTTLS.")
@click.option("--tls-key", type=click.Path(path_type=Path), help="Private key for STARTTLS.")
@click.option("--workers", type=int, help="SMTP worker processes; 0 = one per core [1].")
@click.option("--scan-processes", type=int, help="Scanner processes per worker; 0 = auto.")
@click.option("--scan-timeout", type=float, help="Seconds one message may be scanned [60].")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR [INFO].")
@click.option(
    "--refuse-routed-recipients/--accept-routed-recipients",
    default=None,
    help="Refuse RCPT addresses that route elsewhere (user%other@, other!user@, quoted @, "
    "source routes) with 553 5.1.3 [accept; they count as external].",
)
@click.option("--web-listen", metavar="HOST:PORT", help="Address of the web UI [127.0.0.1:8025].")
@click.option("--web-url", metavar="URL", help="The web UI's public base URL, used in links.")
def serve(config: Path | None, **flags: Any) -> None:
    """Accept mail over SMTP, inspect it and pass it on.

    Every setting also comes from the TOML file and from DLP_PROXY_<NAME> variables;
    flags win over variables, which win over the file.
    """
    flags["allow"] = flags["allow"] or None
    settings = settings_from(config, flags)
    logs.configure(settings.log_level)
    try:
        status = workers.run(settings)
    except StartupError as exc:
        logging.getLogger("dlp_proxy").error("cannot start", extra={"reason": str(exc)})
        raise SystemExit(1) from None
    raise SystemExit(status)


@main.group()
def policy() -> None:
    """Check policy files and explain decisions."""


@policy.command()
@click.argument(
    "directory", required=False, type=click.Path(path_type=Path), default=Path("policies")
)
def check(directory: Path) -> None:
    """Validate the policy DIRECTORY [./policies]: exit 0 when valid, 1 with every problem."""
    try:
        loaded = load_policy(directory)
    except PolicyError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None
    config = loaded.policy.config
    click.echo(
        f"{directory}: valid (version {loaded.policy.version}; {len(loaded.policy.rules)} rules; "
        f"{len(config.internal_domains)} internal domains; "
        f"{len(loaded.directory.people)} people; mode {config.mode})"
    )


def _policy(directory: Path | None, *, required: bool = False) -> LoadedPolicy | None:
    """The policy to decide with; a broken one is an error (exit 2), never silently skipped."""
    if directory is None:
        directory = Path("policies")
        if not directory.is_dir() and not required:
            return None
    try:
        return load_policy(directory)
    except PolicyError as exc:
        raise click.UsageError(f"policy in {directory} refused:\n{exc}") from None


@main.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON (see docs).")
@click.option(
    "--policy-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Decide messages with this policy [./policies when it exists].",
)
def scan_command(paths: tuple[Path, ...], as_json: bool, policy_dir: Path | None) -> None:
    """Inspect files as the proxy would: .eml messages, single files, directories (recursively).

    Messages also get their recipients and, with a policy, the decision.
    Exits 0 when every PATH was read, findings or not (unscannable files included);
    2 when a PATH or a file under it cannot be read or the policy is invalid.
    """
    limits = Limits()
    policy = _policy(policy_dir)
    found = list(scan.collect(paths))
    files = [item for item in found if isinstance(item, Path)]
    show_bar = len(files) > 1 and sys.stdout.isatty() and sys.stderr.isatty()
    results: list[scan.Scanned | scan.Unreadable] = [
        item for item in found if isinstance(item, scan.Unreadable)
    ]
    with click.progressbar(
        files,
        label="Scanning",
        file=sys.stderr,
        hidden=not show_bar,
        item_show_func=lambda path: scan.printable(path.name) if path else None,
    ) as bar:
        results += [scan.scan_file(path, limits=limits, policy=policy) for path in bar]
    if as_json:
        click.echo(json.dumps(scan.to_json(results), ensure_ascii=False, indent=2))
    else:
        click.echo(scan.render_table(results))
    failed = [result for result in results if isinstance(result, scan.Unreadable)]
    for failure in failed:
        click.echo(
            f"dlp-proxy scan: cannot read {scan.printable(failure.source)}: {failure.error}",
            err=True,
        )
    if failed:
        raise SystemExit(2)


@policy.command()
@click.argument("message", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--policy-dir", type=click.Path(path_type=Path, file_okay=False), help="[./policies]")
@click.option("--json", "as_json", is_flag=True, help="The scan --json entry plus not_matched.")
def explain(message: Path, policy_dir: Path | None, as_json: bool) -> None:
    """Replay MESSAGE (an .eml) against the policy: findings, every rule and why, the action."""
    loaded = _policy(policy_dir, required=True)
    try:
        data = message.read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {message}: {exc.strerror or exc}") from None
    result = scan.scan_message(data, str(message), policy=loaded)
    if as_json:
        click.echo(json.dumps(scan.file_json(result, explain=True), ensure_ascii=False, indent=2))
    else:
        click.echo(scan.render_explanation(result))


main.add_command(queue)
main.add_command(users)
main.add_command(audit)
web_commands.register(main)


@main.command()
@click.argument("message", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--server", default="127.0.0.1:10025", metavar="HOST:PORT", show_default=True)
@click.option("--from", "sender", help="Envelope sender [the message's From].")
@click.option("--to", "recipients", multiple=True, help="Envelope recipient [To, Cc, Bcc].")
def send(message: Path, server: str, sender: str | None, recipients: tuple[str, ...]) -> None:
    """Send MESSAGE (an .eml) over SMTP as a mail server would, and print the reply."""
    data = message.read_bytes()
    envelope = scan.envelope_of(data, None)
    host, _, port = server.rpartition(":")
    try:
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=120) as client:
            client.ehlo()
            code, reply = client.mail(sender if sender is not None else envelope.mail_from)
            if code != 250:
                raise click.ClickException(f"sender refused: {code} {reply.decode()}")
            accepted = 0
            for address in recipients or envelope.rcpt_tos:
                code, reply = client.rcpt(address)
                click.echo(f"RCPT {address}: {code} {reply.decode(errors='replace')}")
                accepted += code in (250, 251)
            if not accepted:
                raise click.ClickException("no recipient accepted")
            code, reply = client.data(data)
    except smtplib.SMTPException as exc:
        raise click.ClickException(f"not accepted: {exc}") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot talk to {server}: {exc}") from None
    click.echo(f"DATA: {code} {reply.decode(errors='replace')}")
    if code != 250:
        raise SystemExit(1)
