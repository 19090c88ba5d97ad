"""The ClickHouse roles of docs/security.md: what each may do, and that ClickHouse's own parser takes every
statement (chDB parses GRANTs; it has no users, so applying them is a server's job and refused here)."""

from __future__ import annotations

import re

import pytest

from streams import resources
from streams.errors import StoreError
from streams.store.clickhouse import ChdbStore
from streams.store.grants import ROLES, WORKER_TABLES, apply_grants, grant_statements

TABLES = {
    m.group(1)
    for f in resources.migrations()
    for m in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+)", f.read_text(encoding="utf-8"))
}
VIEWS = {
    m.group(1)
    for f in resources.migrations()
    for m in re.finditer(r"CREATE VIEW IF NOT EXISTS (\w+)", f.read_text(encoding="utf-8"))
}


def privileges(role: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for privs, table in ROLES[role]:
        out.setdefault(table, set()).update(p.strip() for p in privs.split(","))
    return out


def test_the_audit_writer_may_only_insert_into_the_audit_table() -> None:
    assert privileges("platestream_audit_writer") == {"audit_log": {"INSERT"}}


def test_the_api_writes_only_audit_legal_process_sharing_and_its_request_counts() -> None:
    api = privileges("platestream_api")
    writes = {"audit_log", "legal_process", "sharing", "request_counts", "search_area_counts"}
    assert {t for t, p in api.items() if p - {"SELECT"}} == writes
    assert api["request_counts"] == api["search_area_counts"] == {"INSERT"}
    assert api["audit_log"] == {"SELECT", "INSERT"}
    assert not any("ALTER" in p for ps in api.values() for p in ps)


def test_every_table_has_an_owner_and_no_role_names_a_table_that_does_not_exist() -> None:
    named = {table for grants in ROLES.values() for _, table in grants}
    assert named <= TABLES | VIEWS
    assert TABLES <= set(WORKER_TABLES) | {"audit_log", "schema_migrations", "legal_process", "sharing"}


def test_the_reporter_reads_aggregates_only() -> None:
    reporter = privileges("platestream_reporter")
    assert reporter and all(p == {"SELECT"} for p in reporter.values())
    assert not {"reads", "held_reads", "hits", "verifications", "hit_outcomes", "audit_log"} & set(reporter)


def test_clickhouse_parses_every_grant_statement(chdb_store: ChdbStore) -> None:
    statements = grant_statements("platestream")
    assert len(statements) == sum(2 + len(g) for g in ROLES.values())
    for statement in statements:
        chdb_store.query_arrow(f"EXPLAIN AST {statement}")  # raises StoreError on a syntax error


def test_a_typo_would_be_caught_by_the_parser(chdb_store: ChdbStore) -> None:
    with pytest.raises(StoreError):
        chdb_store.query_arrow("EXPLAIN AST GRANT SELEC ON platestream.reads TO platestream_api")


def test_grants_on_the_embedded_store_are_refused_in_one_sentence(chdb_store: ChdbStore) -> None:
    with pytest.raises(StoreError, match="applies to a ClickHouse server"):
        apply_grants(chdb_store)
