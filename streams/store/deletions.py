"""Kafka's deletions, counted in ClickHouse: samples of each topic partition's log start offset, and the
``deletions_per_day`` view that diffs them per day beside the purge job's and the processor's own counts.
"""

from __future__ import annotations

import pyarrow as pa

from streams.store.clickhouse import Store

__all__ = ["deletions_per_day", "write_log_starts"]


def write_log_starts(store: Store, samples: list[tuple[str, str, int, int]], now_ms: int) -> None:
    """Record (topic, data class, partition, log start offset) samples; the deletions view diffs them per day."""
    if not samples:
        return
    topic, cls, part, start = zip(*samples, strict=True)
    table = pa.table(
        {
            "topic": list(topic),
            "data_class": list(cls),
            "partition": pa.array(part, pa.uint32()),
            "sampled_at": pa.array([now_ms // 1000 * 1000] * len(samples), pa.int64()).cast(
                pa.timestamp("ms", tz="UTC")
            ),
            "log_start": pa.array(start, pa.uint64()),
        }
    )
    store.insert_arrow("kafka_log_starts", table, dedup_token=f"logstart-{now_ms}")


def deletions_per_day(store: Store) -> pa.Table:
    """Records deleted per day, store and data class: processor state, ClickHouse (purge job) and Kafka."""
    return store.query_arrow(
        "SELECT day, store, data_class, deleted FROM deletions_per_day ORDER BY day, store, data_class"
    )
