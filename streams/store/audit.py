"""The audit trail in ``audit_log``: one hash-linked chain of records per writing process, and the check that finds
a record changed or missing (docs/reliability.md).
"""

from __future__ import annotations

import uuid

from streams.core.audit_chain import broken_links, record_hash
from streams.metrics import AUDIT_RECORDS
from streams.store.clickhouse import Store
from streams.store.sql import sql_literal, ts_sql

__all__ = ["AUDIT_WRITER", "audit", "audit_chain_problems"]

# One chain per writing process: records of two processes writing to one server never race for a link.
AUDIT_WRITER = uuid.uuid4().hex[:16]


def audit(
    store: Store, action: str, actor: str, reason: str, case_number: str, detail: str, rows: int, at_ms: int
) -> None:
    """Append a record to the audit trail, linked to this writer's previous record by its hash."""
    last = store.query_arrow(
        f"SELECT seq, hash FROM audit_log WHERE writer = {sql_literal(AUDIT_WRITER)} ORDER BY seq DESC LIMIT 1"
    ).to_pylist()
    seq, prev = (int(last[0]["seq"]) + 1, last[0]["hash"]) if last else (1, "")
    record = {
        "at_ms": int(at_ms),
        "action": action,
        "actor": actor,
        "reason": reason,
        "case_number": case_number,
        "detail": detail,
        "rows": int(rows),
    }
    digest = record_hash(prev, AUDIT_WRITER, seq, record)
    store.command(
        "INSERT INTO audit_log (at, action, actor, reason, case_number, detail, rows, writer, seq, prev_hash, hash) "
        f"SELECT {ts_sql(at_ms)}, {sql_literal(action)}, {sql_literal(actor)}, {sql_literal(reason)}, "
        f"{sql_literal(case_number)}, {sql_literal(detail)}, {int(rows)}, {sql_literal(AUDIT_WRITER)}, {seq}, "
        f"{sql_literal(prev)}, {sql_literal(digest)}"
    )
    AUDIT_RECORDS.labels(AUDIT_WRITER).set(seq)


def audit_chain_problems(store: Store) -> list[str]:
    """Broken links in the audit trail: records changed, or missing between the first and last of a writer."""
    rows = store.query_arrow(
        "SELECT writer, seq, prev_hash, hash, toUnixTimestamp64Milli(at) AS at_ms, action, actor, reason, "
        "case_number, detail, rows FROM audit_log ORDER BY writer, seq"
    ).to_pylist()
    return broken_links(rows)
