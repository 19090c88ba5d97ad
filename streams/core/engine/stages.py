"""What an engine hands ``Processor.process``: the outputs of its stages for one batch, from which the processor
builds the ``BatchResult`` (dead letters, hit rows, aggregates, stored reads) in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa

from streams.core.hotlist import HotList
from streams.core.match import Matches
from streams.core.stopwatch import Stopwatch


@dataclass(frozen=True)
class StageOutputs:
    """One batch through validate -> normalise -> de-duplicate -> match. Every row index is a row of the batch."""

    reason: np.ndarray  # uint8 per row, index into ``validate.REASON_CODES`` (0 = good)
    good: int  # rows that passed the checks
    duplicates: int  # good rows that repeat a passage
    fresh: np.ndarray  # int64: good rows that are not duplicates (the ones matched), in row order
    plate_code: np.ndarray  # uint64 per row (meaningful for good rows)
    matches: list[Matches]  # per hot-list segment, in the order of the segments
    read_counts: pa.Table  # ``aggregate.read_counts`` of the good rows
    plate_text: Callable[[np.ndarray], pa.Array]  # normalised plate of the given rows
    region_text: Callable[[np.ndarray], pa.Array]  # normalised region of the given rows


class ReadDeduplicator(Protocol):
    """The de-duplication state an engine keeps across batches (``dedup.Deduplicator`` or its compiled twin)."""

    def __len__(self) -> int: ...

    def observe(self, plate: np.ndarray, region: np.ndarray, camera: np.ndarray, t_ms: np.ndarray) -> np.ndarray: ...

    def expire(self, cutoff_ms: int) -> int: ...

    def clear(self) -> int: ...

    def oldest_ms(self) -> int | None: ...


class Engine(Protocol):
    """Computes the stage outputs of a batch; ``dedup`` is its state, expired by the processor's retention clock."""

    dedup: ReadDeduplicator

    def run(
        self, reads: pa.Table, now_ms: int, segments: list[HotList], stopwatch: Stopwatch | None
    ) -> StageOutputs: ...
