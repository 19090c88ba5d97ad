"""Cluster mode's DDL (streams.store.ddl) checked by ClickHouse's own parser, in chDB (no server, no Keeper here:
nothing is executed on a cluster), and the schema checks of a worker that does not maintain the store."""

from __future__ import annotations

import re

import pytest

from streams import resources
from streams.config.settings import Settings
from streams.errors import ConfigError, SchemaError
from streams.store.clickhouse import (
    ChdbStore,
    Store,
    migrate,
    pending_migrations,
    schema_mode,
    statements,
    table_exists,
)
from streams.store.ddl import REPLICA_PATH, on_cluster
from streams.store.schema import prepare_schema
from streams.store.sql import sql_literal
from streams.worker.worker import open_worker_store

CLUSTER = "main"
# The processes' settings name a server; prepare_schema is handed the test's store, so nothing connects to it.
SERVER = "http://127.0.0.1:9/platestream"
REPLICATED = re.compile(
    r"ENGINE = Replicated(Summing|Replacing|)MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', "
    r"'\{replica\}'(, [^)]+)?\)"
)


def pairs() -> list[tuple[str, str, str]]:
    """(file, single-node statement, the same statement for CLUSTER) of every packaged migration."""
    out = []
    for file in resources.migrations():
        text = file.read_text(encoding="utf-8")
        single, clustered = statements(text, 400, file.name), statements(text, 400, file.name, CLUSTER)
        assert len(single) == len(clustered)
        out += [(file.name, s, c) for s, c in zip(single, clustered, strict=True)]
    return out


def formatted(store: ChdbStore, sql: str) -> str:
    """The statement as ClickHouse's parser reads it (``formatQuery``: parsed, never executed)."""
    return store.query_arrow(f"SELECT formatQuery({sql_literal(sql)}) AS q")["q"][0].as_py()


def single_node(clustered: str) -> str:
    """A formatted cluster statement with what cluster mode adds taken out again."""
    out = clustered.replace(f" ON CLUSTER {CLUSTER}", "", 1)
    out = re.sub(rf"Replicated(\w*MergeTree)\('{re.escape(REPLICA_PATH)}', '\{{replica\}}'(, )?", r"\1(", out)
    out = out.replace("MergeTree()", "MergeTree")
    out = re.sub(r"\nSETTINGS replicated_deduplication_window = 0$|, replicated_deduplication_window = 0$", "", out)
    return out.replace("replicated_deduplication_window", "non_replicated_deduplication_window")


def test_every_cluster_statement_parses_and_runs_on_the_cluster(chdb_store: ChdbStore) -> None:
    creates = 0
    for name, _, clustered in pairs():
        text = formatted(chdb_store, clustered)  # raises on a syntax error
        first = text.splitlines()[0]
        if text.startswith("INSERT"):
            continue
        assert first.endswith(f" ON CLUSTER {CLUSTER}"), (name, first)
        if text.startswith("CREATE TABLE"):
            creates += 1
            assert REPLICATED.search(text), (name, text)
            assert "replicated_deduplication_window = " in text and "non_replicated" not in text, (name, text)
    assert creates >= 20


def test_the_cluster_schema_is_the_single_node_schema_replicated(chdb_store: ChdbStore) -> None:
    """Columns, keys, partitions, TTLs, views and ALTERs as ClickHouse parses them: the same in both modes, so the
    queries the pipeline, the purge and the verifiers run on the single-node schema (tests/store, tests/worker)
    find the same tables and columns on a cluster."""
    for name, single, clustered in pairs():
        assert single_node(formatted(chdb_store, clustered)) == formatted(chdb_store, single), name


def test_every_table_of_the_single_node_schema_is_replicated_in_cluster_mode(store: Store) -> None:
    migrate(store)
    where = "database = currentDatabase() AND engine LIKE '%MergeTree'"
    tables = set(store.query_arrow(f"SELECT name FROM system.tables WHERE {where}")["name"].to_pylist())
    created = {
        re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER", c).group(1) for _, _, c in pairs() if "ENGINE" in c
    }
    assert created == tables and "audit_log" in tables and "schema_migrations" in tables
    assert all("ON CLUSTER" not in s and "Replicated" not in s for _, s, _ in pairs())  # the embedded DDL as it was
    assert schema_mode(store) == "single"


