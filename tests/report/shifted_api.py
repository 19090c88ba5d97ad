"""`platestream api` whose clock reads a planned instant of the month under test (``MONTH_TEST_API_AT_MS``) and runs
on from there, so the requests it audits and counts fall inside that month. Only ``streams.clock.SYSTEM`` is
replaced, before anything else is imported: the server, its gate, its tokens' checks (PyJWT, on the real time) and
its store are the real ones.

    MONTH_TEST_API_AT_MS=... python -m tests.report.shifted_api
"""

from __future__ import annotations

import os
import sys
import time

import streams.clock


class ShiftedClock:
    """The wall clock, moved to start at ``at_ms``."""

    def __init__(self, at_ms: int):
        self.offset = at_ms - time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset


streams.clock.SYSTEM = ShiftedClock(int(os.environ["MONTH_TEST_API_AT_MS"]))

from streams.cli.app import main  # noqa: E402 - after the clock is replaced: modules may bind SYSTEM on import

if __name__ == "__main__":
    sys.argv = ["platestream", "api"]
    main()
