"""Preservation holds: place, release and list them (each change audited), and copy the live reads an active hold
covers into ``held_reads`` so the purge job can delete the originals (docs/retention.md).

A hold's row is versioned by the offset of its event on the holds topic: a worker reading the topic again after a
restart writes nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pyarrow as pa

from streams.config.retention import RetentionPolicy
from streams.model.audit import AuditEntry
from streams.model.hold import Hold
from streams.store.audit import audit
from streams.store.clickhouse import Store, count_rows
from streams.store.limits import active_holds_sql, live_sql
from streams.store.sql import sql_literal, ts_sql

__all__ = ["HOLD_COLUMNS", "list_holds", "place_hold", "preserve", "release_hold"]

HOLD_COLUMNS = (
    "hold_id, version, requested_by, case_number, reason, plate_keys, read_ids, captured_from, captured_to, "
    "expires_at, placed_at, released_at, released_by, release_reason"
)


def _hold_version(store: Store, hold_id: str) -> tuple[int, bool] | None:
    """(version, released) of a known hold, else None."""
    rows = store.query_arrow(
        f"SELECT version, released_at IS NOT NULL AS released FROM holds FINAL WHERE hold_id = {sql_literal(hold_id)}"
    ).to_pylist()
    return (int(rows[0]["version"]), bool(rows[0]["released"])) if rows else None


def place_hold(store: Store, hold: Hold, version: int) -> bool:
    """Record a hold and audit it; False (and nothing written) when this version or a later one is known, as when
    a restarted worker reads the holds topic again."""
    known = _hold_version(store, hold.hold_id)
    if known is not None and known[0] >= version:
        return False
    keys = ", ".join(f"({sql_literal(k)}, {int(h)})" for k, h in hold.plate_keys)
    ids = ", ".join(sql_literal(r) for r in hold.read_ids)
    store.command(
        f"INSERT INTO holds ({HOLD_COLUMNS}) SELECT {sql_literal(hold.hold_id)}, {int(version)}, "
        f"{sql_literal(hold.requested_by)}, {sql_literal(hold.case_number)}, {sql_literal(hold.reason)}, "
        f"CAST([{keys}], 'Array(Tuple(key_id String, plate_key UInt64))'), CAST([{ids}], 'Array(String)'), "
        f"{ts_sql(hold.captured_from_ms)}, {ts_sql(hold.captured_to_ms)}, "
        f"{ts_sql(hold.expires_at_ms)}, {ts_sql(hold.placed_at_ms)}, "
        "NULL, '', ''"
    )
    detail = {
        "hold_id": hold.hold_id,
        "plate_keys": len(hold.plate_keys),
        "read_ids": len(hold.read_ids),
        "from_ms": hold.captured_from_ms,
        "to_ms": hold.captured_to_ms,
        "expires_ms": hold.expires_at_ms,
    }
    entry = AuditEntry(
        hold.placed_at_ms, "hold_placed", hold.placed_by, hold.agency, "", "", hold.reason, hold.case_number
    )
    audit(store, replace(entry, detail=json.dumps({**detail, "requested_by": hold.requested_by}), decision="applied"))
    return True


def release_hold(store: Store, hold_id: str, released_by: str, reason: str, at_ms: int, version: int) -> bool:
    """Mark a hold released (a new version of its row) and audit it; False when no such hold is known or it was
    released already."""
    known = _hold_version(store, hold_id)
    if known is None or known[1] or known[0] >= version:
        return False
    store.command(
        f"INSERT INTO holds ({HOLD_COLUMNS}) SELECT hold_id, {int(version)}, requested_by, case_number, reason, "
        f"plate_keys, read_ids, captured_from, captured_to, expires_at, placed_at, {ts_sql(at_ms)}, "
        f"{sql_literal(released_by)}, {sql_literal(reason)} FROM holds FINAL WHERE hold_id = {sql_literal(hold_id)}"
    )
    case = store.query_arrow(f"SELECT case_number FROM holds FINAL WHERE hold_id = {sql_literal(hold_id)}")
    detail = json.dumps({"hold_id": hold_id})
    case_number = case["case_number"][0].as_py()
    audit(store, AuditEntry(at_ms, "hold_released", released_by, "", "", "", reason, case_number, detail, "applied"))
    return True


def list_holds(store: Store) -> pa.Table:
    """Every hold's latest version, with how many reads it keeps in ``held_reads``, oldest first."""
    return store.query_arrow(
        "SELECT hold_id, requested_by, case_number, reason, length(plate_keys) AS plate_keys, "
        "length(read_ids) AS read_ids, captured_from, captured_to, expires_at, placed_at, released_at, "
        "released_by, release_reason, coalesce(n, 0) AS held_reads "
        "FROM (SELECT * FROM holds FINAL) AS h "
        "LEFT JOIN (SELECT hold_id, count() AS n FROM held_reads FINAL GROUP BY hold_id) AS c "
        "ON c.hold_id = h.hold_id ORDER BY placed_at"
    )


def preserve(store: Store, policy: RetentionPolicy, now_ms: int) -> int:
    """Copy the live reads every active hold covers into ``held_reads`` (once per hold and read)."""
    before = count_rows(store, "SELECT count() AS n FROM held_reads FINAL")
    store.command(
        "INSERT INTO held_reads (hold_id, read_id, captured_at, data_class, camera_id, site_id, region, plate_key, "
        "key_id, confidence, hit, held_at) "
        "SELECT h.hold_id, r.read_id, r.captured_at, r.data_class, r.camera_id, r.site_id, r.region, r.plate_key, "
        f"r.key_id, r.confidence, r.hit, {ts_sql(now_ms)} "
        f"FROM (SELECT * FROM reads WHERE {live_sql(policy, now_ms)}) AS r "
        f"CROSS JOIN ({active_holds_sql(now_ms)}) AS h "
        "WHERE r.captured_at >= h.captured_from AND r.captured_at <= h.captured_to "
        "AND (has(h.read_ids, r.read_id) OR has(h.plate_keys, tuple(r.key_id, r.plate_key))) "
        "AND (h.hold_id, r.read_id) NOT IN (SELECT hold_id, read_id FROM held_reads)"
    )
    return count_rows(store, "SELECT count() AS n FROM held_reads FINAL") - before
