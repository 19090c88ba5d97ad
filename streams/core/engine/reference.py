"""The numpy engine: whole-column numpy and Arrow passes, the specification the compiled engine is property-tested
against (``tests/core/test_kernel.py``). Selected by ``ProcessorConfig(engine="reference")``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core import aggregate
from streams.core.dedup import Deduplicator
from streams.core.engine.stages import StageOutputs
from streams.core.hotlist import HotList
from streams.core.match import ReadKeys, match
from streams.core.normalise import (
    encode_plates,
    encode_plates_sym,
    encode_regions,
    normalise_plates,
    normalise_regions,
    stable_codes,
)
from streams.core.stopwatch import Stopwatch
from streams.core.validate import Limits, row_reasons


class ReferenceEngine:
    """Stage outputs of a batch the plain numpy way; de-duplication state in a ``Deduplicator``."""

    def __init__(self, limits: Limits, dedup_window_ms: int, bucket_ms: int, lut: np.ndarray):
        self.limits = limits
        self.bucket_ms = bucket_ms
        self.lut = lut
        self.dedup = Deduplicator(dedup_window_ms)

    def run(
        self, reads: pa.Table, now_ms: int, segments: list[HotList], stopwatch: Stopwatch | None = None
    ) -> StageOutputs:
        """``stopwatch`` is not used: the reference is timed by calling these functions (load_tests/bench_core.py)."""
        plate = normalise_plates(reads["plate"])
        region = normalise_regions(reads["region"])
        plate_code, plate_ok, plate_sym, plate_len = encode_plates_sym(plate)
        region_code, region_ok = encode_regions(region)
        empty = plate_len == 0  # null or nothing left after normalisation
        reason = row_reasons(reads, plate_ok, empty, region_ok, now_ms, self.limits)

        keep = reason == 0
        good = np.flatnonzero(keep)
        good_reads = reads.filter(pa.array(keep)) if len(good) < reads.num_rows else reads
        t_ms = good_reads["captured_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        g_plate, g_region = plate_code[good], region_code[good]
        duplicate = self.dedup.observe(g_plate, g_region, stable_codes(good_reads["camera_id"]), t_ms)

        # Matching runs on the first read of each passage: a duplicate adds frames, not information.
        fresh = np.flatnonzero(~duplicate)  # rows of good_reads
        rk = _read_keys(good_reads, plate_sym[good], g_plate, g_region, t_ms, fresh)
        fresh_rows = good[fresh]  # rows of the batch
        matches = [dataclasses.replace(m, read=fresh_rows[m.read]) for m in (match(s, rk, self.lut) for s in segments)]
        window = aggregate.bucket(t_ms, self.bucket_ms)
        return StageOutputs(
            reason=reason,
            good=len(good),
            duplicates=int(duplicate.sum()),
            fresh=fresh_rows,
            plate_code=plate_code,
            matches=matches,
            read_counts=aggregate.read_counts(window, good_reads["camera_id"], good_reads["site_id"], duplicate),
            plate_text=lambda rows: plate.take(pa.array(rows, pa.int64())),
            region_text=lambda rows: region.take(pa.array(rows, pa.int64())),
        )


def _read_keys(
    reads: pa.Table,
    plate_sym: np.ndarray,
    plate_code: np.ndarray,
    region_code: np.ndarray,
    t_ms: np.ndarray,
    fresh: np.ndarray,
) -> ReadKeys:
    """What matching needs of the ``fresh`` rows of ``reads`` (the other arrays are per row of ``reads``)."""
    sym = plate_sym[fresh]
    cands = reads["candidates"].take(pa.array(fresh))
    cands = cands.combine_chunks() if isinstance(cands, pa.ChunkedArray) else cands
    lengths = pc.fill_null(pc.list_value_length(cands), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(cands)
    if len(flat):
        cand_plate = normalise_plates(flat.field("plate"))
        cand_code, cand_ok = encode_plates(cand_plate)
        cand_read = np.repeat(np.arange(len(fresh)), lengths)
        cand_rank = (np.arange(len(cand_read)) - np.repeat(np.cumsum(lengths) - lengths, lengths)).astype(np.int16)
        sel = cand_ok & (cand_code != plate_code[fresh][cand_read])
        cand_read, cand_rank, cand_code = cand_read[sel], cand_rank[sel], cand_code[sel]
    else:
        cand_read = np.zeros(0, np.int64)
        cand_rank = np.zeros(0, np.int16)
        cand_code = np.zeros(0, np.uint64)
    return ReadKeys(plate_code[fresh], sym, region_code[fresh], t_ms[fresh], cand_read, cand_rank, cand_code)
