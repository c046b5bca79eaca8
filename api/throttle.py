"""Sign-in throttling: failed sign-ins counted per account and per address over a window.

Past the limit every sign-in for that account (or from that address), the right password
too, is answered 429 with Retry-After until the oldest failure leaves the window: a
password cannot be guessed faster than the limit allows (DESIGN.md, Security).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 100
WINDOW_SECONDS = 15 * 60


class Throttle:
    def __init__(
        self, limit: int, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        cutoff = self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None if it may now."""
        failures = self._recent(key)
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - self.clock()))

    def failed(self, key: str) -> None:
        self._failures.setdefault(key, deque()).append(self.clock())
        if len(self._failures) > 100_000:  # bounded: the oldest keys go first
            del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class SignIns:
    """The two throttles a sign-in passes: its account's and its address's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.accounts = Throttle(ACCOUNT_FAILURES, clock=clock)
        self.addresses = Throttle(ADDRESS_FAILURES, clock=clock)

    def retry_after(self, username: str, address: str) -> int | None:
        waits = [w for w in (self.accounts.retry_after(username), self.addresses.retry_after(address)) if w]
        return max(waits) if waits else None

    def failed(self, username: str, address: str) -> None:
        self.accounts.failed(username)
        self.addresses.failed(address)

    def succeeded(self, username: str) -> None:
        self.accounts.succeeded(username)
