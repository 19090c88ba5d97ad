"""The writers of the report's aggregates (migration 013, docs/aggregates.md) that are counted where their event
happens rather than in the core: dispositions and outcomes (the worker that applies them), requests to the API (the
API, as it audits them) and hold changes (every worker that follows the holds topic). No plate, no read id.

Each stays idempotent its own way:
- ``verification_counts`` / ``outcome_counts``: one insert per counted hit, de-duplicated by the hit's id, so the
  first disposition (outcome) of a hit counts once however often and however batched its events are read again;
- ``request_counts``: one insert per request, de-duplicated by the request's audit id;
- ``hold_changes``: ReplacingMergeTree by a ``change_id`` made from the event's origin (topic/partition/offset), the
  same on every worker and on every re-read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from streams.core.report_counts import delay_bucket
from streams.ingest.control import ControlGate, Rejection
from streams.ingest.holds import HoldEvent
from streams.ingest.hotlist_changes import HotlistChange
from streams.ingest.verifications import Verification
from streams.store.clickhouse import Store
from streams.store.hits import HitFacts, hit_facts
from streams.store.holds import known_hold
from streams.store.sql import sql_literal, ts_sql

__all__ = [
    "FIRST_OF",
    "HoldChange",
    "RequestCount",
    "applied_hold_change",
    "count_verifications",
    "expired_hold_changes",
    "refused_hold_changes",
    "write_hold_changes",
    "write_hotlist_changes",
    "write_request_count",
]

_TS = pa.timestamp("s", tz="UTC")
# Per counted table: the stored table whose earliest row per hit is the one that counts, and its columns
# (time, who, word) in the order that decides "earliest".
FIRST_OF = {
    "verification_counts": ("verifications", "decided_at", "operator", "disposition"),
    "outcome_counts": ("hit_outcomes", "recorded_at", "recorded_by", "outcome"),
}


def _window(t_ms: int, bucket_ms: int) -> int:
    """Start of ``t_ms``'s bucket, in seconds."""
    return (t_ms - t_ms % bucket_ms) // 1000


def _firsts(store: Store, table: str, hit_ids: list[str]) -> dict[str, tuple[int, str, str]]:
    """Per hit, the (time ms, who, word) of its earliest stored row in ``FIRST_OF[table]``'s table."""
    source, at, by, word = FIRST_OF[table]
    rows = store.query_arrow(
        f"SELECT hit_id, toUnixTimestamp64Milli({at}) AS at_ms, {by} AS by, {word} AS word FROM {source} "
        "WHERE hit_id IN (" + ", ".join(sql_literal(h) for h in hit_ids) + ") "
        "ORDER BY hit_id, at_ms, by, word LIMIT 1 BY hit_id"
    ).to_pylist()
    return {r["hit_id"]: (int(r["at_ms"]), r["by"], r["word"]) for r in rows}


def _count_row(table: str, v: Verification, hit: HitFacts, bucket_ms: int) -> pa.Table:
    keys = {
        "window_start": pa.array([_window(hit.read_ms, bucket_ms)], pa.int64()).cast(_TS),
        "camera_id": [hit.camera_id],
        "list_source": [hit.list_source],
        "reason": [hit.reason],
        "match_kind": [hit.match_kind],
    }
    if table == "outcome_counts":
        return pa.table({**keys, "outcome": [v.word], "outcomes": pa.array([1], pa.uint64())})
    delay_s = max(0.0, (v.at_ms - hit.read_ms) / 1000)
    return pa.table(
        {
            **keys,
            "disposition": [v.word],
            "delay_bucket": [delay_bucket(delay_s)],
            "verifications": pa.array([1], pa.uint64()),
            "delay_seconds_sum": pa.array([delay_s], pa.float64()),
            "alert": pa.array([int(hit.alert)], pa.uint8()),
        }
    )


def count_verifications(store: Store, written: Sequence[Verification], bucket_ms: int) -> int:
    """Count the dispositions and outcomes just written (``written``: in the store already) in verification_counts
    and outcome_counts, by the hit as the store has it. Returns the hits counted.

    One disposition and one outcome count per hit: its first, the earliest stored by its ``at`` (then who, then
    the word). A correction or a second outcome stays in ``verifications`` / ``hit_outcomes`` but counts nothing:
    it is not the earliest. Each count is its own insert, de-duplicated by the hit's id: an event read again, in
    any batch, writes the same count again and the engine drops it; so does a first decision stamped earlier than
    one already counted (two API clocks apart), where both would look first."""
    hits = hit_facts(store, sorted({v.hit_id for v in written}))
    counted = 0
    for table, kind in (("verification_counts", "verify"), ("outcome_counts", "outcomes.record")):
        events = [v for v in written if v.kind == kind and v.hit_id in hits]
        if not events:
            continue
        firsts = _firsts(store, table, sorted({v.hit_id for v in events}))
        done: set[str] = set()
        for v in events:
            if v.hit_id in done or firsts.get(v.hit_id) != (v.at_ms, v.who.actor, v.word):
                continue
            row = _count_row(table, v, hits[v.hit_id], bucket_ms)
            store.insert_arrow(table, row, dedup_token=f"{table}:{v.hit_id}")
            done.add(v.hit_id)
        counted += len(done)
    return counted


@dataclass(frozen=True)
class RequestCount:
    """One audited API request, as request_counts counts it (see migration 013 for each column)."""

    at_ms: int
    agency: str
    partner: bool
    action: str
    kind: str
    justification: str
    purpose: str
    decision: str
    rule: str


