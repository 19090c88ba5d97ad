"""Contract of the ClickHouse store: the same behaviour on embedded chDB and on a server (when configured)."""

from __future__ import annotations

import datetime as dt
import importlib.resources
from pathlib import Path

import pyarrow as pa
import pytest

from streams import clock
from streams.errors import ConfigError, SchemaError, StoreError
from streams.store.clickhouse import UNMERGED_ON_INSERT, ChdbStore, Store, count_rows, migrate, open_store, statements
from streams.store.plans import read_plans, write_plans
from streams.store.sql import sql_literal

AGGREGATES = {"read_counts", "hit_counts", "dead_letter_counts", "camera_health", "expiry_counts"}
UTC_S = pa.timestamp("s", tz="UTC")


def _minute(days_ago: int = 0) -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(days=days_ago)


def _reads(windows: list[dt.datetime], cameras: list[str], reads: list[int]) -> pa.Table:
    """A read_counts batch with its columns deliberately out of table order."""
    return pa.table(
        {
            "reads": pa.array(reads, pa.uint64()),
            "site_id": ["site-1"] * len(reads),
            "duplicates": pa.array([1] * len(reads), pa.uint64()),
            "camera_id": cameras,
            "window_start": pa.array(windows, UTC_S),
        }
    )


def _totals(store: Store) -> dict[str, int]:
    t = store.query_arrow(
        "SELECT camera_id, toUInt64(sum(reads)) AS reads FROM read_counts GROUP BY camera_id ORDER BY camera_id"
    )
    return dict(zip(t["camera_id"].to_pylist(), t["reads"].to_pylist(), strict=True))


def _tables(store: Store) -> set[str]:
    t = store.query_arrow("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return set(t["name"].to_pylist())


def test_migrate_creates_every_table_once(store: Store) -> None:
    folder = importlib.resources.files("streams.resources") / "schemas" / "clickhouse"
    files = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))

    assert migrate(store, aggregate_ttl_days=1) == files
    assert _tables(store) >= AGGREGATES | {"schema_migrations"}
    assert migrate(store, aggregate_ttl_days=1) == []
    recorded = store.query_arrow("SELECT name FROM schema_migrations ORDER BY name")["name"].to_pylist()
    assert recorded == files


def test_every_aggregate_table_has_the_configured_ttl(store: Store) -> None:
    migrate(store, aggregate_ttl_days=7)
    t = store.query_arrow(
        "SELECT name, engine, create_table_query FROM system.tables WHERE database = currentDatabase()"
    )
    ddl = {r["name"]: r for r in t.to_pylist()}
    for name in AGGREGATES:
        assert ddl[name]["engine"] == "SummingMergeTree", name
        assert "TTL window_start + toIntervalDay(7)" in ddl[name]["create_table_query"], name
        assert "non_replicated_deduplication_window = 100000" in ddl[name]["create_table_query"], name


def test_insert_matches_columns_by_name(store: Store) -> None:
    migrate(store, aggregate_ttl_days=1)
    window = _minute()
    store.insert_arrow("read_counts", _reads([window, window], ["cam-a", "cam-b"], [5, 7]))

    t = store.query_arrow(
        "SELECT toUnixTimestamp(window_start) AS w, camera_id, site_id, reads, duplicates "
        "FROM read_counts ORDER BY camera_id"
    )
    w = int(window.timestamp())
    assert t.to_pylist() == [
        {"w": w, "camera_id": "cam-a", "site_id": "site-1", "reads": 5, "duplicates": 1},
        {"w": w, "camera_id": "cam-b", "site_id": "site-1", "reads": 7, "duplicates": 1},
    ]


def test_same_dedup_token_counts_once_and_other_tokens_add_up(store: Store) -> None:
    migrate(store, aggregate_ttl_days=1)
    batch = _reads([_minute()], ["cam-a"], [5])

    store.insert_arrow("read_counts", batch, dedup_token="topic-0:100-199")
    store.insert_arrow("read_counts", batch, dedup_token="topic-0:100-199")  # a retry
    assert _totals(store) == {"cam-a": 5}

    store.insert_arrow("read_counts", batch, dedup_token="topic-0:200-299")
    assert _totals(store) == {"cam-a": 10}

    # Without a token identical batches are distinct writes (two workers may emit the same partial count).
    store.insert_arrow("read_counts", batch)
    store.insert_arrow("read_counts", batch)
    assert _totals(store) == {"cam-a": 20}

    store.command("OPTIMIZE TABLE read_counts FINAL")
    rows = store.query_arrow("SELECT camera_id, reads, duplicates FROM read_counts").to_pylist()
    assert rows == [{"camera_id": "cam-a", "reads": 20, "duplicates": 4}]


def test_per_batch_tables_skip_the_merge_on_insert_and_keep_their_sums(store: Store) -> None:
    """``UNMERGED_ON_INSERT``: a block is stored as given (two rows of one key stay two rows until a merge), and
    the sums the reports read are the same; a table not in the set still folds its block on insert."""
    migrate(store, aggregate_ttl_days=1)
    assert "read_counts" in UNMERGED_ON_INSERT and "hold_changes" not in UNMERGED_ON_INSERT
    store.insert_arrow("read_counts", _reads([_minute(), _minute()], ["cam-a", "cam-a"], [2, 3]), dedup_token="t1")
    assert count_rows(store, "SELECT count() AS n FROM read_counts") == 2
    assert _totals(store) == {"cam-a": 5}
    store.command("OPTIMIZE TABLE read_counts FINAL")
    assert count_rows(store, "SELECT count() AS n FROM read_counts") == 1
    assert _totals(store) == {"cam-a": 5}


