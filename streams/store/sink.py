"""Writes a batch's aggregates to ClickHouse as Arrow tables, idempotently (one de-duplication token per table)."""

from __future__ import annotations

import pyarrow as pa

from streams.core import aggregate
from streams.model.batch import BatchResult

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


def write_plans(store, topic: str, plans: list[tuple[int, int, int]], now_ms: int) -> None:  # noqa: ANN001
    """Record ``(partition, first, last)`` pieces of ``topic`` before their aggregates are written."""
    if not plans:
        return
    part, first, last = zip(*plans, strict=True)
    table = pa.table(
        {
            "topic": pa.array([topic] * len(plans), pa.string()),
            "partition": pa.array(part, pa.uint32()),
            "first": pa.array(first, pa.uint64()),
            "last": pa.array(last, pa.uint64()),
            "planned_at": pa.array([now_ms // 1000] * len(plans), pa.timestamp("s", tz="UTC")),
        }
    )
    token = f"plan:{topic}:" + ",".join(f"{p}/{f}..{la}" for p, f, la in plans)
    store.insert_arrow("sink_plans", table, dedup_token=token)


def read_plans(store, topic: str, partition: int, from_offset: int, max_span: int) -> list[tuple[int, int]]:  # noqa: ANN001
    """The recorded pieces of one partition that end at or after ``from_offset`` (none spans over ``max_span``)."""
    if not all(isinstance(v, int) for v in (partition, from_offset, max_span)):
        raise TypeError("partition, offset and span must be integers")
    t = topic.replace("\\", "\\\\").replace("'", "\\'")
    rows = store.query_arrow(
        f"SELECT DISTINCT first, last FROM sink_plans WHERE topic = '{t}' AND partition = {partition} "
        f"AND first >= {max(0, from_offset - max_span)} AND last >= {from_offset} ORDER BY first"
    )
    return list(zip(rows["first"].to_pylist(), rows["last"].to_pylist(), strict=True))
