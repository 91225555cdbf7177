"""What we know of a message besides its bytes: envelope and the client that sent it."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlp_proxy.policy.directory import SenderInfo


@dataclass(frozen=True, slots=True)
class Client:
    """The SMTP client, or the original client the MTA reported through XFORWARD."""

    addr: str
    name: str | None = None
    helo: str | None = None
    proto: str | None = None
    forwarded_by: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """One mail transaction as received: sender, recipients and ESMTP options."""

    message_id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    client: Client
    mail_options: tuple[str, ...] = field(default=())
    sender: SenderInfo = field(default_factory=SenderInfo)

    @property
    def smtputf8(self) -> bool:
        return "SMTPUTF8" in self.mail_options