def test_versioned_tables_keep_their_version_and_windows_keep_their_size() -> None:
    by_table = {
        re.match(r"\w+ \w+ IF NOT EXISTS (\w+)", c).group(1): c for _, _, c in pairs() if c.startswith("CREATE")
    }
    assert f"ReplicatedReplacingMergeTree('{REPLICA_PATH}', '{{replica}}', version)" in by_table["holds"]
    assert "ENGINE = ReplicatedMergeTree(" in by_table["audit_log"]
    assert "replicated_deduplication_window = 100000" in by_table["read_counts"]
    # No window on the single node: none on the cluster either (else identical blocks would be dropped there).
    assert by_table["held_audit"].endswith("SETTINGS replicated_deduplication_window = 0")
    assert "ENGINE" not in by_table["deletions_per_day"] and " ON CLUSTER `main` AS" in by_table["deletions_per_day"]


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE reads",
        "CREATE TABLE reads (a UInt8) ENGINE = MergeTree ORDER BY a",  # no IF NOT EXISTS
        "CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = Memory",
        "CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = AggregatingMergeTree ORDER BY a",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT 1",
        "SYSTEM STOP TTL MERGES",
    ],
)
def test_a_statement_without_a_cluster_rule_is_refused(statement: str) -> None:
    with pytest.raises(SchemaError, match="cluster mode"):
        on_cluster(statement, CLUSTER)
    with pytest.raises(SchemaError, match="^099_new.sql: cluster mode"):
        statements(statement + ";", 400, "099_new.sql", CLUSTER)


@pytest.mark.parametrize("name", ["a b", "x`; DROP TABLE reads; --", "", "-x"])
def test_a_bad_cluster_name_is_refused(clean_env: None, name: str) -> None:
    with pytest.raises(ConfigError):
        on_cluster("ALTER TABLE t ADD COLUMN c UInt8", name)
    if name:
        with pytest.raises(ValueError, match="clickhouse_cluster"):
            Settings(clickhouse_url=SERVER, clickhouse_cluster=name)


def test_cluster_mode_and_no_maintenance_need_a_server(clean_env: None) -> None:
    for values in ({"clickhouse_cluster": CLUSTER}, {"store_maintenance": False}):
        with pytest.raises(ValueError, match="need a ClickHouse server"):
            Settings(**values)


def test_a_single_node_schema_is_not_migrated_in_cluster_mode(store: Store) -> None:
    migrate(store)
    last = resources.migrations()[-1].name
    store.command(f"ALTER TABLE schema_migrations DELETE WHERE name = {sql_literal(last)} SETTINGS mutations_sync = 1")
    with pytest.raises(SchemaError, match="single-node"):
        migrate(store, cluster=CLUSTER)
    assert pending_migrations(store) == [last]  # nothing applied
    assert migrate(store) == [last]


def test_without_maintenance_a_fresh_store_is_refused_and_left_untouched(clean_env: None, store: Store) -> None:
    settings = Settings(clickhouse_url=SERVER, store_maintenance=False)
    with pytest.raises(ConfigError) as refused:
        prepare_schema(store, settings)
    message = str(refused.value)
    assert "\n" not in message and "000_schema_migrations.sql" in message and "platestream migrate" in message
    assert not table_exists(store, "schema_migrations")


def test_without_maintenance_a_migrated_store_is_used_as_it_is(clean_env: None, store: Store) -> None:
    migrate(store)
    assert prepare_schema(store, Settings(clickhouse_url=SERVER, store_maintenance=False)) == []
    with pytest.raises(SchemaError, match="single-node"):
        prepare_schema(store, Settings(clickhouse_url=SERVER, store_maintenance=False, clickhouse_cluster=CLUSTER))
    assert prepare_schema(store, Settings()) == []  # maintaining: migrate, nothing left to apply


@pytest.mark.parametrize("store", ["chdb"], indirect=True)  # the worker opens its store by path: the embedded one
def test_a_worker_without_maintenance_refuses_a_store_behind_its_migrations(clean_env: None, store: Store) -> None:
    assert isinstance(store, ChdbStore)
    # Validated as for a server, then pointed at the embedded store standing in for it.
    settings = Settings(clickhouse_url=SERVER, store_maintenance=False).model_copy(
        update={"clickhouse_url": None, "chdb_path": store.path}
    )
    with pytest.raises(ConfigError, match="not at the expected migration"):
        open_worker_store(settings)
    assert not table_exists(store, "schema_migrations")
    migrate(store)
    opened = open_worker_store(settings)
    opened.close()
