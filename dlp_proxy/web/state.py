"""What every request handler needs: the store, the secret, the public URL and the callbacks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from urllib.parse import urlsplit

from starlette.requests import Request

from dlp_proxy.actions.notice_context import Person
from dlp_proxy.policy.schema import Language
from dlp_proxy.quarantine.records import HeldMessage
from dlp_proxy.quarantine.store import Quarantine
from dlp_proxy.web.ratelimit import SignInLimiter

log = logging.getLogger("dlp_proxy.web")

DirectoryLookup = Callable[[str], Person | None]
OnDecision = Callable[[HeldMessage], Awaitable[None]]


@dataclass
class WebContext:
    store: Quarantine
    secret: bytes
    public_url: str
    directory_lookup: DirectoryLookup
    on_decision: OnDecision
    default_language: Language = "ja"
    zone: tzinfo | None = None
    limiter: SignInLimiter = field(default_factory=SignInLimiter)

    @property
    def base_path(self) -> str:
        """The path prefix of ``public_url`` (``/dlp`` behind a proxy that strips it), or ""."""
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def secure(self) -> bool:
        return self.public_url.lower().startswith("https://")

    def person(self, address: str) -> Person:
        """The person as the directory knows them, else just the address."""
        try:
            found = self.directory_lookup(address)
        except Exception:  # a directory being reloaded must not break a page
            log.exception("directory lookup failed")
            found = None
        return found or Person(address or "<>")

    async def decided(self, held: HeldMessage) -> None:
        """Tell the integrator (notices, the release worker); its failure is logged, never
        turned into an error page: the decision is committed already."""
        try:
            await self.on_decision(held)
        except Exception:
            log.exception("on_decision failed", extra={"queue_id": held.id, "state": held.state})


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx
