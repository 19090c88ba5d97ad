"""A token bucket counted in reads: what holds the load generator's and the bench's sending rate."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``take(n)`` blocks until ``n`` tokens are there. Tokens refill at ``rate_per_s`` up to ``burst``.

    ``n`` may exceed ``burst``: the bucket goes into debt and the caller waits ``debt / rate`` seconds, so the
    long-run rate holds whatever the batch size. The bucket starts with ``initial`` tokens (default: full).
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        initial: float | None = None,
    ):
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if burst < 0:
            raise ValueError("burst must not be negative")
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.burst if initial is None else float(initial)
        self.last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def set_rate(self, rate_per_s: float) -> None:
        """From now on refill at ``rate_per_s`` (tokens so far were earned at the old rate)."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self._refill()
        self.rate = float(rate_per_s)

    def take(self, n: float) -> None:
        self._refill()
        self.tokens -= n
        while self.tokens < 0 and -self.tokens / self.rate > 1e-6:  # a short sleep wakes early: sleep again
            self.sleep(-self.tokens / self.rate)
            self._refill()
