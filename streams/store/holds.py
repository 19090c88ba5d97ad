"""Preservation holds: place, release and list them (each change audited with who did it), and copy what an active
hold covers so the purge job can delete the originals (docs/retention.md): the live reads into ``held_reads``, the
audit records about the hold and its reads' hits into ``held_audit``. The hits and verifications of held reads are
not copied: the purge job and the verifier leave them in place (``kept_by_holds_sql``).

A hold's row is versioned by the offset of its event on the holds topic: a worker reading the topic again after a
restart writes nothing twice. The row goes in as Arrow (``insert_arrow``), not SQL text, so a hold naming 20,000
read ids is no longer a statement over the engine's ``max_query_size``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from streams.config.retention import RetentionPolicy
from streams.model.audit import AuditEntry
from streams.model.hold import Hold
from streams.store.audit import audit
from streams.store.clickhouse import Store, count_rows
from streams.store.limits import active_holds_sql, live_sql
from streams.store.sql import sql_literal, ts_sql

__all__ = [
    "HOLD_COLUMNS",
    "KnownHold",
    "held_reads_sql",
    "kept_by_holds_sql",
    "known_hold",
    "list_holds",
    "place_hold",
    "preserve",
    "release_hold",
]

HOLD_COLUMNS = (
    "hold_id, version, requested_by, case_number, reason, plate_keys, read_ids, captured_from, captured_to, "
    "expires_at, placed_at, released_at, released_by, release_reason, placed_by, agency, order_ref"
)
_TS = pa.timestamp("ms", tz="UTC")
_PLATE_KEYS = pa.list_(pa.struct([("key_id", pa.string()), ("plate_key", pa.uint64())]))
AUDIT_COPY_COLUMNS = (
    "writer, seq, at, action, actor, agency, role, client, reason, case_number, detail, decision, rule, rows, "
    "prev_hash, hash, signed"
)


@dataclass(frozen=True)
class KnownHold:
    """What a worker needs to know of a stored hold before it applies an event about it."""

    version: int
    released: bool
    agency: str


def known_hold(store: Store, hold_id: str) -> KnownHold | None:
    """The latest state of a stored hold, else None."""
    rows = store.query_arrow(
        "SELECT version, released_at IS NOT NULL AS released, agency FROM holds FINAL "
        f"WHERE hold_id = {sql_literal(hold_id)}"
    ).to_pylist()
    return KnownHold(int(rows[0]["version"]), bool(rows[0]["released"]), rows[0]["agency"]) if rows else None


def place_hold(store: Store, hold: Hold, version: int, role: str = "", client: str = "") -> bool:
    """Record a hold and audit it (``role``: what granted it, ``client``: the event's origin); False (and nothing
    written) when this version or a later one is known, as when a restarted worker reads the holds topic again."""
    known = known_hold(store, hold.hold_id)
    if known is not None and known.version >= version:
        return False
    row = pa.table(
        {
            "hold_id": [hold.hold_id],
            "version": pa.array([version], pa.uint64()),
            "requested_by": [hold.requested_by],
            "case_number": [hold.case_number],
            "reason": [hold.reason],
            "plate_keys": pa.array([[{"key_id": k, "plate_key": h} for k, h in hold.plate_keys]], _PLATE_KEYS),
            "read_ids": pa.array([list(hold.read_ids)], pa.list_(pa.string())),
            "captured_from": pa.array([hold.captured_from_ms], pa.int64()).cast(_TS),
            "captured_to": pa.array([hold.captured_to_ms], pa.int64()).cast(_TS),
            "expires_at": pa.array([hold.expires_at_ms], pa.int64()).cast(_TS),
            "placed_at": pa.array([hold.placed_at_ms], pa.int64()).cast(_TS),
            "released_by": [""],
            "release_reason": [""],
            "placed_by": [hold.placed_by],
            "agency": [hold.agency],
            "order_ref": [hold.order_ref],
        }
    )
    store.insert_arrow("holds", row, dedup_token=f"hold-{hold.hold_id}-{version}")
    detail = {
        "hold_id": hold.hold_id,
        "order_ref": hold.order_ref,
        "requested_by": hold.requested_by,
        "plate_keys": len(hold.plate_keys),
        "read_ids": len(hold.read_ids),
        "from_ms": hold.captured_from_ms,
        "to_ms": hold.captured_to_ms,
        "expires_ms": hold.expires_at_ms,
    }
    entry = AuditEntry(
        hold.placed_at_ms,
        "holds.place",
        hold.placed_by,
        hold.agency,
        role,
        client,
        hold.reason,
        hold.case_number,
        json.dumps(detail),
        "applied",
    )
    audit(store, entry)
    return True


def release_hold(
    store: Store,
    hold_id: str,
    released_by: str,
    reason: str,
    at_ms: int,
    version: int,
    *,
    agency: str = "",
    role: str = "",
    client: str = "",
) -> bool:
    """Mark a hold released (a new version of its row) and audit it with who released it; False when no such hold
    is known, it was released already, or this event was applied before."""
    known = known_hold(store, hold_id)
    if known is None or known.released or known.version >= version:
        return False
    store.command(
        f"INSERT INTO holds ({HOLD_COLUMNS}) SELECT hold_id, {int(version)}, requested_by, case_number, reason, "
        f"plate_keys, read_ids, captured_from, captured_to, expires_at, placed_at, {ts_sql(at_ms)}, "
        f"{sql_literal(released_by)}, {sql_literal(reason)}, placed_by, agency, order_ref "
        f"FROM holds FINAL WHERE hold_id = {sql_literal(hold_id)}"
    )
    case = store.query_arrow(f"SELECT case_number FROM holds FINAL WHERE hold_id = {sql_literal(hold_id)}")
    detail = json.dumps({"hold_id": hold_id})
    case_number = case["case_number"][0].as_py()
    audit(
        store,
        AuditEntry(at_ms, "holds.release", released_by, agency, role, client, reason, case_number, detail, "applied"),
    )
    return True


def list_holds(store: Store) -> pa.Table:
    """Every hold's latest version, with who placed it and how many reads it keeps in ``held_reads``, oldest
    first."""
    return store.query_arrow(
        "SELECT hold_id, requested_by, order_ref, case_number, reason, placed_by, agency, "
        "length(plate_keys) AS plate_keys, length(read_ids) AS read_ids, captured_from, captured_to, expires_at, "
        "placed_at, released_at, released_by, release_reason, coalesce(n, 0) AS held_reads "
        "FROM (SELECT * FROM holds FINAL) AS h "
        "LEFT JOIN (SELECT hold_id, count() AS n FROM held_reads FINAL GROUP BY hold_id) AS c "
        "ON c.hold_id = h.hold_id ORDER BY placed_at"
    )


def held_reads_sql(now_ms: int) -> str:
    """The read ids active holds keep (their copies in ``held_reads``)."""
    return f"SELECT read_id FROM held_reads WHERE hold_id IN (SELECT hold_id FROM ({active_holds_sql(now_ms)}))"


def kept_by_holds_sql(table: str, now_ms: int) -> str | None:
    """The rows of ``table`` an active hold keeps past their limit, as a condition; None when holds keep none.

    The hits of held reads, and the verifications of those hits, stay where they are (one definition, used by the
    purge job and the verifier alike)."""
    held_hits = f"SELECT hit_id FROM hits WHERE read_id IN ({held_reads_sql(now_ms)})"
    return {"hits": f"read_id IN ({held_reads_sql(now_ms)})", "verifications": f"hit_id IN ({held_hits})"}.get(table)


def preserve(store: Store, policy: RetentionPolicy, now_ms: int) -> int:
    """Copy the live reads every active hold covers into ``held_reads`` (once per hold and read), then the audit
    records about each active hold and its reads' hits into ``held_audit``. Returns the reads newly copied."""
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
    _preserve_audit(store, now_ms)
    return count_rows(store, "SELECT count() AS n FROM held_reads FINAL") - before


