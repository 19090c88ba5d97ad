"""The purge job: delete everything past its limit from every ClickHouse table, after copying what holds cover
(and leaving the hits and verifications of held reads in place), and record the deletions (``expiry_counts`` and
``audit_log``) so they can be shown per day (docs/retention.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from streams import clock
from streams.config.retention import RetentionPolicy
from streams.model.audit import AuditEntry
from streams.store.audit import audit
from streams.store.clickhouse import Store, count_rows
from streams.store.holds import kept_by_holds_sql, preserve
from streams.store.limits import TIMED_TABLES, active_holds_sql, due_sql
from streams.store.sql import sql_literal, ts_sql

__all__ = ["PurgeResult", "purge"]


@dataclass
class PurgeResult:
    deleted: dict[tuple[str, str], int]  # (table, data class) -> rows deleted
    held: int  # reads newly copied under a hold

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def purge(store: Store, policy: RetentionPolicy, now_ms: int | None = None, bucket_ms: int = 3_600_000) -> PurgeResult:
    """Delete everything past its limit from every table, after copying what holds cover; count the deletions.

    Order matters: holds are applied first, so a read a hold covers is copied before its original is deleted.
    The deletions are counted in ``expiry_counts`` (store ``clickhouse``) and recorded in ``audit_log``.
    ``now_ms`` defaults to the wall clock.
    """
    now = clock.now_ms() if now_ms is None else now_ms
    held = preserve(store, policy, now)
    deleted: dict[tuple[str, str], int] = {}

    due = due_sql(policy, now)
    by_class = store.query_arrow(
        f"SELECT data_class, uniqExact(read_id) AS n FROM reads WHERE {due} GROUP BY data_class"
    )
    if by_class.num_rows:
        # Whole hours of expiry that have passed go as partitions (cheap); the rest of what is due by a mutation.
        whole = store.query_arrow(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() AND table = 'reads' "
            f"AND active AND toUInt64(partition_id) + 3600 <= {now // 1000}"
        )["partition_id"].to_pylist()
        for partition in whole:
            store.command(f"ALTER TABLE reads DROP PARTITION ID {sql_literal(partition)}")
        if count_rows(store, f"SELECT count() AS n FROM reads WHERE {due}"):
            _delete(store, "reads", due)
        for cls, n in zip(by_class["data_class"].to_pylist(), by_class["n"].to_pylist(), strict=True):
            deleted[("reads", cls)] = int(n)

    released = f"hold_id NOT IN (SELECT hold_id FROM ({active_holds_sql(now)}))"
    by_class = store.query_arrow(
        f"SELECT data_class, count() AS n FROM held_reads FINAL WHERE {released} GROUP BY data_class"
    )
    if by_class.num_rows:
        _delete(store, "held_reads", released)
        for cls, n in zip(by_class["data_class"].to_pylist(), by_class["n"].to_pylist(), strict=True):
            deleted[("held_reads", cls)] = int(n)
    n = count_rows(store, f"SELECT count() AS n FROM held_audit FINAL WHERE {released}")
    if n:
        _delete(store, "held_audit", released)
        deleted[("held_audit", "audit")] = n

    # A hold's own record is an audit record: kept for the audit limit after it ended.
    ended = f"coalesce(released_at, expires_at) <= {ts_sql(now - policy.limit_ms('audit'))}"
    n = count_rows(store, f"SELECT count() AS n FROM holds FINAL WHERE {ended}")
    if n:
        _delete(store, "holds", ended)
        deleted[("holds", "audit")] = n

    for table, (column, cls) in TIMED_TABLES.items():
        old = f"{column} <= {ts_sql(now - policy.limit_ms(cls))}"
        kept = kept_by_holds_sql(table, now)
        if kept:
            old = f"{old} AND NOT ({kept})"
        n = count_rows(store, f"SELECT count() AS n FROM {table} WHERE {old}")
        if n:
            _delete(store, table, old)
            deleted[(table, cls)] = n

    if deleted:
        _record_purge(store, deleted, now, bucket_ms)
    return PurgeResult(deleted, held)


def _delete(store: Store, table: str, where: str) -> None:
    # A mutation, waited for: the rows are rewritten out of their parts, not only hidden.
    store.command(f"ALTER TABLE {table} DELETE WHERE {where} SETTINGS mutations_sync = 1")


def _record_purge(store: Store, deleted: dict[tuple[str, str], int], now_ms: int, bucket_ms: int) -> None:
    """Count the deletions per data class in ``expiry_counts`` (idempotent per run) and audit the run."""
    by_class: dict[str, int] = {}
    for (_, cls), n in deleted.items():
        by_class[cls] = by_class.get(cls, 0) + n
    window = now_ms // bucket_ms * bucket_ms
    counts = pa.table(
        {
            "window_start": pa.array([window] * len(by_class), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "store": ["clickhouse"] * len(by_class),
            "data_class": list(by_class),
            "expired": pa.array(list(by_class.values()), pa.uint64()),
        }
    )
    store.insert_arrow("expiry_counts", counts, dedup_token=f"purge-{now_ms}:expiry_counts")
    detail = json.dumps({f"{t}/{c}": n for (t, c), n in sorted(deleted.items())}, separators=(",", ":"))
    rows = sum(deleted.values())
    audit(store, AuditEntry(now_ms, "purge", "platestream-purge", reason="retention policy", detail=detail, rows=rows))
