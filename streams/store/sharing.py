"""The sharing allow-list in ``sharing``: the outside agencies that may search, with the equivalent protections each
is bound by (docs/search-and-audit.md). Changes come from an ``admin`` through the API, which audits them."""

from __future__ import annotations

from typing import Any

from streams.model.search import Partner
from streams.store.clickhouse import Store, table_exists
from streams.store.sql import sql_literal, ts_sql

__all__ = ["get_partner", "list_partners", "put_partner", "remove_partner", "shared_agencies"]

COLUMNS = "agency, version, warrant_rules, retention, added_by, added_at, removed, removed_by, removed_at"
SELECTED = (
    "agency, version, warrant_rules, retention, added_by, toUnixTimestamp64Milli(added_at) AS added_at_ms, "
    "removed, removed_by, toUnixTimestamp64Milli(removed_at) AS removed_at_ms"
)


def from_row(row: dict[str, Any]) -> Partner:
    return Partner(
        agency=row["agency"],
        warrant_rules=row["warrant_rules"],
        retention=row["retention"],
        added_by=row["added_by"],
        added_at_ms=int(row["added_at_ms"]),
        removed=bool(row["removed"]),
        removed_by=row["removed_by"],
        removed_at_ms=row["removed_at_ms"],
        version=int(row["version"]),
    )


def latest(store: Store, agency: str) -> Partner | None:
    rows = store.query_arrow(f"SELECT {SELECTED} FROM sharing FINAL WHERE agency = {sql_literal(agency)}").to_pylist()
    return from_row(rows[0]) if rows else None


def get_partner(store: Store, agency: str) -> Partner | None:
    """The agency's current entry on the allow-list; None when it is not on it (never added, or removed)."""
    found = latest(store, agency)
    return found if found is not None and not found.removed else None


def list_partners(store: Store) -> list[Partner]:
    """The agencies on the allow-list now, by name."""
    rows = store.query_arrow(f"SELECT {SELECTED} FROM sharing FINAL WHERE removed = 0 ORDER BY agency").to_pylist()
    return [from_row(r) for r in rows]


def put_partner(store: Store, agency: str, warrant_rules: str, retention: str, by: str, at_ms: int) -> Partner:
    """Add an agency to the allow-list, or change the protections it is recorded as bound by."""
    before = latest(store, agency)
    version = 1 if before is None else before.version + 1
    store.command(
        f"INSERT INTO sharing ({COLUMNS}) SELECT {sql_literal(agency)}, {version}, {sql_literal(warrant_rules)}, "
        f"{sql_literal(retention)}, {sql_literal(by)}, {ts_sql(at_ms)}, 0, '', NULL"
    )
    return Partner(agency, warrant_rules, retention, by, at_ms, version=version)


def remove_partner(store: Store, agency: str, by: str, at_ms: int) -> bool:
    """Take an agency off the allow-list (a new version, removed); False when it is not on it."""
    current = get_partner(store, agency)
    if current is None:
        return False
    store.command(
        f"INSERT INTO sharing ({COLUMNS}) SELECT agency, {current.version + 1}, warrant_rules, retention, added_by, "
        f"added_at, 1, {sql_literal(by)}, {ts_sql(at_ms)} FROM sharing FINAL WHERE agency = {sql_literal(agency)}"
    )
    return True


def shared_agencies(store: Store) -> tuple[str, ...]:
    """The outside agencies on the allow-list now (none when the store has no sharing table yet)."""
    if not table_exists(store, "sharing"):
        return ()
    return tuple(p.agency for p in list_partners(store) if not p.removed)
