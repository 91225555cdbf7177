"""``dlp-proxy users token EMAIL``: a bearer token for the JSON API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from dlp_proxy.cli_quarantine import cli_actor
from dlp_proxy.cli_settings import settings_from, settings_options
from dlp_proxy.config import Settings
from dlp_proxy.errors import DlpProxyError
from dlp_proxy.quarantine import AuditEvent
from dlp_proxy.quarantine.from_settings import open_quarantine
from dlp_proxy.web.apitokens import make_api_token, read_api_token
from dlp_proxy.web.secret import load_secret


async def _issue(settings: Settings, email: str, days: int) -> str:
    store = await open_quarantine(settings, create=False)
    try:
        user = await store.get_user(email)
        if user is None:
            raise click.ClickException(f"no user {email}; add one with `dlp-proxy users add`")
        if user.disabled:
            raise click.ClickException(f"user {user.email} is disabled")
        secret = load_secret(settings)
        expires_at = datetime.now(UTC) + timedelta(days=days)
        token = make_api_token(secret, user.email, expires_at=expires_at)
        claims = read_api_token(secret, token)
        await store.audit(
            AuditEvent(
                at=datetime.now(UTC),
                message_id=None,
                event="api_token_issued",
                actor=cli_actor(),
                via="cli",
                detail={
                    "email": user.email,
                    "expires_at": expires_at.isoformat(timespec="seconds"),
                    "token_id": claims.token_id if claims else None,
                },
            )
        )
        return token
    finally:
        await store.close()


@click.command("token")
@settings_options
@click.argument("email")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
def token(config: Path | None, email: str, days: int, **flags: Any) -> None:
    """Print an API bearer token for the web user EMAIL (valid --days days).

    The token acts as that user (their role, their messages) until it expires, the user is
    disabled, or the secret key changes. Keep it like a password.
    """
    settings = settings_from(config, flags)
    try:
        issued = asyncio.run(_issue(settings, email, days))
    except DlpProxyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued)


def register(main: click.Group) -> None:
    """Add ``token`` to the ``users`` group (made here if the CLI has none)."""
    users = main.commands.get("users")
    if not isinstance(users, click.Group):
        users = click.Group("users", help="Users of the web UI.")
        main.add_command(users)
    users.add_command(token)
