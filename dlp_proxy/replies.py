"""SMTP reply texts with enhanced status codes, and the translation of errors into replies."""

from __future__ import annotations

import re

from dlp_proxy import errors

GREETING_REFUSED = "554 5.7.1 Access denied: this client is not allowed to relay through dlp-proxy"
MAIL_OK = "250 2.1.0 Sender ok"
RCPT_OK = "250 2.1.5 Recipient ok"
RESET_OK = "250 2.0.0 Ok"
XFORWARD_OK = "250 2.0.0 Ok"
XFORWARD_SYNTAX = "501 5.5.4 Syntax: XFORWARD attribute=value ..."
XFORWARD_IN_TRANSACTION = "503 5.5.1 Error: MAIL transaction in progress"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
ROUTED_RECIPIENT = (
    "553 5.1.3 Routed addresses are refused here (%, !, a quoted @ or a source route "
    "sends the mail on elsewhere): give the address it is for"
)
DSN_SYNTAX = "501 5.5.4 Invalid DSN parameter (RFC 3461: RET, ENVID, NOTIFY, ORCPT)"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"


def queued(message_id: str) -> str:
    return f"250 2.0.0 Ok: queued as {message_id}"


def held(message_id: str) -> str:
    """Held for approval: committed to the quarantine, so the MTA's job is done."""
    return f"250 2.0.0 Ok: held for approval as {message_id}"


def blocked(rule: str, reason: str) -> str:
    """A deliberate block: one line naming the rule and its reason (RFC 5321 line limit)."""
    return _one_line(f"550 5.7.1 Blocked by policy rule {rule}: {reason}", limit=500)


# aiosmtpd's own replies, given enhanced status codes (RFC 3463) on their way out.
_STOCK: tuple[tuple[str, str], ...] = (
    (
        "552 Error: message size exceeds fixed maximum message size",
        "552 5.3.4 Message size exceeds fixed maximum message size",
    ),
    ("552 Error: Too much mail data", "552 5.3.4 Message size exceeds fixed maximum message size"),
    ("500 Line too long", "500 5.5.2 Line too long"),
    ("500 Command line too long", "500 5.5.2 Command line too long"),
    ("500 Error: bad syntax", "500 5.5.2 Error: bad syntax"),
    ("503 Error: need MAIL command", "503 5.5.1 Error: need MAIL command"),
    ("503 Error: need RCPT command", "503 5.5.1 Error: need RCPT command"),
    ("503 Error: nested MAIL command", "503 5.5.1 Error: nested MAIL command"),
    ("503 Error: send HELO first", "503 5.5.1 Error: send HELO first"),
    ("503 Error: send EHLO first", "503 5.5.1 Error: send EHLO first"),
    (
        "555 MAIL FROM parameters not recognized or not implemented",
        "555 5.5.4 MAIL FROM parameters not recognized or not implemented",
    ),
    (
        "555 RCPT TO parameters not recognized or not implemented",
        "555 5.5.4 RCPT TO parameters not recognized or not implemented",
    ),
    ("250 OK", "250 2.0.0 Ok"),
    ("221 Bye", "221 2.0.0 Bye"),
)


def with_enhanced_code(reply: str) -> str:
    """Give one of aiosmtpd's stock replies an enhanced status code; others pass unchanged."""
    for stock, better in _STOCK:
        if reply == stock:
            return better
    return reply


_ENHANCED_PERMANENT = re.compile(r"5\.\d{1,3}\.\d{1,3}(\s|$)")


def _one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _from_next_hop(code: int, text: str, *, permanent: bool) -> str:
    """Pass a next hop's refusal on, keeping its code and enhanced code where they fit."""
    text = _one_line(text)
    if not permanent:
        return f"451 4.4.0 Next hop deferred: {code} {text}"
    if not 500 <= code <= 559:
        code = 554
    if _ENHANCED_PERMANENT.match(text):
        return f"{code} {text}"
    return f"{code} 5.0.0 Next hop refused: {text}"


def for_error(error: BaseException) -> str:
    """The one place where an exception becomes an SMTP reply; anything unknown is a 451."""
    match error:
        case errors.NextHopRejected(code=code, text=text):
            return _from_next_hop(code, text, permanent=True)
        case errors.NextHopDeferred(code=code, text=text):
            return _from_next_hop(code, text, permanent=False)
        case errors.NextHopLacksSmtpUtf8():
            return "553 5.6.7 The next hop does not support SMTPUTF8 (RFC 6531)"
        case errors.NextHopUnavailable():
            return f"451 4.4.1 Next hop unavailable, try again later: {_one_line(str(error))}"
        case errors.InspectionTimeout():
            return "451 4.3.0 Inspection did not finish in time, try again later"
        case errors.InspectionFailed():
            return "451 4.3.0 Inspection failed, try again later"
        case errors.ActionUnavailable():
            return "451 4.3.0 Held back by policy; the action it asks for is not available yet"
        case errors.NoticeFailed():
            return "451 4.3.0 The password notice could not be sent, try again later"
        case errors.LocalStorageFailed():
            return "451 4.3.0 Local storage failed, try again later"
        case _:
            return "451 4.3.0 Internal error, try again later"
