"""Writes a batch's aggregates to ClickHouse as Arrow tables, idempotently (one de-duplication token per table),
and the retention clock's count of what it dropped from processor state.
"""

from __future__ import annotations

import pyarrow as pa

from streams.core import aggregate
from streams.model.batch import BatchResult
from streams.store.clickhouse import Store

__all__ = ["AGGREGATE_TABLES", "write_aggregates", "write_expiry"]

AGGREGATE_TABLES = ("read_counts", "hit_counts", "dead_letter_counts", "camera_health", "expiry_counts")


def write_aggregates(store: Store, result: BatchResult, token: str) -> int:
    """Insert every non-empty aggregate of ``result``; a retry with the same ``token`` changes no count."""
    rows = 0
    for name in AGGREGATE_TABLES:
        table: pa.Table = getattr(result, name)
        if table.num_rows:
            store.insert_arrow(name, table, dedup_token=f"{token}:{name}")
            rows += table.num_rows
    return rows


def write_expiry(store: Store, expired: int, now_ms: int, bucket_ms: int, token: str) -> None:
    """Count what the retention clock (``Processor.expire``) dropped from processor state."""
    table = aggregate.expiry_counts(expired, now_ms, bucket_ms)
    if table.num_rows:
        store.insert_arrow("expiry_counts", table, dedup_token=f"{token}:expiry_counts")
