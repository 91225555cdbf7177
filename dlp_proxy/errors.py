"""The one exception tree; replies.py turns each of these into an SMTP reply."""

from __future__ import annotations


class DlpProxyError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(DlpProxyError):
    """Settings that cannot be used; the message names the source (file:line, variable, flag)."""


class StartupError(DlpProxyError):
    """The proxy cannot start: the address is taken, a certificate cannot be read, ..."""


class TemporaryFailure(DlpProxyError):
    """The message cannot be handled now; the client must retry (4xx)."""


class InspectionFailed(TemporaryFailure):
    """The scanner raised or its process died."""


class InspectionTimeout(TemporaryFailure):
    """The scanner did not finish within the per-message deadline."""


class NextHopUnavailable(TemporaryFailure):
    """The next hop could not be reached, dropped the connection or timed out."""


class NextHopDeferred(TemporaryFailure):
    """The next hop answered with a 4xx reply."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class ActionUnavailable(TemporaryFailure):
    """The policy chose an action this build cannot carry out; defer rather than deliver."""


class NoticeFailed(TemporaryFailure):
    """A notice the message depends on (the password for an encrypted copy) was not sent."""


class LocalStorageFailed(TemporaryFailure):
    """Writing to the data directory failed (disk full, permissions)."""


class PermanentFailure(DlpProxyError):
    """The message will never be accepted as it is (5xx)."""


class NextHopRejected(PermanentFailure):
    """The next hop answered with a 5xx reply."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class NextHopLacksSmtpUtf8(PermanentFailure):
    """The message needs SMTPUTF8 and the next hop does not offer it."""
