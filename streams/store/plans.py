"""Sink plans in ``sink_plans``: the ``(partition, first, last)`` offset pieces a worker records before it writes
their aggregates, read back after a crash or a rebalance so a piece is cut the same way again (``worker.pieces``).
"""

from __future__ import annotations

import pyarrow as pa

from streams.store.clickhouse import Store
from streams.store.sql import sql_literal

__all__ = ["read_plans", "write_plans"]


def write_plans(store: Store, topic: str, plans: list[tuple[int, int, int]], now_ms: int) -> None:
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


def read_plans(store: Store, topic: str, partition: int, from_offset: int, max_span: int) -> list[tuple[int, int]]:
    """The recorded pieces of one partition that end at or after ``from_offset`` (none spans over ``max_span``)."""
    if not all(isinstance(v, int) for v in (partition, from_offset, max_span)):
        raise TypeError("partition, offset and span must be integers")
    rows = store.query_arrow(
        f"SELECT DISTINCT first, last FROM sink_plans WHERE topic = {sql_literal(topic)} AND partition = {partition} "
        f"AND first >= {max(0, from_offset - max_span)} AND last >= {from_offset} ORDER BY first"
    )
    return list(zip(rows["first"].to_pylist(), rows["last"].to_pylist(), strict=True))
