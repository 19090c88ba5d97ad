"""The audit trail in ``audit_log``: one hash-linked chain of records per writing process, and the check that finds
a record changed or missing (docs/reliability.md).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

from streams.core.audit_chain import FIELDS, broken_links, record_hash
from streams.metrics import AUDIT_RECORDS
from streams.model.audit import AuditEntry
from streams.store.clickhouse import Store
from streams.store.sql import sql_literal, ts_sql

__all__ = ["AUDIT_WRITER", "audit", "audit_chain_problems"]

# One chain per writing process: records of two processes writing to one server never race for a link.
AUDIT_WRITER = uuid.uuid4().hex[:16]


def audit(store: Store, entry: AuditEntry) -> None:
    """Append a record to the audit trail, linked to this writer's previous record by its hash. Raises StoreError
    when it cannot be written: the caller then fails what it was doing (no answer without its record)."""
    last = store.query_arrow(
        f"SELECT seq, hash FROM audit_log WHERE writer = {sql_literal(AUDIT_WRITER)} ORDER BY seq DESC LIMIT 1"
    ).to_pylist()
    seq, prev = (int(last[0]["seq"]) + 1, last[0]["hash"]) if last else (1, "")
    record = asdict(entry)
    record["rows"] = int(record["rows"])
    digest = record_hash(prev, AUDIT_WRITER, seq, record)
    columns = [c for c in FIELDS if c != "at_ms"]
    values = ", ".join(str(record[c]) if c == "rows" else sql_literal(record[c]) for c in columns)
    store.command(
        f"INSERT INTO audit_log (at, {', '.join(columns)}, writer, seq, prev_hash, hash) "
        f"SELECT {ts_sql(entry.at_ms)}, {values}, {sql_literal(AUDIT_WRITER)}, {seq}, "
        f"{sql_literal(prev)}, {sql_literal(digest)}"
    )
    AUDIT_RECORDS.labels(AUDIT_WRITER).set(seq)


def audit_chain_problems(store: Store) -> list[str]:
    """Broken links in the audit trail: records changed, or missing between the first and last of a writer."""
    rows = store.query_arrow(
        "SELECT writer, seq, prev_hash, hash, toUnixTimestamp64Milli(at) AS at_ms, "
        f"{', '.join(c for c in FIELDS if c != 'at_ms')} FROM audit_log ORDER BY writer, seq"
    ).to_pylist()
    return broken_links(rows)
