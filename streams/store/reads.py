"""Writes a batch's stored reads to ``reads``: plate codes as keyed hashes (no plate text at rest), each row with
the expiry its class has under the retention policy; a class kept for 0 s is never written.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.config.retention import RetentionPolicy
from streams.core.pseudonym import PlateKeys
from streams.store.clickhouse import Store

__all__ = ["DATA_CLASSES", "pseudonymised_reads", "write_reads"]


DATA_CLASSES = pa.array(["non_hit_reads", "hit_reads"], pa.string())  # indexed by the ``hit`` flag


def pseudonymised_reads(stored: pa.Table, keys: PlateKeys, policy: RetentionPolicy) -> pa.Table:
    """``BatchResult.stored_reads`` as rows of ``reads``: plate code -> keyed hash, expiry from the policy."""
    hit = pc.fill_null(stored["hit"], False).to_numpy(zero_copy_only=False)
    limit_s = np.where(hit, policy.hit_reads, policy.non_hit_reads).astype(np.int64)
    t_ms = stored["captured_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    keep = limit_s > 0
    codes = stored["plate_code"].to_numpy(zero_copy_only=False)
    n = stored.num_rows
    # The string columns by index into one or two values: no per-row Python strings.
    table = pa.table(
        {
            "read_id": stored["read_id"],
            "captured_at": stored["captured_at"],
            # rounded up to the second: a DateTime expiry must not fall before the limit
            "expires_at": pa.array((t_ms + limit_s * 1000 + 999) // 1000 * 1000, pa.int64()).cast(
                pa.timestamp("ms", tz="UTC")
            ),
            "data_class": DATA_CLASSES.take(pa.array(hit.astype(np.int8))),
            "camera_id": stored["camera_id"],
            "site_id": pc.fill_null(stored["site_id"], ""),
            "region": pc.fill_null(stored["region"], ""),
            "plate_key": pa.array(keys.current(codes), pa.uint64()),
            "key_id": pa.array([keys.current_id], pa.string()).take(pa.array(np.zeros(n, np.int8))),
            "confidence": pc.fill_null(stored["confidence"], float("nan")),
            "hit": pa.array(hit.astype(np.uint8)),
        }
    )
    return table if keep.all() else table.filter(pa.array(keep))


def write_reads(store: Store, stored: pa.Table, keys: PlateKeys, policy: RetentionPolicy, token: str) -> int:
    """Insert a batch's reads (idempotent on ``token``); returns the rows written."""
    if stored.num_rows == 0:
        return 0
    rows = pseudonymised_reads(stored, keys, policy)
    store.insert_arrow("reads", rows, dedup_token=f"{token}:reads")
    return rows.num_rows
