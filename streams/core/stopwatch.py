"""Seconds per stage of a batch, for benchmarks and profiling (``Processor.stopwatch``); off (None) in production."""

from __future__ import annotations

import time


class Stopwatch:
    """Seconds per stage, summed over batches (``Processor.stopwatch``: benchmarks and profiling only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._t
        self._t = now
