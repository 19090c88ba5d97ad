"""ClickHouse roles for a server deployment, applied by `platestream migrate --grants` (docs/security.md).

Each process connects as a user holding one of these roles, so a stolen credential opens only what that process
needs. The embedded store (chDB) has no users: grants apply to a server only.

- ``platestream_audit_writer``: INSERT into ``audit_log`` and nothing else (not even SELECT): a writer that can
  add records but never read, change or delete them.
- ``platestream_api``: reads the read store, hits, holds, verifications and the audit trail; writes audit records,
  legal-process records and the sharing list (each change also an audit record). Its other changes travel to the
  workers as signed control events.
- ``platestream_worker``: writes what the pipeline writes and deletes what retention requires (the purge).
- ``platestream_auditor``: reads the audit trail and the holds.
- ``platestream_reporter``: reads what a transparency report publishes: the aggregates and the holds.
"""

from __future__ import annotations

from streams.errors import StoreError
from streams.store.clickhouse import Store
from streams.store.sql import sql_literal

__all__ = ["ROLES", "apply_grants", "grant_statements"]

# The worker's tables: everything the sink stage and the purge touch.
WORKER_TABLES = (
    "read_counts",
    "hit_counts",
    "dead_letter_counts",
    "camera_health",
    "expiry_counts",
    "verifications",
    "reads",
    "held_reads",
    "held_audit",
    "holds",
    "hits",
    "kafka_log_starts",
    "sink_plans",
    "hit_outcomes",
    "verification_counts",
    "outcome_counts",
    "hotlist_changes",
    "hold_changes",
    "request_counts",  # written by the API; the worker's purge keeps its limit
    "search_area_counts",  # the same
)
# What a transparency report reads: aggregates only (no plate, no read id), and counts of holds.
REPORT_TABLES = (
    "read_counts",
    "hit_counts",
    "dead_letter_counts",
    "camera_health",
    "expiry_counts",
    "kafka_log_starts",
    "verification_counts",
    "outcome_counts",
    "request_counts",
    "search_area_counts",
    "hotlist_changes",
    "hold_changes",
    "holds",
    "sharing",  # the outside agencies with access: names and purposes, no plate
    "deletions_per_day",  # a view over expiry_counts and kafka_log_starts
)
# role -> [(privileges, table)]
ROLES: dict[str, list[tuple[str, str]]] = {
    "platestream_audit_writer": [("INSERT", "audit_log")],
    "platestream_api": [
        *[("SELECT", t) for t in ("reads", "held_reads", "hits", "holds", "verifications", "hit_outcomes")],
        ("SELECT", "audit_log"),
        ("INSERT", "audit_log"),
        ("INSERT", "request_counts"),
        ("INSERT", "search_area_counts"),
        ("SELECT, INSERT", "legal_process"),
        ("SELECT, INSERT", "sharing"),
    ],
    # The purge keeps the audit limit too (ALTER DELETE on audit_log); the chain shows a record deleted out of
    # turn (streams/core/audit_log.py).
    "platestream_worker": [
        *[("SELECT, INSERT, ALTER DELETE, ALTER UPDATE", t) for t in WORKER_TABLES],
        ("SELECT, INSERT, ALTER DELETE", "audit_log"),
        ("SELECT, INSERT", "schema_migrations"),
    ],
    "platestream_auditor": [("SELECT", t) for t in ("audit_log", "holds", "legal_process", "sharing")],
    "platestream_reporter": [("SELECT", t) for t in REPORT_TABLES],
}


def grant_statements(database: str) -> list[str]:
    """CREATE ROLE and GRANT statements for every role, on the tables of ``database``."""
    out = []
    for role, grants in ROLES.items():
        out.append(f"CREATE ROLE IF NOT EXISTS {role}")
        # Re-applying is exact: what a role held before and no longer should is revoked first.
        out.append(f"REVOKE ALL ON {database}.* FROM {role}")
        out += [f"GRANT {privileges} ON {database}.{table} TO {role}" for privileges, table in grants]
    return out


def apply_grants(store: Store) -> list[str]:
    """Create the roles and grant them on the store's database; returns the roles. Server stores only."""
    if store.name != "server":
        raise StoreError("the embedded store has no users or roles: --grants applies to a ClickHouse server")
    database = store.query_arrow("SELECT currentDatabase() AS db")["db"][0].as_py()
    if not database.replace("_", "").isalnum():
        raise StoreError(f"database name {sql_literal(database)} is not a plain identifier: grant by hand")
    for statement in grant_statements(database):
        store.command(statement)
    return list(ROLES)
