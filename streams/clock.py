"""Time, defined once: everything that reads the time takes a ``Clock`` so that tests can drive it.

The worker, the purge job and the verifiers read ``SYSTEM`` unless they are handed another clock; the core never
reads a clock at all (its callers pass ``now_ms``).
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM", "Clock", "ManualClock", "SystemClock", "now_ms"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to (tests, and replays that run on event time)."""

    def __init__(self, start_ms: int = 0) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


SYSTEM: Clock = SystemClock()


def now_ms() -> int:
    """The wall clock's milliseconds since the epoch."""
    return SYSTEM.now_ms()
