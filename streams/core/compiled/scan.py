"""Passes 1 and 2 of the compiled path over a batch: strings, row checks, time order, de-duplication, read counts.

1. Every row, a column at a time: missing read id / camera, plate normalise + base-37 encode (and the confusable
   form), camera, site and region strings interned into per-batch distinct ids (``strings``).
2. Python, per *distinct* value only: region normalisation (Arrow) and camera ids' stable codes (blake2b).
3. Row checks (``checks``), time order of the good rows, de-duplication in the table that lives across batches
   (``dedup_table.HashDeduplicator``), read counts per (window, camera, site) and the fresh rows (``counts``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from streams.core.compiled.buffers import fixed_buffers, string_buffers
from streams.core.compiled.checks import FIRST_FAILING, MISSING_CAMERA_BIT, MISSING_READ_ID_BIT, row_checks
from streams.core.compiled.counts import read_groups
from streams.core.compiled.dedup_table import HashDeduplicator, time_order
from streams.core.compiled.strings import codes_of_rows, encode_plate_column, intern_column, mark_missing
from streams.core.normalise import encode_regions, normalise_regions, one_array, stable_codes
from streams.core.stopwatch import Stopwatch
from streams.core.validate import Limits


@dataclass
class Scanned:
    """What the compiled path knows of a batch after the row checks and de-duplication; indices are batch rows."""

    reason: np.ndarray  # uint8 per row, index into REASON_CODES (0 = good)
    good: np.ndarray  # int64 rows that passed the checks, in row order
    fresh: np.ndarray  # int64 good rows that are not duplicates, in row order
    plate_code: np.ndarray  # uint64 per row
    canon: np.ndarray  # uint64 per row: the confusable-folded code
    region_code: np.ndarray  # uint16 per distinct region
    region_id: np.ndarray  # int32 per row
    region_text: pa.Array  # normalised region per distinct region
    t_ms: np.ndarray  # int64 per row (undefined where captured_at is null)
    group_window_s: np.ndarray  # read counts: window start (s) per group
    group_first: np.ndarray  # a row of each group (its camera and site)
    group_reads: np.ndarray
    group_duplicates: np.ndarray


def scan(
    reads: pa.Table,
    now_ms: int,
    limits: Limits,
    dedup: HashDeduplicator,
    bucket_ms: int,
    lut: np.ndarray,
    sw: Stopwatch | None = None,
) -> Scanned:
    """Passes 1 and 2 over a batch (see the module doc); updates ``dedup``."""
    n = reads.num_rows
    rid_offs, _, rid_bits, rid_boff = string_buffers(reads["read_id"])
    cam = string_buffers(reads["camera_id"])
    site = string_buffers(reads["site_id"])
    reg = string_buffers(reads["region"])
    t, t_bits, t_boff = fixed_buffers(reads["captured_at"], np.int64)
    conf, conf_bits, conf_boff = fixed_buffers(reads["confidence"], np.float32)
    failed = np.zeros(n, np.uint16)  # bits of the checks each row fails (``checks.CHECK_BITS``)
    mark_missing(rid_offs, rid_bits, rid_boff, n, failed, MISSING_READ_ID_BIT)
    mark_missing(cam[0], cam[2], cam[3], n, failed, MISSING_CAMERA_BIT)
    if sw:
        sw.lap("missing fields")
    plate_code, canon, plate_len = encode_plate_column(reads["plate"], lut)
    if sw:
        sw.lap("plate normalise+encode")
    cam_id, cam_first = intern_column(*cam, n)
    site_id, _ = intern_column(*site, n)
    reg_id, reg_first = intern_column(*reg, n)
    if sw:
        sw.lap("intern camera/site/region")
    region_text = normalise_regions(one_array(reads["region"]).take(pa.array(reg_first)))
    reg_code_d, reg_ok_d = encode_regions(region_text)
    cam_code_d = stable_codes(one_array(reads["camera_id"]).take(pa.array(cam_first)))
    if sw:
        sw.lap("per distinct region/camera")
    reason, good = row_checks(
        failed, t, t_bits, t_boff, plate_len, plate_code, reg_id, reg_ok_d, conf, conf_bits, conf_boff,
        now_ms, limits.max_future_skew_ms, limits.max_age_ms, FIRST_FAILING,
    )  # fmt: skip
    region, camera = codes_of_rows(good, reg_id, reg_code_d, cam_id, cam_code_d, n)
    if sw:
        sw.lap("row checks")
    order = time_order(t, good)
    if sw:
        sw.lap("time order")
    dup = dedup.observe_rows(plate_code, region, camera, t, order)
    if sw:
        sw.lap("dedup")
    fresh, gwin, gfirst, greads, gdups = read_groups(good, dup, t, cam_id, site_id, bucket_ms)
    if sw:
        sw.lap("read counts")
    return Scanned(
        reason, good, fresh, plate_code, canon, reg_code_d, reg_id, region_text, t,
        gwin, gfirst, greads, gdups,
    )  # fmt: skip
