"""Writes a batch's aggregates to ClickHouse as Arrow tables, idempotently (one de-duplication token per table)."""

from __future__ import annotations

import pyarrow as pa

from streams.core import aggregate
from streams.core.pipeline import BatchResult

AGGREGATE_TABLES = ("read_counts", "hit_counts", "dead_letter_counts", "camera_health", "expiry_counts")


def write_aggregates(store, result: BatchResult, token: str) -> int:  # noqa: ANN001 - streams.store.clickhouse.Store
    """Insert every non-empty aggregate of ``result``; a retry with the same ``token`` changes no count."""
    rows = 0
    for name in AGGREGATE_TABLES:
        table: pa.Table = getattr(result, name)
        if table.num_rows:
            store.insert_arrow(name, table, dedup_token=f"{token}:{name}")
            rows += table.num_rows
    return rows


def write_expiry(store, expired: int, now_ms: int, bucket_ms: int, token: str) -> None:  # noqa: ANN001
    """Count what the retention clock (``Processor.expire``) dropped from processor state."""
    table = aggregate.expiry_counts(expired, now_ms, bucket_ms)
    if table.num_rows:
        store.insert_arrow("expiry_counts", table, dedup_token=f"{token}:expiry_counts")