def write_request_count(
    store: Store, request: RequestCount, audit_id: str, bucket_ms: int, areas: Sequence[str] = ()
) -> None:
    """Count one request, and for a search scoped to cameras each area it reaches (``search_area_counts``);
    ``audit_id`` (the request's audit id) de-duplicates a retried insert."""
    if areas:
        rows = pa.table(
            {
                "window_start": pa.array([_window(request.at_ms, bucket_ms)] * len(areas), pa.int64()).cast(_TS),
                "area": list(areas),
                "kind": [request.kind] * len(areas),
                "decision": [request.decision] * len(areas),
                "searches": pa.array([1] * len(areas), pa.uint64()),
            }
        )
        store.insert_arrow("search_area_counts", rows, dedup_token=f"search_area_counts:{audit_id}")
    row = pa.table(
        {
            "window_start": pa.array([_window(request.at_ms, bucket_ms)], pa.int64()).cast(_TS),
            "agency": [request.agency],
            "partner": pa.array([int(request.partner)], pa.uint8()),
            "action": [request.action],
            "kind": [request.kind],
            "justification": [request.justification],
            "purpose": [request.purpose],
            "decision": [request.decision],
            "rule": [request.rule],
            "requests": pa.array([1], pa.uint64()),
        }
    )
    store.insert_arrow("request_counts", row, dedup_token=f"request_counts:{audit_id}")


@dataclass(frozen=True)
class HoldChange:
    """One row of hold_changes: ``change`` is placed, refused, released or expired."""

    change_id: str
    at_ms: int
    agency: str
    change: str
    rule: str = ""


def _event_time(gate: ControlGate, r: Rejection) -> int | None:
    """The ``at`` of a refused event's authentic envelope; None when it has none (forged, unsigned, malformed)."""
    opened = gate.open(r.dead.original, r.dead.origin)
    if isinstance(opened, Rejection):
        return None
    at = opened[0].get("at")
    return at if isinstance(at, int) and not isinstance(at, bool) and 0 <= at <= 2**62 else None


def applied_hold_change(store: Store, e: HoldEvent) -> list[HoldChange]:
    """The change an applied (not refused) hold event made, read back from the store right after it: the event placed
    or released the hold when the hold's latest version is the event's (``offset + 1``), as after its first
    application and after a re-read when nothing changed the hold since. A re-read event whose hold moved on since
    was counted when it was first applied: nothing."""
    known = known_hold(store, e.event.hold_id)
    if known is None or known.version != e.offset + 1:
        return []
    change = "placed" if e.event.op == "place" else "released"
    return [HoldChange(f"{e.origin}:{change}", e.event.at, known.agency, change)]


def refused_hold_changes(rejected: Sequence[Rejection], gate: ControlGate) -> list[HoldChange]:
    """The refused hold events whose envelope is authentic and says when (``at``), by the principal's agency and the
    rule. Forged and unsigned events are no one's hold change: they count as dead letters only."""
    out = []
    for r in rejected:
        at = _event_time(gate, r)
        if at is not None and r.principal is not None:
            rule = r.rule or r.dead.reason
            out.append(HoldChange(f"{r.dead.origin}:refused", at, r.principal.agency, "refused", rule))
    return out


def expired_hold_changes(store: Store, now_ms: int) -> list[HoldChange]:
    """Holds that ran to their expiry by ``now_ms`` without being released before it, not yet counted."""
    rows = store.query_arrow(
        "SELECT hold_id, agency, toUnixTimestamp64Milli(expires_at) AS at_ms FROM holds FINAL "
        f"WHERE expires_at <= {ts_sql(now_ms)} AND (released_at IS NULL OR released_at > expires_at) "
        "AND concat('hold:', hold_id, ':expired') NOT IN "
        "(SELECT change_id FROM hold_changes WHERE change = 'expired')"
    ).to_pylist()
    return [HoldChange(f"hold:{r['hold_id']}:expired", int(r["at_ms"]), r["agency"], "expired") for r in rows]


def write_hold_changes(store: Store, changes: Sequence[HoldChange], bucket_ms: int) -> int:
    """Insert hold changes (a change written again is the same row: count with FINAL)."""
    return _write_changes(store, "hold_changes", changes, bucket_ms, ("agency", "change", "rule"))


def write_hotlist_changes(store: Store, changes: Sequence[HotlistChange], bucket_ms: int) -> int:
    """Insert hot-list changes (a change written again, by this worker or another, is the same row: count with
    FINAL)."""
    return _write_changes(store, "hotlist_changes", changes, bucket_ms, ("source", "reason", "change", "rule"))


def _write_changes(
    store: Store, table: str, changes: Sequence[HoldChange] | Sequence[HotlistChange], bucket_ms: int,
    fields: tuple[str, ...],
) -> int:  # fmt: skip
    """A *_changes table's rows: its change id, the hour of the change, ``fields``; one token per set of ids."""
    if not changes:
        return 0
    ids = sorted(c.change_id for c in changes)
    token = f"{table}:" + hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:32]
    rows = pa.table(
        {
            "change_id": [c.change_id for c in changes],
            "window_start": pa.array([_window(c.at_ms, bucket_ms) for c in changes], pa.int64()).cast(_TS),
            **{f: [getattr(c, f) for c in changes] for f in fields},
        }
    )
    store.insert_arrow(table, rows, dedup_token=token)
    return rows.num_rows
