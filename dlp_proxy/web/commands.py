"""``dlp-proxy users token EMAIL``: a bearer token for the JSON API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from dlp_proxy.config import load_settings
from dlp_proxy.errors import ConfigError, DlpProxyError
from dlp_proxy.web.apitokens import make_api_token, read_api_token
from dlp_proxy.web.secret import load_secret


async def _issue(flags: dict[str, Any], config: Path | None, email: str, days: int) -> str:
    # The store (SQLAlchemy) loads only when this command runs, not with every command.
    from dlp_proxy.quarantine import AuditEvent  # noqa: PLC0415
    from dlp_proxy.quarantine.from_settings import open_quarantine  # noqa: PLC0415

    settings = load_settings(config_file=config, flags=flags)
    store = await open_quarantine(settings, create=False)
    try:
        secret = load_secret(settings)
        user = await store.get_user(email)
        if user is None:
            raise click.ClickException(f"no user {email}; add one with `dlp-proxy users add`")
        if user.disabled:
            raise click.ClickException(f"user {user.email} is disabled")
        expires_at = datetime.now(UTC) + timedelta(days=days)
        token = make_api_token(secret, user.email, expires_at=expires_at)
        claims = read_api_token(secret, token)
        await store.audit(
            AuditEvent(
                at=datetime.now(UTC),
                message_id=None,
                event="api_token_issued",
                actor=user.email,
                via="cli",
                detail={
                    "expires_at": expires_at.isoformat(timespec="seconds"),
                    "token_id": claims.token_id if claims else None,
                },
            )
        )
        return token
    finally:
        await store.close()


@click.command("token")
@click.argument("email")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False), help="TOML settings file."
)
@click.option("--data-dir", type=click.Path(path_type=Path), help="State directory [./var].")
@click.option("--quarantine-url", help="Quarantine database [SQLite in the data dir].")
def token(email: str, days: int, config: Path | None, **flags: Any) -> None:
    """Print an API bearer token for the web user EMAIL (valid --days days).

    The token acts as that user (their role, their messages) until it expires, the user is
    disabled, or the secret key changes. Keep it like a password.
    """
    try:
        issued = asyncio.run(_issue(flags, config, email, days))
    except ConfigError as exc:
        raise click.UsageError(f"invalid settings:\n{exc}") from None
    except DlpProxyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued)


def register(main: click.Group) -> None:
    """Add ``token`` to the ``users`` group (made here if the CLI has none yet)."""
    users = main.commands.get("users")
    if not isinstance(users, click.Group):
        users = click.Group("users", help="Users of the web UI.")
        main.add_command(users)
    users.add_command(token)
