"""The compiled engine (the default): a batch in a few numba passes over the Arrow buffers (``streams.core.compiled``)
instead of a dozen numpy passes, with the same results as the numpy reference (``engine.reference``).

``scan`` runs the row checks, de-duplication and read counts; ``probe`` the hot-list look-ups of the fresh reads
per segment; the few (read, entry) pairs found are resolved by ``match.resolve_pairs``, shared with the reference.
Compiled functions are cached on disk (``cache=True``, in ``__pycache__`` or ``NUMBA_CACHE_DIR``): the first run on
a machine compiles for about a minute, later processes load them in seconds (``warm_up``, run on construction).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from streams.core import aggregate
from streams.core.compiled.dedup_table import HashDeduplicator
from streams.core.compiled.lookup import probe
from streams.core.compiled.scan import Scanned, scan
from streams.core.compiled.strings import symbols
from streams.core.engine.stages import StageOutputs
from streams.core.hotlist import HotList
from streams.core.match import Matches, resolve_pairs
from streams.core.normalise import decode_codes
from streams.core.stopwatch import Stopwatch
from streams.core.validate import Limits


class CompiledEngine:
    """Stage outputs of a batch from the compiled passes; de-duplication state in a ``HashDeduplicator``."""

    def __init__(self, limits: Limits, dedup_window_ms: int, bucket_ms: int, lut: np.ndarray):
        warm_up()
        self.limits = limits
        self.bucket_ms = bucket_ms
        self.lut = lut
        self.dedup = HashDeduplicator(dedup_window_ms)

    def run(
        self, reads: pa.Table, now_ms: int, segments: list[HotList], stopwatch: Stopwatch | None = None
    ) -> StageOutputs:
        sw = stopwatch
        s = scan(reads, now_ms, self.limits, self.dedup, self.bucket_ms, self.lut, sw)
        matches = []
        for seg in segments:
            pairs = probe(reads["candidates"], s.fresh, s.plate_code, s.canon, seg, self.lut)
            if sw:
                sw.lap("hot-list look-ups")
            matches.append(_resolve(seg, pairs, s))
            if sw:
                sw.lap("match rules")
        first = pa.array(s.group_first, pa.int64())
        read_counts = aggregate.read_count_rows(
            s.group_window_s, reads["camera_id"].take(first), reads["site_id"].take(first), s.group_reads,
            s.group_duplicates,
        )  # fmt: skip
        if sw:
            sw.lap("read count table")
        return StageOutputs(
            reason=s.reason,
            good=len(s.good),
            duplicates=int(s.group_duplicates.sum()),
            fresh=s.fresh,
            plate_code=s.plate_code,
            matches=matches,
            read_counts=read_counts,
            plate_text=lambda rows: decode_codes(s.plate_code[rows]),
            region_text=lambda rows: s.region_text.take(pa.array(s.region_id[rows])),
        )


def _resolve(seg: HotList, pairs: np.ndarray, s: Scanned) -> Matches:
    """Raw look-up pairs (read row, entry, kind, candidate rank) -> matches, as the reference resolves them."""
    return resolve_pairs(
        seg,
        pairs[:, 0],
        pairs[:, 1],
        pairs[:, 2].astype(np.uint8),
        pairs[:, 3].astype(np.int16),
        s.t_ms,
        np.zeros(0, np.uint16) if not len(s.region_id) else s.region_code[s.region_id],
        s.plate_code,
        lambda idx: symbols(s.plate_code[idx]),
    )


@functools.cache
def warm_up() -> None:
    """Load (or compile, the first time on a machine) every compiled function, so a worker's first batch does not
    pay for it. Once per process."""
    reads = pa.table(
        {
            "read_id": ["r1", "r2", "r3"],
            "camera_id": ["c", "c", None],
            "site_id": ["s", None, "s"],
            "captured_at": pa.array([2, 1, 3], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "plate": ["ab1", "AB1", "é"],
            "region": ["us-ca", None, "CA"],
            "confidence": pa.array([50.0, None, 1.0], pa.float32()),
            "candidates": pa.array(
                [[{"plate": "AB2", "confidence": 1.0}], None, []],
                pa.list_(pa.struct([("plate", pa.string()), ("confidence", pa.float32())])),
            ),
        }
    )
    lut = np.arange(37, dtype=np.uint8)
    d = HashDeduplicator(10)
    s = scan(reads, 3, Limits(0, 10), d, 1000, lut)
    probe(reads["candidates"], s.fresh, s.plate_code, s.canon, HotList.empty(), lut)
    d.observe(np.zeros(2, np.uint64), np.zeros(2, np.uint16), np.zeros(2, np.uint64), np.array([2, 1], np.int64))
    d.expire(1)
    d.oldest_ms()
