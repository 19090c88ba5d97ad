"""Short-lived aggregates for transparency reporting: counts per time bucket, never plate text.

Each function returns an Arrow table whose columns are those of a ClickHouse table in ``schemas/clickhouse``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TS = pa.timestamp("s", tz="UTC")


def bucket(t_ms: np.ndarray, bucket_ms: int) -> pa.Array:
    """Start of each value's bucket, as a second-resolution timestamp (ClickHouse DateTime)."""
    start_s = (t_ms - t_ms % bucket_ms) // 1000
    return pa.array(start_s, pa.int64()).cast(_TS)


READ_COUNT_KEYS = ["window_start", "camera_id", "site_id"]


def read_counts(window: pa.Array, camera: pa.Array, site: pa.Array, duplicate: np.ndarray) -> pa.Table:
    t = pa.table(
        {
            "window_start": window,
            "camera_id": camera,
            "site_id": pc.fill_null(site, ""),
            "duplicate": pa.array(duplicate.astype(np.uint64)),
        }
    )
    g = t.group_by(READ_COUNT_KEYS, use_threads=False).aggregate([("duplicate", "count"), ("duplicate", "sum")])
    return pa.table(
        {
            "window_start": g["window_start"],
            "camera_id": g["camera_id"],
            "site_id": g["site_id"],
            "reads": g["duplicate_count"].cast(pa.uint64()),
            "duplicates": g["duplicate_sum"].cast(pa.uint64()),
        }
    ).sort_by([(k, "ascending") for k in READ_COUNT_KEYS])  # Arrow's group order is not defined: fix one


def read_count_rows(
    window_s: np.ndarray, camera: pa.ChunkedArray, site: pa.ChunkedArray, reads: np.ndarray, duplicates: np.ndarray
) -> pa.Table:
    """``read_counts`` from groups already counted (the compiled core): one row per (window, camera, site)."""
    return pa.table(
        {
            "window_start": pa.array(window_s, pa.int64()).cast(_TS),
            "camera_id": camera,
            "site_id": pc.fill_null(site, ""),
            "reads": pa.array(reads, pa.uint64()),
            "duplicates": pa.array(duplicates, pa.uint64()),
        }
    ).sort_by([(k, "ascending") for k in READ_COUNT_KEYS])


HIT_COUNT_KEYS = ["window_start", "camera_id", "reason", "match_kind", "list_source"]


def hit_counts(hits: pa.Table, bucket_ms: int) -> pa.Table:
    """Hits and alerts per hour, camera, reason, match kind and list source (the entry's ``source``; '' when the
    entry names none)."""
    window = bucket(hits["read_time"].cast(pa.int64()).to_numpy(zero_copy_only=False), bucket_ms)
    t = pa.table(
        {
            "window_start": window,
            "camera_id": hits["camera_id"],
            "reason": hits["reason"],
            "match_kind": hits["match_kind"],
            "list_source": pc.fill_null(hits["entry_source"].cast(pa.string()), ""),
            "alert": hits["alert"].cast(pa.uint64()),
        }
    )
    g = t.group_by(HIT_COUNT_KEYS, use_threads=False).aggregate([("alert", "count"), ("alert", "sum")])
    return pa.table(
        {
            **{k: g[k] for k in HIT_COUNT_KEYS},
            "hits": g["alert_count"].cast(pa.uint64()),
            "alerts": g["alert_sum"].cast(pa.uint64()),
        }
    ).sort_by([(k, "ascending") for k in HIT_COUNT_KEYS])  # Arrow's group order is not defined: fix one


def dead_letter_counts(keys: Iterable[tuple[int, str, str]], bucket_ms: int) -> pa.Table:
    """``keys`` are (time ms, source, reason) per dead letter; dead letters are rare, so a Counter will do."""
    c = Counter(((t - t % bucket_ms) // 1000, src, reason) for t, src, reason in keys)
    rows = sorted(c.items())
    return pa.table(
        {
            "window_start": pa.array([k[0] for k, _ in rows], pa.int64()).cast(_TS),
            "source": pa.array([k[1] for k, _ in rows], pa.string()),
            "reason": pa.array([k[2] for k, _ in rows], pa.string()),
            "dead_letters": pa.array([v for _, v in rows], pa.uint64()),
        }
    )


def camera_health(heartbeats: pa.Table, bucket_ms: int) -> pa.Table:
    """Heartbeats per hour, camera and coarse area: ``heartbeats`` from streaming cameras, ``down_heartbeats``
    from cameras reporting ``is_streaming: false``. The ``streaming`` and ``area`` columns are optional (a heartbeat
    without them is a camera up, with no area); ``area`` is a grid cell code, never a position."""
    n = heartbeats.num_rows
    t_ms = pc.fill_null(heartbeats["seen_at"].cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    names = heartbeats.column_names
    streaming = pc.fill_null(heartbeats["streaming"], True) if "streaming" in names else pa.array(np.ones(n, bool))
    area = pc.fill_null(heartbeats["area"], "") if "area" in names else pa.array([""] * n, pa.string())
    up = np.asarray(streaming.to_numpy(zero_copy_only=False), bool)
    t = pa.table(
        {
            "window_start": bucket(t_ms, bucket_ms),
            "camera_id": heartbeats["camera_id"],
            "area": area,
            "up": pa.array(up.astype(np.uint64)),
            "down": pa.array((~up).astype(np.uint64)),
        }
    )
    keys = ["window_start", "camera_id", "area"]
    g = t.group_by(keys, use_threads=False).aggregate([("up", "sum"), ("down", "sum")])
    return pa.table(
        {
            "window_start": g["window_start"],
            "camera_id": g["camera_id"],
            "heartbeats": g["up_sum"].cast(pa.uint64()),
            "down_heartbeats": g["down_sum"].cast(pa.uint64()),
            "area": g["area"],
        }
    ).sort_by([(k, "ascending") for k in keys])


def expiry_counts(
    expired: int, t_ms: int, bucket_ms: int, store: str = "processor_state", data_class: str = "non_hit_reads"
) -> pa.Table:
    """One row counting ``expired`` records of a store and data class at ``t_ms``; no row when nothing expired."""
    return pa.table(
        {
            "window_start": bucket(np.array([t_ms], np.int64), bucket_ms),
            "store": [store],
            "data_class": [data_class],
            "expired": pa.array([expired], pa.uint64()),
        }
    ).slice(0, 1 if expired else 0)
