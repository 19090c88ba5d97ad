"""The rows an audit review reads (``streams.core.review``): audit records of a period from ``audit_log``, and every
legal-process record's latest state from ``legal_process`` when the store has that table."""

from __future__ import annotations

import pyarrow as pa

from streams.store.clickhouse import Store, table_exists
from streams.store.sql import ts_sql

__all__ = ["AUDIT_COLUMNS", "PROCESS_COLUMNS", "audit_rows", "process_rows"]

# The columns the review reads; times as ms since the epoch (Int64), as the core takes them.
AUDIT_COLUMNS = (
    "toUnixTimestamp64Milli(at) AS at_ms, action, actor, agency, role, client, reason, case_number, detail, "
    "decision, rule, rows, writer, seq"
)
_PROCESS_TIMES = ("scope_from", "scope_to", "expires_at", "registered_at", "reviewed_at", "review_due")
PROCESS_COLUMNS = (
    "process_id, version, kind, number, issuer, case_number, offence, plate_keys, cameras, centre_lat, centre_lon, "
    "radius_m, registered_by, agency, reviewed_by, "
    + ", ".join(f"toUnixTimestamp64Milli({c}) AS {c}" for c in _PROCESS_TIMES)
)


def audit_rows(store: Store, since_ms: int | None = None, until_ms: int | None = None) -> pa.Table:
    """Audit records with ``since_ms <= at < until_ms`` (either bound optional), in time order."""
    where = [f"at >= {ts_sql(since_ms)}"] if since_ms is not None else []
    where += [f"at < {ts_sql(until_ms)}"] if until_ms is not None else []
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return store.query_arrow(f"SELECT {AUDIT_COLUMNS} FROM audit_log{clause} ORDER BY at, writer, seq")


def process_rows(store: Store) -> pa.Table | None:
    """The latest state of every legal-process record; None when the store has no ``legal_process`` table (yet)."""
    if not table_exists(store, "legal_process"):
        return None
    return store.query_arrow(f"SELECT {PROCESS_COLUMNS} FROM legal_process FINAL ORDER BY process_id")
