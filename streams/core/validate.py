"""Row checks on a decoded batch, vectorised: each row gets a reason code, or ``None`` when it is a good read.

``CHECK_ORDER`` is the one definition of the order the checks apply in (the first failing check wins): the numpy
``row_reasons`` and the compiled checks (``first_failing_table``) both derive their order from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.model import deadletter as dl

REASON_CODES: tuple[str | None, ...] = (None, *dl.REASONS)

# The row checks, in the order they apply: a row gets the reason of the first check it fails.
CHECK_ORDER: tuple[str, ...] = (
    dl.MISSING_READ_ID,
    dl.MISSING_CAMERA,
    dl.MISSING_TIME,
    dl.TIME_IN_FUTURE,
    dl.TIME_TOO_OLD,
    dl.MISSING_PLATE,
    dl.BAD_PLATE,
    dl.BAD_REGION,
    dl.BAD_CONFIDENCE,
)


@dataclass(frozen=True)
class Limits:
    max_future_skew_ms: int  # a read from further ahead than this is refused (clock fault or forgery)
    max_age_ms: int  # a read older than this is refused (a replayed archive does not belong in a live stream)


def row_reasons(
    reads: pa.Table,
    plate_valid: np.ndarray,
    plate_empty: np.ndarray,
    region_valid: np.ndarray,
    now_ms: int,
    limits: Limits,
) -> np.ndarray:
    """Per row: index into ``REASON_CODES`` (0 = good). The first failing check (``CHECK_ORDER``) wins."""
    t = reads["captured_at"]
    t_ms = pc.fill_null(t.cast(pa.int64()), now_ms).to_numpy(zero_copy_only=False)
    conf = pc.fill_null(reads["confidence"], 0).to_numpy(zero_copy_only=False)
    failed = {
        dl.MISSING_READ_ID: _null_or_empty(reads["read_id"]),
        dl.MISSING_CAMERA: _null_or_empty(reads["camera_id"]),
        dl.MISSING_TIME: t.is_null().to_numpy(zero_copy_only=False),
        dl.TIME_IN_FUTURE: t_ms > now_ms + limits.max_future_skew_ms,
        dl.TIME_TOO_OLD: t_ms < now_ms - limits.max_age_ms,
        dl.MISSING_PLATE: plate_empty,
        dl.BAD_PLATE: ~plate_valid,
        dl.BAD_REGION: ~region_valid,
        dl.BAD_CONFIDENCE: (conf < 0) | (conf > 100) | np.isnan(conf),
    }
    code = np.zeros(reads.num_rows, np.uint8)
    for reason in _in_check_order(failed):
        code[(code == 0) & failed[reason]] = REASON_CODES.index(reason)
    return code


def first_failing_table(bit_of: Mapping[str, int]) -> np.ndarray:
    """For a compiled check that sets bit ``bit_of[reason]`` of a row's mask per failing check: the reason code
    (index into ``REASON_CODES``, 0 = good) of every possible mask, the first failing check in ``CHECK_ORDER``."""
    table = np.zeros(1 << (max(bit_of.values()) + 1), np.uint8)
    for mask in range(len(table)):
        for reason in _in_check_order(bit_of):
            if mask >> bit_of[reason] & 1:
                table[mask] = REASON_CODES.index(reason)
                break
    return table


def _in_check_order(checks: Mapping[str, object]) -> tuple[str, ...]:
    """``CHECK_ORDER``, after making sure ``checks`` has exactly those checks (no check forgotten or invented)."""
    if set(checks) != set(CHECK_ORDER):
        raise ValueError(f"checks {sorted(checks)} are not those of CHECK_ORDER {sorted(CHECK_ORDER)}")
    return CHECK_ORDER


def _null_or_empty(col: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(pc.equal(pc.utf8_length(col), 0), True).to_numpy(zero_copy_only=False)
