"""Legal-process records, the sharing allow-list and the search kinds on the real engine: versions round-trip,
a removed partner is gone from the list, and a search whose audit record cannot be written returns nothing.

Times are explicit; expected rows come from the test's own table of reads."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from streams.config.retention import RetentionPolicy
from streams.core.normalise import encode_plates, normalise_plates
from streams.core.pseudonym import PlateKeys
from streams.errors import StoreError
from streams.model.audit import AuditEntry
from streams.model.batch import STORED_READ_SCHEMA
from streams.model.search import Area, KindSearch, ProcessRecord, SearchDenied
from streams.store.clickhouse import Store, count_rows, migrate
from streams.store.process import get_process, list_processes, register_process, review_process
from streams.store.reads import write_reads
from streams.store.search import plate_pseudonyms, reads_search
from streams.store.sharing import get_partner, list_partners, put_partner, remove_partner

T0 = (int(time.time()) + 3600) * 1000  # ahead of the wall clock, as in test_read_store (TTL on insert)
POLICY = RetentionPolicy(name="t", source="t", non_hit_reads=600, hit_reads=600, hits=600, verifications=600,
                         aggregates=10**7, audit=10**7)  # fmt: skip
KEYS = PlateKeys.parse("k1:000102030405060708090a0b0c0d0e0f")
WHO = AuditEntry(0, "search", "ivy@metro-pd", "metro-pd", "investigator", "127.0.0.1", "why", "CR-1", "{}")


@pytest.fixture
def migrated(store: Store) -> Iterator[Store]:
    migrate(store)
    codes, ok = encode_plates(normalise_plates(pa.array(["7ABC123", "7ABC123", "8XYZ999"])))
    assert ok.all()
    stored = pa.table(
        {
            "read_id": ["r1", "r2", "r3"],
            "captured_at": pa.array([T0 - 5000, T0 - 4000, T0 - 3000], pa.timestamp("ms", tz="UTC")),
            "camera_id": ["cam-a", "cam-b", "cam-a"],
            "site_id": ["s"] * 3,
            "region": ["CA"] * 3,
            "plate_code": pa.array(codes, pa.uint64()),
            "confidence": pa.array([90.0] * 3, pa.float32()),
            "hit": [False] * 3,
        },
        schema=STORED_READ_SCHEMA,
    )
    write_reads(store, stored, KEYS, POLICY, "t")
    yield store


def record(**more: object) -> ProcessRecord:
    base = dict(process_id="lp-000000000001", kind="emergency", number="E-1", issuer="Chief", case_number="CR-1",
                offence="kidnapping", plate_keys=frozenset(plate_pseudonyms(["7ABC123"], KEYS)), cameras=("cam-a",),
                area=Area(37.7, -122.4, 250.0), scope_from_ms=T0 - 60_000, scope_to_ms=T0, expires_at_ms=T0 + 60_000,
                registered_by="sup-a@metro-pd", agency="metro-pd", registered_at_ms=T0 - 1000,
                review_due_ms=T0 + 3_600_000)  # fmt: skip
    return ProcessRecord(**{**base, **more})  # type: ignore[arg-type]


def test_process_records_round_trip_and_review_adds_a_version(migrated: Store) -> None:
    r = record()
    register_process(migrated, r)
    register_process(migrated, record(process_id="lp-000000000002", agency="county-so", area=None, cameras=()))
    assert get_process(migrated, r.process_id) == r
    reviewed = review_process(migrated, r, "sup-b@metro-pd", T0)
    assert get_process(migrated, r.process_id) == reviewed
    assert (reviewed.version, reviewed.reviewed_by, reviewed.reviewed_at_ms) == (2, "sup-b@metro-pd", T0)
    assert [x.process_id for x in list_processes(migrated, "metro-pd")] == [r.process_id]
    assert get_process(migrated, "lp-ffffffffffff") is None
    assert count_rows(migrated, "SELECT count() AS n FROM legal_process WHERE position(number, '7ABC') > 0") == 0


def test_sharing_partners_added_changed_removed(migrated: Store) -> None:
    assert get_partner(migrated, "state-patrol") is None
    put_partner(migrated, "state-patrol", "warrants", "30 days", "adm@metro-pd", T0)
    changed = put_partner(migrated, "state-patrol", "warrants", "14 days", "adm@metro-pd", T0 + 1)
    assert changed.version == 2 and get_partner(migrated, "state-patrol") == changed
    assert [p.retention for p in list_partners(migrated)] == ["14 days"]
    assert remove_partner(migrated, "state-patrol", "adm@metro-pd", T0 + 2)
    assert not remove_partner(migrated, "state-patrol", "adm@metro-pd", T0 + 3)
    assert get_partner(migrated, "state-patrol") is None and list_partners(migrated) == []
    put_partner(migrated, "state-patrol", "warrants", "7 days", "adm@metro-pd", T0 + 4)  # back on the list
    assert [p.retention for p in list_partners(migrated)] == ["7 days"]


def plate_search(max_results: int = 10) -> KindSearch:
    plate = frozenset(plate_pseudonyms(["7ABC123"], KEYS))
    return KindSearch("plate_history", "lp-000000000001", plates=(plate,), from_ms=T0 - 60_000, to_ms=T0)


def test_reads_search_counts_first_and_audits_before_it_returns(migrated: Store) -> None:
    rows = reads_search(migrated, POLICY, plate_search(), None, 10, WHO, T0)
    assert rows["read_id"].to_pylist() == ["r1", "r2"]
    audited = migrated.query_arrow("SELECT action, rows FROM audit_log WHERE action = 'search'").to_pylist()
    assert audited == [{"action": "search", "rows": 2}]
    with pytest.raises(SearchDenied) as refused:
        reads_search(migrated, POLICY, plate_search(), None, 1, WHO, T0)
    assert (refused.value.status, refused.value.rule) == (400, "max_results")
    cameras = KindSearch("near_scene", "lp-000000000001", cameras=("cam-a",), from_ms=T0 - 60_000, to_ms=T0)
    assert reads_search(migrated, POLICY, cameras, None, 10, WHO, T0)["read_id"].to_pylist() == ["r1", "r3"]


class AuditInsertFails:
    """The real store, except that writing an audit record fails (as when the trail's table is unwritable)."""

    def __init__(self, store: Store):
        self.store, self.name = store, store.name

    def command(self, sql: str) -> None:
        if sql.lstrip().startswith("INSERT INTO audit_log"):
            raise StoreError("audit_log: unwritable (injected)")
        self.store.command(sql)

    def query_arrow(self, sql: str) -> pa.Table:
        return self.store.query_arrow(sql)

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> None:
        self.store.insert_arrow(table, data, dedup_token)

    def close(self) -> None:
        self.store.close()


def test_a_search_whose_audit_record_fails_returns_nothing(migrated: Store) -> None:
    with pytest.raises(StoreError):
        reads_search(AuditInsertFails(migrated), POLICY, plate_search(), None, 10, WHO, T0)
