"""The ClickHouse part of ``retention verify``: no row of any table past its limit (plus one purge interval) unless
an active hold keeps it (a copy in ``held_reads``/``held_audit``, or a hit or verification of a held read); under
a hit-only policy no non-hit read stored at all; the audit log is signed and links up.
"""

from __future__ import annotations

from streams import clock
from streams.config.retention import RetentionPolicy
from streams.core.audit_log import verify_log
from streams.model.finding import Finding, seconds
from streams.store.audit import log_rows, verifier
from streams.store.clickhouse import Store
from streams.store.holds import kept_by_holds_sql
from streams.store.limits import TIMED_TABLES, active_holds_sql, due_sql
from streams.store.sql import ts_sql

__all__ = ["verify_store"]


def verify_store(
    store: Store, policy: RetentionPolicy, now_ms: int | None = None, grace_ms: int = 0, subject: str = ""
) -> list[Finding]:
    """Every ClickHouse table against the policy: nothing past its limit + ``grace_ms`` (one purge interval);
    ``now_ms`` defaults to the wall clock."""
    now = clock.now_ms() if now_ms is None else now_ms
    then = now - grace_ms
    where = subject or store.name

    def one(sql: str) -> dict:
        return store.query_arrow(sql).to_pylist()[0]

    out: list[Finding] = []
    late = one(
        "SELECT count() AS n, toUnixTimestamp64Milli(min(captured_at)) AS oldest FROM reads "
        f"WHERE {due_sql(policy, then)}"
    )
    total = one("SELECT count() AS n FROM reads")["n"]
    if late["n"]:
        age = seconds(now - late["oldest"])
        out.append(
            Finding("fail", "clickhouse", f"{where}/reads", f"{late['n']} read(s) past their limit; oldest {age}")
        )
    else:
        out.append(Finding("ok", "clickhouse", f"{where}/reads", f"{total} read(s), none past its limit"))
    if policy.non_hit_reads == 0:
        n = one("SELECT count() AS n FROM reads WHERE data_class = 'non_hit_reads' OR hit = 0")["n"]
        level, msg = ("fail", f"{n} non-hit read(s) stored") if n else ("ok", "no non-hit read stored")
        out.append(Finding(level, "clickhouse", f"{where}/reads", f"{msg} (policy {policy.name} keeps hits only)"))

    ended_hold = f"hold_id NOT IN (SELECT hold_id FROM ({active_holds_sql(then)}))"
    ended = one(f"SELECT count() AS n FROM held_reads FINAL WHERE {ended_hold}")["n"]
    held = one(
        "SELECT count() AS n, uniqExact(hold_id) AS holds FROM held_reads FINAL "
        f"WHERE hold_id IN (SELECT hold_id FROM ({active_holds_sql(now)}))"
    )
    if ended:
        out.append(Finding("fail", "clickhouse", f"{where}/held_reads", f"{ended} read(s) kept after their hold ended"))
    else:
        out.append(
            Finding(
                "ok", "clickhouse", f"{where}/held_reads", f"{held['n']} read(s) kept by {held['holds']} active hold(s)"
            )
        )

    ended_audit = one(f"SELECT count() AS n FROM held_audit FINAL WHERE {ended_hold}")["n"]
    if ended_audit:
        out.append(
            Finding("fail", "clickhouse", f"{where}/held_audit", f"{ended_audit} audit record(s) kept after their hold")
        )

    broken = verify_log(log_rows(store), verifier())  # checkpoints: `platestream audit verify`
    for problem in broken[:20]:
        out.append(Finding("fail", "clickhouse", f"{where}/audit_log", problem))
    if not broken:
        out.append(
            Finding(
                "ok", "clickhouse", f"{where}/audit_log", "every audit record is signed and links to the one before"
            )
        )

    checks = [(t, c, cls) for t, (c, cls) in TIMED_TABLES.items()] + [
        ("holds", "coalesce(released_at, expires_at)", "audit")
    ]
    for table, column, cls in checks:
        old = f"{column} <= {ts_sql(then - policy.limit_ms(cls))}"
        kept = kept_by_holds_sql(table, now)
        if kept:
            old = f"{old} AND NOT ({kept})"
        n = one(f"SELECT count() AS n FROM {table} WHERE {old}")["n"]
        if n:
            out.append(Finding("fail", "clickhouse", f"{where}/{table}", f"{n} row(s) older than the {cls} limit"))
        else:
            out.append(Finding("ok", "clickhouse", f"{where}/{table}", f"nothing older than the {cls} limit"))
    return out
