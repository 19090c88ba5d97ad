"""The retention limits as SQL: which rows are due, the bound every query on ``reads`` adds, the active holds, and
the other tables the purge job and the verifier keep within their limits (docs/retention.md).
"""

from __future__ import annotations

from streams.config.retention import RetentionPolicy
from streams.store.sql import ts_sql

__all__ = ["TIMED_TABLES", "active_holds_sql", "due_sql", "live_sql"]

# Personal-data tables and aggregate tables the purge job keeps within their limits: table -> (time column,
# data class). ``reads`` and ``held_reads`` have rules of their own (per row class; holds).
TIMED_TABLES = {
    "hits": ("read_time", "hits"),
    "verifications": ("decided_at", "verifications"),
    "hit_outcomes": ("recorded_at", "verifications"),
    "audit_log": ("at", "audit"),
    "read_counts": ("window_start", "aggregates"),
    "hit_counts": ("window_start", "aggregates"),
    "dead_letter_counts": ("window_start", "aggregates"),
    "camera_health": ("window_start", "aggregates"),
    "expiry_counts": ("window_start", "aggregates"),
    "kafka_log_starts": ("sampled_at", "aggregates"),
    "verification_counts": ("window_start", "aggregates"),
    "outcome_counts": ("window_start", "aggregates"),
    "request_counts": ("window_start", "aggregates"),
    "hotlist_changes": ("window_start", "aggregates"),
    "hold_changes": ("window_start", "aggregates"),
    "search_area_counts": ("window_start", "aggregates"),
}


def due_sql(policy: RetentionPolicy, now_ms: int) -> str:
    """Rows of ``reads`` past their limit: by the expiry written with them, or by the policy in force now."""
    return (
        f"(expires_at <= {ts_sql(now_ms)}"
        f" OR (data_class = 'non_hit_reads' AND captured_at <= {ts_sql(now_ms - policy.limit_ms('non_hit_reads'))})"
        f" OR (data_class = 'hit_reads' AND captured_at <= {ts_sql(now_ms - policy.limit_ms('hit_reads'))}))"
    )


def live_sql(policy: RetentionPolicy, now_ms: int) -> str:
    """The retention bound every query on ``reads`` adds: a row past its limit is never returned, even before it
    is deleted."""
    return f"NOT {due_sql(policy, now_ms)}"


def active_holds_sql(now_ms: int) -> str:
    """The holds in force at ``now_ms`` (placed, not released, not expired), with what each covers."""
    return (
        "SELECT hold_id, plate_keys, read_ids, captured_from, captured_to FROM holds FINAL "
        f"WHERE released_at IS NULL AND expires_at > {ts_sql(now_ms)}"
    )
