"""Row checks on a decoded batch, vectorised: each row gets a reason code, or ``None`` when it is a good read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.model import deadletter as dl


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
    """Per row: index into ``REASON_CODES`` (0 = good). The first failing check wins."""
    n = reads.num_rows
    code = np.zeros(n, np.uint8)

    def mark(bad: np.ndarray, reason: str) -> None:
        code[(code == 0) & bad] = REASON_CODES.index(reason)

    mark(_null_or_empty(reads["read_id"]), dl.MISSING_READ_ID)
    mark(_null_or_empty(reads["camera_id"]), dl.MISSING_CAMERA)
    t = reads["captured_at"]
    t_null = t.is_null().to_numpy(zero_copy_only=False)
    mark(t_null, dl.MISSING_TIME)
    t_ms = pc.fill_null(t.cast(pa.int64()), now_ms).to_numpy(zero_copy_only=False)
    mark(t_ms > now_ms + limits.max_future_skew_ms, dl.TIME_IN_FUTURE)
    mark(t_ms < now_ms - limits.max_age_ms, dl.TIME_TOO_OLD)
    mark(plate_empty, dl.MISSING_PLATE)
    mark(~plate_valid, dl.BAD_PLATE)
    mark(~region_valid, dl.BAD_REGION)
    conf = pc.fill_null(reads["confidence"], 0).to_numpy(zero_copy_only=False)
    mark((conf < 0) | (conf > 100) | np.isnan(conf), dl.BAD_CONFIDENCE)
    return code


REASON_CODES: tuple[str | None, ...] = (None, *dl.REASONS)


def _null_or_empty(col: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(pc.equal(pc.utf8_length(col), 0), True).to_numpy(zero_copy_only=False)
