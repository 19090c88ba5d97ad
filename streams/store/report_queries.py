"""What a transparency report reads: the aggregates of one period, grouped, and nothing else (docs/transparency.md).

Only the tables the ``platestream_reporter`` role may select (``grants.REPORT_TABLES``) and the ``deletions_per_day``
view over them: never reads, hits, verifications, outcomes or the audit log, and from ``holds`` only counts (no
plate key, no read id is selected). Every function takes the period as ``[start_ms, end_ms)`` in whole hours or
days and returns plain rows (lists of dicts); the report joins the camera registry in Python.
"""

from __future__ import annotations

from typing import Any

from streams.store.clickhouse import Store

__all__ = [
    "confirmed_settled",
    "deletions",
    "heartbeats",
    "hit_rows",
    "hold_change_rows",
    "holds_in_force",
    "hotlist_change_rows",
    "outcome_rows",
    "read_rows",
    "request_rows",
    "search_area_rows",
    "verification_rows",
]

Rows = list[dict[str, Any]]


def _window(start_ms: int, end_ms: int, column: str = "window_start") -> str:
    start, end = int(start_ms) // 1000, int(end_ms) // 1000
    return f"{column} >= toDateTime({start}, 'UTC') AND {column} < toDateTime({end}, 'UTC')"


def _rows(store: Store, sql: str) -> Rows:
    return store.query_arrow(sql).to_pylist()


def _grouped(
    store: Store, table: str, keys: str, sums: str, start_ms: int, end_ms: int, where: str = "", final: bool = False
) -> Rows:
    """``sums`` per ``keys`` (``expr AS name`` allowed) of ``table``'s rows in the period, ordered by the keys."""
    names = ", ".join(k.split(" AS ")[-1].strip() for k in keys.split(","))
    return _rows(
        store,
        f"SELECT {keys}, {sums} FROM {table}{' FINAL' if final else ''} "
        f"WHERE {where + ' AND ' if where else ''}{_window(start_ms, end_ms)} GROUP BY {names} ORDER BY {names}",
    )


def read_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Reads and duplicates dropped per day and camera."""
    return _grouped(
        store, "read_counts", "toDate(window_start) AS day, camera_id",
        "toUInt64(sum(reads)) AS reads, toUInt64(sum(duplicates)) AS duplicates", start_ms, end_ms,
    )  # fmt: skip


def heartbeats(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Heartbeats per camera (a camera that sent one was active, even without reads)."""
    return _grouped(store, "camera_health", "camera_id", "toUInt64(sum(heartbeats)) AS heartbeats", start_ms, end_ms)


def hit_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Hits and alerts per day, camera, list source, reason and match kind."""
    return _grouped(
        store, "hit_counts", "toDate(window_start) AS day, camera_id, list_source, reason, match_kind",
        "toUInt64(sum(hits)) AS hits, toUInt64(sum(alerts)) AS alerts", start_ms, end_ms,
    )  # fmt: skip


def verification_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Verifications of the period's captures per camera, list, reason, match kind, disposition, delay bucket and
    whether the hit raised an alert."""
    return _grouped(
        store, "verification_counts", "camera_id, list_source, reason, match_kind, disposition, delay_bucket, alert",
        "toUInt64(sum(verifications)) AS verifications, sum(delay_seconds_sum) AS delay_seconds", start_ms, end_ms,
    )  # fmt: skip


def outcome_rows(store: Store, start_ms: int, end_ms: int, settled_before_ms: int) -> Rows:
    """Outcomes of the period's confirmed hits per camera, list, match kind and outcome; ``settled``: the hits
    captured before ``settled_before_ms`` (past the outcome deadline)."""
    return _rows(
        store,
        f"SELECT camera_id, list_source, match_kind, outcome, "
        f"window_start < toDateTime({int(settled_before_ms) // 1000}, 'UTC') AS settled, "
        f"toUInt64(sum(outcomes)) AS outcomes FROM outcome_counts WHERE {_window(start_ms, end_ms)} "
        "GROUP BY camera_id, list_source, match_kind, outcome, settled "
        "ORDER BY camera_id, list_source, match_kind, outcome",
    )


def confirmed_settled(store: Store, start_ms: int, end_ms: int, settled_before_ms: int) -> int:
    """Confirmed verifications of hits captured in the period before ``settled_before_ms``."""
    rows = _rows(
        store,
        "SELECT toUInt64(sum(verifications)) AS n FROM verification_counts WHERE disposition = 'confirmed' AND "
        f"{_window(start_ms, min(end_ms, settled_before_ms))}",
    )
    return int(rows[0]["n"] or 0) if rows else 0


def request_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Requests reaching data by agency, partner, action, kind, justification, purpose, decision and rule."""
    return _grouped(
        store, "request_counts", "agency, partner, action, kind, justification, purpose, decision, rule",
        "toUInt64(sum(requests)) AS requests", start_ms, end_ms,
    )  # fmt: skip


def search_area_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Searches allowed by the area they reached (scoped to cameras: near_scene), per area and kind."""
    return _grouped(
        store, "search_area_counts", "area, kind", "toUInt64(sum(searches)) AS searches", start_ms, end_ms,
        where="decision = 'allowed'",
    )  # fmt: skip


def hotlist_change_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Hot-list changes (each once: FINAL) by change, rule and list source."""
    return _grouped(
        store, "hotlist_changes", "change, rule, source", "toUInt64(count()) AS changes", start_ms, end_ms, final=True
    )


def hold_change_rows(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Hold changes (each once: FINAL) by agency, change and rule."""
    return _grouped(
        store, "hold_changes", "agency, change, rule", "toUInt64(count()) AS changes", start_ms, end_ms, final=True
    )


def holds_in_force(store: Store, at_ms: int) -> Rows:
    """Holds in force at ``at_ms`` per placing agency: placed before, not released and not expired by then."""
    at = f"fromUnixTimestamp64Milli(toInt64({int(at_ms)}), 'UTC')"
    return _rows(
        store,
        f"SELECT agency, toUInt64(count()) AS holds FROM holds FINAL WHERE placed_at < {at} AND expires_at > {at} "
        f"AND (released_at IS NULL OR released_at > {at}) GROUP BY agency ORDER BY agency",
    )


def deletions(store: Store, start_ms: int, end_ms: int) -> Rows:
    """Records deleted in the period per store and data class (the ``deletions_per_day`` view, summed here: the
    view's union gives ``deleted`` a variant type the engine will not sum)."""
    start, end = int(start_ms) // 1000, int(end_ms) // 1000
    days = _rows(
        store,
        "SELECT store, data_class, deleted FROM deletions_per_day "
        f"WHERE day >= toDate(toDateTime({start}, 'UTC')) AND day < toDate(toDateTime({end}, 'UTC'))",
    )
    totals: dict[tuple[str, str], int] = {}
    for row in days:
        key = (row["store"], row["data_class"])
        totals[key] = totals.get(key, 0) + int(row["deleted"] or 0)
    return [{"store": s, "data_class": c, "deleted": n} for (s, c), n in sorted(totals.items())]
