"""dlp-proxy queue, users and audit: held mail, web UI accounts and the audit trail."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from dlp_proxy.cli_settings import settings_from, settings_options
from dlp_proxy.config import Settings
from dlp_proxy.errors import ConfigError
from dlp_proxy.policy.errors import PolicyError
from dlp_proxy.policy.load import load_policy
from dlp_proxy.quarantine import (
    STATES,
    HeldMessage,
    OnExpiry,
    Quarantine,
    QuarantineError,
    Role,
    States,
)
from dlp_proxy.quarantine.from_settings import open_quarantine
from dlp_proxy.quarantine.users import MIN_PASSWORD_LENGTH

T = TypeVar("T")


def cli_actor() -> str:
    """Who acts from the command line, for the audit trail: ``cli:<unix user>``."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = f"uid{os.getuid()}"
    return f"cli:{name}"


def _with_store(settings: Settings, work: Callable[[Quarantine], Awaitable[T]]) -> T:
    """Open the quarantine the settings name, run ``work``, close it; errors end the command."""

    async def run() -> T:
        store = await open_quarantine(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ConfigError as exc:
        raise click.UsageError(f"invalid settings:\n{exc}") from None
    except QuarantineError as exc:
        raise click.ClickException(str(exc)) from None


def _json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group()
def queue() -> None:
    """Held mail: list, show, approve, reject, apply timeouts, purge old content."""


@queue.command("list")
@settings_options
@click.option("--state", type=click.Choice(STATES), help="Only messages in this state.")
@click.option("--approver", metavar="EMAIL", help="Only messages this address may decide on.")
@click.option("--search", metavar="TEXT", help="Substring of id, sender, subject or recipient.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per message.")
def queue_list(
    *,
    config: Path | None,
    state: States | None,
    approver: str | None,
    search: str | None,
    limit: int,
    as_json: bool,
    **flags: Any,
) -> None:
    """List held messages, newest first.

    JSON objects carry at least id, state, sender, recipients, rules (the rules that held
    the message), received_at (ISO 8601, UTC), subject, approvers and expires_at.
    """
    settings = settings_from(config, flags)
    messages = _with_store(
        settings,
        lambda store: store.list(state=state, approver=approver, search=search, limit=limit),
    )
    if as_json:
        _json([_brief(m) for m in messages])
        return
    if not messages:
        click.echo("no messages")
        return
    click.echo(f"{'ID':<16} {'STATE':<9} {'RECEIVED':<20} {'SENDER':<28} RCPTS  RULES")
    for m in messages:
        click.echo(
            f"{_cut(m.id, 16):<16} {m.state:<9} {_when(m.received_at):<20} "
            f"{_cut(m.sender, 28):<28} {len(m.recipients):>5}  {', '.join(m.rules) or '-'}"
        )


def _brief(message: HeldMessage) -> dict[str, Any]:
    full = message.as_json()
    keys = (
        "id",
        "state",
        "received_at",
        "sender",
        "recipients",
        "rules",
        "subject",
        "approvers",
        "expires_at",
        "decided_by",
        "decided_at",
        "comment",
        "released_at",
        "attempts",
        "last_error",
        "purged",
        "size",
        "policy_version",
    )
    return {key: full[key] for key in keys}


@queue.command("show")
@settings_options
@click.argument("message_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The message and its history as JSON.")
def queue_show(config: Path | None, message_id: str, as_json: bool, **flags: Any) -> None:
    """Show one held message: envelope, findings, the rules and why, its history."""
    settings = settings_from(config, flags)

    async def work(store: Quarantine) -> tuple[HeldMessage | None, list[dict[str, Any]]]:
        message = await store.get(message_id)
        history = await store.audit_log(message_id=message_id, limit=1000)
        return message, [e.as_json() for e in reversed(history)]

    message, history = _with_store(settings, work)
    if message is None:
        raise click.ClickException(f"no held message {message_id}")
    if as_json:
        _json({**message.as_json(), "history": history})
        return
    click.echo(_render(message, history))


def _render(m: HeldMessage, history: list[dict[str, Any]]) -> str:
    lines = [
        f"id:          {m.id}",
        f"state:       {m.state}",
        f"received:    {_when(m.received_at)}",
        f"sender:      {m.sender}",
        f"recipients:  {', '.join(m.recipients)}",
        f"subject:     {m.subject}",
        f"approvers:   {', '.join(m.approvers) or '(admins only)'}",
        f"expires:     {_when(m.expires_at)}",
        f"size:        {m.size} bytes" + (" (content purged)" if m.purged else ""),
        f"policy:      {m.policy_version}",
    ]
    if m.decided_by:
        lines.append(f"decided:     {m.decided_by} at {_when(m.decided_at)}")
    if m.comment:
        lines.append(f"comment:     {m.comment}")
    if m.state == "approved":
        lines.append(f"release:     attempts {m.attempts}, next {_when(m.next_attempt_at)}")
        if m.last_error:
            lines.append(f"last error:  {m.last_error}")
    if m.released_at:
        lines.append(f"released:    {_when(m.released_at)}")
    lines += _rules(m.summary)
    attachments = m.summary.get("attachments")
    if isinstance(attachments, list) and attachments:
        lines.append("attachments:")
        for item in attachments:
            if isinstance(item, dict):
                lines.append("  " + _attachment(item))
    lines.append("history:")
    for event in history:
        detail = event["detail"]
        extra = (
            f" — {detail['comment']}" if isinstance(detail, dict) and detail.get("comment") else ""
        )
        lines.append(
            f"  {event['at'][:19].replace('T', ' ')}Z {event['event']:<15} "
            f"{event['actor']} via {event['via']}{extra}"
        )
    return "\n".join(lines)


def _rules(summary: dict[str, Any]) -> list[str]:
    decision = summary.get("decision")
    rules = decision.get("rules", []) if isinstance(decision, dict) else []
    lines = ["rules:"] if rules else []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        lines.append(f"  {rule.get('name')} ({', '.join(rule.get('actions') or [])})")
        reason = rule.get("reason")
        if isinstance(reason, dict):
            lines += [f"    {reason[lang]}" for lang in ("ja", "en") if reason.get(lang)]
        lines += [f"    {why}" for why in rule.get("why") or []]
    return lines


def _attachment(item: dict[str, Any]) -> str:
    parts = [str(item.get("path", "?"))]
    if item.get("unscannable"):
        parts.append(f"unscannable: {item['unscannable']}")
    if item.get("personal_rows"):
        parts.append(f"{item['personal_rows']} personal rows")
    if item.get("persons"):
        parts.append(f"{item['persons']} persons")
    if item.get("samples"):
        parts.append("e.g. " + ", ".join(str(s) for s in item["samples"][:3]))
    return "; ".join(parts)


@queue.command("approve")
@settings_options
@click.argument("message_id", metavar="ID")
@click.option("--comment", metavar="TEXT", help="Why; recorded in the audit trail.")
def queue_approve(config: Path | None, message_id: str, comment: str | None, **flags: Any) -> None:
    """Approve a held message as the admin cli:<unix user> (no approver check).

    This only changes its state: the running proxy's release worker delivers it.
    """
    settings = settings_from(config, flags)
    actor = cli_actor()
    _with_store(
        settings,
        lambda store: store.approve(
            message_id, actor=actor, comment=comment, via="cli", admin=True
        ),
    )
    click.echo(
        f"approved {message_id} as {actor}; the running proxy (dlp-proxy serve) delivers it "
        "through its release worker. Follow it with: dlp-proxy queue show " + message_id
    )


@queue.command("reject")
@settings_options
@click.argument("message_id", metavar="ID")
@click.option("--comment", metavar="TEXT", help="Why; recorded and shown to the sender.")
def queue_reject(config: Path | None, message_id: str, comment: str | None, **flags: Any) -> None:
    """Reject a held message as the admin cli:<unix user> (no approver check)."""
    settings = settings_from(config, flags)
    actor = cli_actor()
    _with_store(
        settings,
        lambda store: store.reject(message_id, actor=actor, comment=comment, via="cli", admin=True),
    )
    click.echo(f"rejected {message_id} as {actor}")


def _policy_on_expiry(settings: Settings) -> OnExpiry:
    """What the policy says to do with held mail nobody decided on; reject when it is silent."""
    if not settings.policy_dir.is_dir():
        return "reject"
    try:
        loaded = load_policy(settings.policy_dir)
    except PolicyError as exc:
        raise click.UsageError(f"policy in {settings.policy_dir} refused:\n{exc}") from None
    hold = getattr(loaded.policy.config, "hold", None)
    value = getattr(hold, "on_expiry", "reject")
    return "release" if value == "release" else "reject"


@queue.command("expire")
@settings_options
@click.option(
    "--on-expiry",
    type=click.Choice(["reject", "release"]),
    help="What to do with timed-out mail [the policy's hold.on_expiry, else reject].",
)
def queue_expire(config: Path | None, on_expiry: OnExpiry | None, **flags: Any) -> None:
    """Apply hold timeouts now (the running proxy also does this by itself)."""
    settings = settings_from(config, flags)
    action = on_expiry or _policy_on_expiry(settings)
    moved = _with_store(settings, lambda store: store.expire_due(on_expiry=action))
    for message in moved:
        click.echo(f"{message.id}: {message.state}")
    verb = "released (approved)" if action == "release" else "expired"
    click.echo(f"{len(moved)} timed-out message(s) {verb}")


@queue.command("purge")
@settings_options
@click.option(
    "--retention-days",
    type=click.IntRange(min=0),
    help="Keep content this many days after the final state [setting retention_days, 30].",
)
def queue_purge(config: Path | None, **flags: Any) -> None:
    """Remove the content of released, rejected, expired and withdrawn mail past retention.

    Metadata and the audit trail stay.
    """
    settings = settings_from(config, flags)
    days = settings.retention_days
    count = _with_store(settings, lambda store: store.purge(older_than=timedelta(days=days)))
    click.echo(f"purged the content of {count} message(s) final for more than {days} days")


@click.group()
def users() -> None:
    """Accounts of the web UI: approvers and admins."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.UsageError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


@users.command("add")
@settings_options
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "approver"]), required=True)
@click.option("--language", type=click.Choice(["ja", "en"]), help="Of the web UI [browser's].")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
def users_add(
    *,
    config: Path | None,
    email: str,
    role: str,
    language: str | None,
    password_stdin: bool,
    **flags: Any,
) -> None:
    """Add a user; the password is asked twice (or read from stdin)."""
    settings = settings_from(config, flags)
    password = _password(password_stdin)
    actor = cli_actor()
    try:
        user = _with_store(
            settings,
            lambda store: store.add_user(
                email, password=password, role=cast(Role, role), language=language, actor=actor
            ),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"added {user.role} {user.email}")


@users.command("passwd")
@settings_options
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
def users_passwd(config: Path | None, email: str, password_stdin: bool, **flags: Any) -> None:
    """Set a user's password."""
    settings = settings_from(config, flags)
    password = _password(password_stdin)
    actor = cli_actor()
    _with_store(settings, lambda store: store.set_password(email, password, actor=actor))
    click.echo(f"password of {email.strip().lower()} changed")


@users.command("list")
@settings_options
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per user.")
def users_list(config: Path | None, as_json: bool, **flags: Any) -> None:
    """List users (never their password hashes)."""
    settings = settings_from(config, flags)
    found = _with_store(settings, lambda store: store.users())
    if as_json:
        _json([u.as_json() for u in found])
        return
    if not found:
        click.echo("no users; add one with: dlp-proxy users add EMAIL --role admin")
        return
    click.echo(f"{'EMAIL':<36} {'ROLE':<9} {'LANG':<5} {'STATUS':<9} CREATED")
    for u in found:
        status = "disabled" if u.disabled else "active"
        click.echo(
            f"{u.email:<36} {u.role:<9} {u.language or '-':<5} {status:<9} {_when(u.created_at)}"
        )


@users.command("disable")
@settings_options
@click.argument("email")
def users_disable(config: Path | None, email: str, **flags: Any) -> None:
    """Stop a user from signing in (history and audit stay)."""
    settings = settings_from(config, flags)
    actor = cli_actor()
    _with_store(settings, lambda store: store.disable_user(email, actor=actor))
    click.echo(f"disabled {email.strip().lower()}")


@users.command("enable")
@settings_options
@click.argument("email")
def users_enable(config: Path | None, email: str, **flags: Any) -> None:
    """Let a disabled user sign in again."""
    settings = settings_from(config, flags)
    actor = cli_actor()
    _with_store(settings, lambda store: store.enable_user(email, actor=actor))
    click.echo(f"enabled {email.strip().lower()}")


def _day(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)


@click.command()
@settings_options
@click.option("--message", "message_id", metavar="ID", help="Only this message's events.")
@click.option("--search", metavar="TEXT", help="Substring of id, actor, event or detail.")
@click.option("--since", type=click.DateTime(), help="From this time (UTC), inclusive.")
@click.option("--until", type=click.DateTime(), help="Up to this time (UTC), exclusive.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="Export every match as CSV, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="JSON array, newest first.")
def audit(
    *,
    config: Path | None,
    message_id: str | None,
    search: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_csv: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """Read or export the audit trail (decisions, approvals, releases, sign-ins)."""
    settings = settings_from(config, flags)
    since, until = _day(since), _day(until)
    if as_csv:

        async def export(store: Quarantine) -> None:
            async for line in store.audit_csv(
                search=search, since=since, until=until, message_id=message_id
            ):
                click.echo(line, nl=False)

        _with_store(settings, export)
        return
    records = _with_store(
        settings,
        lambda store: store.audit_log(
            search=search, since=since, until=until, message_id=message_id, limit=limit
        ),
    )
    if as_json:
        _json([r.as_json() for r in records])
        return
    for r in records:
        click.echo(
            f"{_when(r.at)} {r.event:<15} {r.message_id or '-':<16} {r.actor} via {r.via} "
            f"{json.dumps(r.detail, ensure_ascii=False)}"
        )