def test_token_with_quotes_is_accepted(store: Store) -> None:
    migrate(store, aggregate_ttl_days=1)
    batch = _reads([_minute()], ["cam-a"], [3])
    for _ in range(2):
        store.insert_arrow("read_counts", batch, dedup_token="it's \\ odd")
    assert _totals(store) == {"cam-a": 3}


def test_sql_literal_round_trips_quotes_and_backslashes(store: Store) -> None:
    tricky = ["", "plain", "it's", "back\\slash", "\\'", "'; DROP TABLE x; --", "tab\tnew\nline", "ünïcode"]
    for value in tricky:
        assert store.query_arrow(f"SELECT {sql_literal(value)} AS v")["v"][0].as_py() == value
    migrate(store)
    topic = "reads'\\x"
    # planned now: sink_plans keeps rows for 7 days (TTL), an older time could be merged away mid-test
    write_plans(store, topic, [(0, 1, 5), (0, 6, 9), (1, 3, 4)], clock.now_ms())
    assert read_plans(store, topic, 0, 5, 100) == [(1, 5), (6, 9)]
    assert read_plans(store, "reads", 0, 5, 100) == []


def test_empty_batch_is_a_no_op(store: Store) -> None:
    migrate(store, aggregate_ttl_days=1)
    store.insert_arrow("read_counts", _reads([], [], []))
    assert _totals(store) == {}


def test_engine_errors_raise_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="SELEC nonsense"):
        store.query_arrow("SELEC nonsense\nFROM nowhere")
    with pytest.raises(StoreError, match="no_such_table"):
        store.command("SELECT * FROM no_such_table")
    with pytest.raises(StoreError):
        store.insert_arrow("no_such_table", _reads([_minute()], ["cam-a"], [1]))


def test_unsafe_names_are_refused_before_any_sql(store: Store) -> None:
    migrate(store, aggregate_ttl_days=1)
    with pytest.raises(StoreError, match="table name"):
        store.insert_arrow("read_counts; DROP TABLE x", _reads([_minute()], ["cam-a"], [1]))
    with pytest.raises(StoreError, match="identifiers"):
        store.insert_arrow("read_counts", pa.table({"reads`": pa.array([1], pa.uint64())}))


def test_ttl_deletes_expired_rows_and_keeps_recent_ones(store: Store) -> None:
    migrate(store, aggregate_ttl_days=1)
    old_and_new = _reads([_minute(days_ago=30), _minute()], ["cam-old", "cam-new"], [1, 2])
    store.insert_arrow("read_counts", old_and_new)
    store.insert_arrow("read_counts", _reads([dt.datetime(2020, 1, 1, tzinfo=dt.UTC)], ["cam-2020"], [3]))

    store.command("OPTIMIZE TABLE read_counts FINAL")
    assert _totals(store) == {"cam-new": 2}


def test_rows_within_ttl_survive_merges(store: Store) -> None:
    migrate(store, aggregate_ttl_days=400)
    old_and_new = _reads([_minute(days_ago=30), _minute()], ["cam-old", "cam-new"], [1, 2])
    store.insert_arrow("read_counts", old_and_new)

    store.command("OPTIMIZE TABLE read_counts FINAL")
    assert _totals(store) == {"cam-new": 2, "cam-old": 1}


def test_statements_split_on_line_end_semicolons_only() -> None:
    text = (
        "-- a comment ending in ;\n"
        "CREATE TABLE a (x String DEFAULT ';') ENGINE = Memory;\n\n"
        "SELECT {aggregate_ttl_days};\n"
    )
    assert statements(text, 9) == ["CREATE TABLE a (x String DEFAULT ';') ENGINE = Memory", "SELECT 9"]
    with pytest.raises(SchemaError, match="unknown placeholder"):
        statements("SELECT {retention};", 9)


@pytest.mark.parametrize("days", [0, -1, True, 1.5, "30"])
def test_migrate_refuses_a_bad_ttl(chdb_store: ChdbStore, days: object) -> None:
    with pytest.raises(ConfigError):
        migrate(chdb_store, aggregate_ttl_days=days)  # type: ignore[arg-type]


def test_chdb_same_path_shares_the_session(chdb_store: ChdbStore) -> None:
    second = open_store(None, chdb_store.path)
    assert second.query_arrow("SELECT 41 + 1 AS n")["n"].to_pylist() == [42]
    second.close()
    # Closing one store must not close the session the other still uses.
    assert chdb_store.query_arrow("SELECT 1 AS n")["n"].to_pylist() == [1]
    with pytest.raises(StoreError, match="closed"):
        second.command("SELECT 1")


def test_chdb_refuses_a_second_path_in_one_process(chdb_store: ChdbStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="one path per process"):
        open_store(None, tmp_path / "other")
    assert chdb_store.query_arrow("SELECT 1 AS n")["n"].to_pylist() == [1]