def _preserve_audit(store: Store, now_ms: int) -> None:
    active = f"SELECT hold_id FROM ({active_holds_sql(now_ms)})"
    about = (
        # the hold's own records (placed, and anything else naming it)
        "SELECT JSONExtractString(a.detail, 'hold_id') AS hold_id, a.writer AS writer, a.seq AS seq "
        "FROM audit_log AS a "
        f"WHERE JSONExtractString(a.detail, 'hold_id') IN ({active}) "
        "UNION ALL "
        # verifications (applied or refused) of the hits of the reads it keeps
        "SELECT k.hold_id AS hold_id, a.writer AS writer, a.seq AS seq "
        "FROM (SELECT writer, seq, JSONExtractString(detail, 'hit_id') AS hit_id FROM audit_log "
        "WHERE action = 'verify') AS a "
        "INNER JOIN (SELECT DISTINCT hr.hold_id AS hold_id, hi.hit_id AS hit_id FROM held_reads AS hr "
        f"INNER JOIN hits AS hi ON hi.read_id = hr.read_id WHERE hr.hold_id IN ({active})) AS k "
        "ON a.hit_id = k.hit_id"
    )
    store.command(
        f"INSERT INTO held_audit (hold_id, {AUDIT_COPY_COLUMNS}, held_at) "
        f"SELECT w.hold_id, {', '.join('l.' + c.strip() for c in AUDIT_COPY_COLUMNS.split(','))}, {ts_sql(now_ms)} "
        f"FROM audit_log AS l INNER JOIN ({about}) AS w ON w.writer = l.writer AND w.seq = l.seq "
        "WHERE (w.hold_id, l.writer, l.seq) NOT IN (SELECT hold_id, writer, seq FROM held_audit)"
    )
