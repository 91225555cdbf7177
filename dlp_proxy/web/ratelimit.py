"""Sign-in rate limiting: failures per account and per client address in a sliding window."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

# Keys kept at most per table; an attacker spraying names or addresses cannot grow memory.
MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """``account`` failures per account and ``address`` per client address in ``window``
    seconds; beyond them every attempt is refused until the oldest failure ages out."""

    account: int = 5
    address: int = 20
    window: float = 15 * 60.0


class SignInLimiter:
    """In-process counters (each proxy process counts its own; see docs/web.md)."""

    def __init__(self, limits: Limits = Limits(), *, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._accounts: OrderedDict[str, deque[float]] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, account: str, address: str) -> float | None:
        """Seconds until an attempt is allowed again, or None when it is allowed now."""
        now = self._clock()
        waits = [
            self._wait(self._accounts, account.strip().lower(), self.limits.account, now),
            self._wait(self._addresses, address, self.limits.address, now),
        ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def failed(self, account: str, address: str) -> None:
        """Count a failure. Call it *before* checking the password, so that attempts made
        in parallel cannot all pass ``retry_after`` while the first ones are being checked;
        ``succeeded`` takes it back."""
        now = self._clock()
        self._add(self._accounts, account.strip().lower(), now)
        self._add(self._addresses, address, now)

    def succeeded(self, account: str, address: str) -> None:
        """The password was right: the account starts afresh, the address's count of this
        attempt is taken back."""
        self._accounts.pop(account.strip().lower(), None)
        failures = self._addresses.get(address)
        if failures:
            failures.pop()

    def _wait(
        self, table: OrderedDict[str, deque[float]], key: str, limit: int, now: float
    ) -> float | None:
        failures = table.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.limits.window:
            failures.popleft()
        if not failures:
            del table[key]
            return None
        if len(failures) < limit:
            return None
        return failures[-limit] + self.limits.window - now

    def _add(self, table: OrderedDict[str, deque[float]], key: str, now: float) -> None:
        failures = table.setdefault(key, deque())
        table.move_to_end(key)
        failures.append(now)
        while len(failures) > max(self.limits.account, self.limits.address):
            failures.popleft()
        while len(table) > MAX_KEYS:
            table.popitem(last=False)
