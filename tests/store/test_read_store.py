"""The read store on the real engine: pseudonymised plates, the retention bound on every search, the purge job,
preservation holds, the audit trail and the ClickHouse verifier. Runs on chDB (and on a server when configured).

Times are explicit (``now`` is passed in), so a limit of seconds "passes" without sleeping. Expected rows come
from the test's own table of reads, never from the code under test.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from streams.config.retention import RetentionPolicy
from streams.config.settings import Settings
from streams.core.audit_log import verify_log
from streams.core.normalise import encode_plates, normalise_plates
from streams.core.pseudonym import PlateKeys, siphash64, siphash64_numpy
from streams.model.audit import AuditEntry
from streams.model.batch import STORED_READ_SCHEMA
from streams.model.hold import Hold
from streams.model.search import SearchRefused, SearchRequest
from streams.run.retention_verify import verify
from streams.store.audit import audit, log_rows, verifier
from streams.store.clickhouse import Store, migrate
from streams.store.deletions import deletions_per_day, write_log_starts
from streams.store.holds import list_holds, place_hold, preserve, release_hold
from streams.store.purge import purge
from streams.store.reads import pseudonymised_reads, write_reads
from streams.store.retention_check import verify_store
from streams.store.search import plate_pseudonyms, search

# An hour ahead of the wall clock: the engine drops rows whose TTL has passed as they are inserted, and the
# tests move "now" forward by hand, past limits of seconds, while the rows' TTL stays ahead of the real clock.
T0 = (int(time.time()) + 3600) * 1000
POLICY = RetentionPolicy(
    name="test",
    source="unit test",
    non_hit_reads=10,
    hit_reads=100,
    hits=100,
    verifications=100,
    aggregates=10**7,
    audit=10**7,
)
HIT_ONLY = POLICY.model_copy(update={"name": "test-hit-only", "non_hit_reads": 0})
KEY_A = "ka:000102030405060708090a0b0c0d0e0f"
KEY_B = "kb:f0e0d0c0b0a090807060504030201000"
# (read id, plate as a camera sent it, seconds before T0, hit)
READS = [
    ("r1", "7ABC123", 5, False),
    ("r2", "7abc 123", 2, True),  # the same plate, normalised
    ("r3", "8XYZ999", 5, False),
    ("r4", "5HOLD55", 6, False),
    ("r5", "5HOLD55", 3, True),
]


def stored(rows: list[tuple[str, str, int, bool]] = READS) -> pa.Table:
    codes, ok = encode_plates(normalise_plates(pa.array([r[1] for r in rows])))
    assert ok.all()
    return pa.table(
        {
            "read_id": [r[0] for r in rows],
            "captured_at": pa.array([T0 - r[2] * 1000 for r in rows], pa.timestamp("ms", tz="UTC")),
            "camera_id": [f"cam-{i}" for i in range(len(rows))],
            "site_id": [None] * len(rows),
            "region": ["CA"] * len(rows),
            "plate_code": pa.array(codes, pa.uint64()),
            "confidence": pa.array([90.0] * len(rows), pa.float32()),
            "hit": [r[3] for r in rows],
        },
        schema=STORED_READ_SCHEMA,
    )


@pytest.fixture
def db(store: Store) -> Store:
    migrate(store)
    return store


# Who searches: the identity a verified token gives (the API builds it); the store records it with each search.
WHO = AuditEntry(0, "search", "badge-7@metro-pd", agency="metro-pd", role="investigator", client="127.0.0.1")


def ask(plate: str, case_number: str = "CR-1", **kw: object) -> SearchRequest:
    return SearchRequest(reason="case review", case_number=case_number, plates=(plate,), **kw)


def ids(table: pa.Table) -> list[str]:
    return sorted(table["read_id"].to_pylist())


def test_siphash_matches_the_reference_and_the_engine(db: Store) -> None:
    key = bytes(range(16))
    # SipHash-2-4 reference test vector for the 8-byte message 00..07 under key 00..0f
    assert int(siphash64(key, np.array([0x0706050403020100], np.uint64))[0]) == 0x93F5F5799A932462
    codes = np.random.default_rng(1).integers(0, 2**63, 200, dtype=np.uint64)
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    codes_sql = ", ".join(str(int(c)) for c in codes)
    engine = db.query_arrow(
        f"SELECT sipHash64Keyed(({k0}, {k1}), toUInt64(c)) AS h FROM (SELECT arrayJoin([{codes_sql}]) AS c)"
    )
    assert engine["h"].to_numpy().tolist() == siphash64(key, codes).tolist()


def test_compiled_siphash_equals_the_numpy_one() -> None:
    key = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    codes = np.random.default_rng(2).integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True)
    codes[:3] = [0, 2**64 - 1, 1]
    assert siphash64(key, codes).tolist() == siphash64_numpy(key, codes).tolist()
    assert siphash64(key, codes[::2]).tolist() == siphash64_numpy(key, codes[::2]).tolist()  # a strided view
    assert siphash64(key, codes[:0]).shape == (0,)


def test_plate_keys_never_echo_key_material() -> None:
    with pytest.raises(ValueError) as err:
        PlateKeys.parse("k1:not-a-secret-at-all-but-long-00")
    assert "not-a-secret" not in str(err.value)
    keys = PlateKeys.parse(f"{KEY_B},{KEY_A}")
    assert keys.current_id == "kb" and keys.ids == ["kb", "ka"]
    assert "f0e0d0" not in repr(keys)
    fresh = PlateKeys.parse(PlateKeys.new_spec("k9"))
    assert fresh.current_id == "k9" and fresh.keys[0][1] != PlateKeys.parse(PlateKeys.new_spec("k9")).keys[0][1]


def test_no_plate_text_at_rest_and_search_by_plate(db: Store) -> None:
    keys = PlateKeys.parse(KEY_A)
    assert write_reads(db, stored(), keys, POLICY, "t1") == 5
    assert write_reads(db, stored(), keys, POLICY, "t1") == 5  # a retry with the same token adds nothing
    assert db.query_arrow("SELECT count() AS n FROM reads")["n"][0].as_py() == 5
    dump = json.dumps(db.query_arrow("SELECT * FROM reads").to_pylist(), default=str).upper()
    assert not any(p in dump for p in ("7ABC123", "8XYZ999", "5HOLD55"))
    classes = {
        r["read_id"]: r["data_class"] for r in db.query_arrow("SELECT read_id, data_class FROM reads").to_pylist()
    }
    assert classes == {
        "r1": "non_hit_reads",
        "r2": "hit_reads",
        "r3": "non_hit_reads",
        "r4": "non_hit_reads",
        "r5": "hit_reads",
    }

    found = search(db, keys, POLICY, ask("7 ABC-123"), WHO, now_ms=T0)
    assert ids(found) == ["r1", "r2"]
    assert ids(search(db, keys, POLICY, ask("7ABC123", region="us-ca"), WHO, now_ms=T0)) == ["r1", "r2"]
    assert search(db, keys, POLICY, ask("7ABC123", region="NV"), WHO, now_ms=T0).num_rows == 0
    with pytest.raises(SearchRefused):
        search(db, keys, POLICY, SearchRequest(reason="why", plates=("7ABC123",)), replace(WHO, actor=""), now_ms=T0)
    with pytest.raises(SearchRefused):
        search(db, keys, POLICY, SearchRequest(reason="everything"), WHO, now_ms=T0)
    # another key cannot find them: the pseudonym depends on the key
    assert search(db, PlateKeys.parse(KEY_B), POLICY, ask("7ABC123"), WHO, now_ms=T0).num_rows == 0

    log = db.query_arrow(
        "SELECT action, actor, agency, role, client, decision, reason, detail, rows FROM audit_log ORDER BY at"
    ).to_pylist()
    assert sorted((r["action"], r["rows"]) for r in log) == [("search", 0), ("search", 0), ("search", 2), ("search", 2)]
    assert all(r["actor"] == "badge-7@metro-pd" and r["reason"] == "case review" for r in log)
    assert {(r["agency"], r["role"], r["client"], r["decision"]) for r in log} == {
        ("metro-pd", "investigator", "127.0.0.1", "allowed")
    }
    assert "7ABC123" not in json.dumps(log)


def test_the_retention_bound_hides_expired_rows_before_they_are_deleted(db: Store) -> None:
    keys = PlateKeys.parse(KEY_A)
    write_reads(db, stored(), keys, POLICY, "t1")
    # 10 s after T0: r1 (non-hit, captured T0-5 s) is past its 10 s limit; r2 (hit, 100 s) is not
    later = T0 + 10_000
    assert ids(search(db, keys, POLICY, ask("7ABC123"), WHO, now_ms=later)) == ["r2"]
    assert db.query_arrow("SELECT count() AS n FROM reads")["n"][0].as_py() == 5  # not yet purged


def test_key_rotation_keeps_old_rows_searchable_until_the_key_is_dropped(db: Store) -> None:
    write_reads(db, stored(), PlateKeys.parse(KEY_A), POLICY, "old")
    rotated = PlateKeys.parse(f"{KEY_B},{KEY_A}")
    write_reads(db, stored([("r9", "7ABC123", 1, False)]), rotated, POLICY, "new")
    assert db.query_arrow("SELECT key_id FROM reads WHERE read_id = 'r9'")["key_id"][0].as_py() == "kb"
    assert ids(search(db, rotated, POLICY, ask("7ABC123"), WHO, now_ms=T0)) == ["r1", "r2", "r9"]
    assert ids(search(db, PlateKeys.parse(KEY_B), POLICY, ask("7ABC123"), WHO, now_ms=T0)) == ["r9"]


def test_purge_deletes_what_is_due_counts_it_and_the_verifier_agrees(db: Store) -> None:
    keys = PlateKeys.parse(KEY_A)
    write_reads(db, stored(), keys, POLICY, "t1")
    later = T0 + 10_000  # non-hit reads r1, r3, r4 are due; hits r2, r5 are not
    before = verify_store(db, POLICY, now_ms=later)
    assert [f.subject for f in before if f.failed] == ["chdb/reads" if db.name == "chdb" else "server/reads"]
    assert "3 read(s) past their limit" in next(f.message for f in before if f.failed)

    done = purge(db, POLICY, later)
    assert done.deleted == {("reads", "non_hit_reads"): 3}
    assert ids(db.query_arrow("SELECT read_id FROM reads")) == ["r2", "r5"]
    assert not [f for f in verify_store(db, POLICY, now_ms=later) if f.failed]
    counts = db.query_arrow(
        "SELECT store, data_class, sum(expired) AS n FROM expiry_counts GROUP BY store, data_class"
    ).to_pylist()
    assert counts == [{"store": "clickhouse", "data_class": "non_hit_reads", "n": 3}]
    assert purge(db, POLICY, later).deleted == {}  # nothing left to delete, nothing counted twice
    purges = db.query_arrow("SELECT detail, rows FROM audit_log WHERE action = 'purge'").to_pylist()
    assert purges == [{"detail": '{"reads/non_hit_reads":3}', "rows": 3}]


def test_retention_verify_checks_a_server_store_directly_with_the_purge_grace(db: Store, clean_env: None) -> None:
    """``retention verify`` against a store it was given (a server): the store check, allowing one purge interval
    and two ticks (``Settings.store_check_grace_ms``) past each limit."""
    settings = Settings(purge_interval_s=1, tick_s=1)
    grace = settings.store_check_grace_ms()
    assert grace == 3_000
    write_reads(db, stored(), PlateKeys.parse(KEY_A), POLICY, "t1")
    due = T0 + 4_000  # from here r4 (a non-hit read captured 6 s before T0) is past its 10 s limit

    within = verify(settings, POLICY, workers=[], kafka=False, now_ms=due + grace - 1, store=db)
    assert not [f for f in within if f.failed] and {f.store for f in within if f.level != "warn"} == {"clickhouse"}
    assert {f.store for f in within if f.level == "warn"} == {"kafka", "processor"}  # said, never silently skipped
    past = verify(settings, POLICY, workers=[], kafka=False, now_ms=due + grace + 2_000, store=db)
    assert [f.subject for f in past if f.failed] == ["server/reads"]


def test_hours_of_expiry_that_have_passed_are_dropped_as_whole_partitions(db: Store) -> None:
    write_reads(db, stored(), PlateKeys.parse(KEY_A), POLICY, "t1")
    parts = "SELECT count() AS n FROM system.parts WHERE database = currentDatabase() AND table = 'reads' AND active"
    assert db.query_arrow(parts)["n"][0].as_py() >= 1
    done = purge(db, POLICY, T0 + 2 * 3_600_000)  # every row's expiry hour has ended
    assert done.deleted == {("reads", "non_hit_reads"): 3, ("reads", "hit_reads"): 2}
    assert db.query_arrow(parts)["n"][0].as_py() == 0  # no part left to hold them, not even hidden rows


def test_a_hold_keeps_exactly_what_it_covers_until_released(db: Store) -> None:
    keys = PlateKeys.parse(KEY_A)
    write_reads(db, stored(), keys, POLICY, "t1")
    hold = Hold(
        hold_id="h-1",
        requested_by="defence counsel",
        case_number="CR-2026-1",
        reason="defendant's request for their own location data",
        plate_keys=tuple(plate_pseudonyms(["5HOLD55"], keys)),
        read_ids=("r3",),
        captured_from_ms=T0 - 60_000,
        captured_to_ms=T0 - 4_000,  # r5 (T0-3 s) is outside the hold's range
        expires_at_ms=T0 + 3_600_000,
        placed_at_ms=T0,
        order_ref="preservation request PR-17",
        placed_by="rec-1@metro-pd",
        agency="metro-pd",
    )
    # A hit and its verification on a read the hold covers (r3), and on one it does not (r1), each audited.
    for hit_id, read_id in (("hit-3", "r3"), ("hit-1", "r1")):
        db.command(
            "INSERT INTO hits (hit_id, read_id, read_time, entry_id) "
            f"VALUES ('{hit_id}', '{read_id}', fromUnixTimestamp64Milli(toInt64({T0 - 5_000}), 'UTC'), 'E1')"
        )
        db.command(
            "INSERT INTO verifications (hit_id, decision, reason, operator, decided_at) VALUES "
            f"('{hit_id}', 'confirmed', '', 'op-7@metro-pd', fromUnixTimestamp64Milli(toInt64({T0}), 'UTC'))"
        )
        detail = json.dumps({"hit_id": hit_id, "decision": "confirmed"})
        audit(db, AuditEntry(T0, "verify", "op-7@metro-pd", "metro-pd", "operator", detail=detail, decision="applied"))
    assert place_hold(db, hold, version=1, role="records", client="t.holds/0/0")
    assert not place_hold(db, hold, version=1)  # read again from the topic after a restart: no second record
    assert preserve(db, POLICY, T0) == 2  # r4 (plate) and r3 (read id)
    assert preserve(db, POLICY, T0) == 0  # copied once
    held_audit = "SELECT action, JSONExtractString(detail, 'hit_id') AS hit FROM held_audit FINAL ORDER BY action"
    assert db.query_arrow(held_audit).to_pylist() == [
        {"action": "holds.place", "hit": ""},
        {"action": "verify", "hit": "hit-3"},  # the decision on a held read's hit: copied, not the other
    ]

    later = T0 + 200_000  # every read is past its limit now, hits and verifications too
    done = purge(db, POLICY, later)
    assert done.deleted == {
        ("reads", "non_hit_reads"): 3,
        ("reads", "hit_reads"): 2,
        ("hits", "hits"): 1,  # hit-1; hit-3's read is held, and so is the hit
        ("verifications", "verifications"): 1,
    }
    assert db.query_arrow("SELECT count() AS n FROM reads")["n"][0].as_py() == 0
    assert db.query_arrow("SELECT hit_id FROM hits")["hit_id"].to_pylist() == ["hit-3"]
    assert db.query_arrow("SELECT hit_id FROM verifications")["hit_id"].to_pylist() == ["hit-3"]
    held = search(db, keys, POLICY, ask("5HOLD55"), WHO, now_ms=later)
    assert ids(held) == ["r4"] and held["held"].to_pylist() == [1]
    assert ids(search(db, keys, POLICY, SearchRequest("b", read_ids=("r3", "r1")), WHO, now_ms=later)) == ["r3"]
    ok = verify_store(db, POLICY, now_ms=later)
    assert not [f for f in ok if f.failed]  # what the hold keeps is not past its limit
    assert any("2 read(s) kept by 1 active hold(s)" in f.message for f in ok)
    listed = list_holds(db).to_pylist()
    assert [(h["hold_id"], h["held_reads"], h["released_at"]) for h in listed] == [("h-1", 2, None)]
    assert [(h["placed_by"], h["agency"], h["order_ref"]) for h in listed] == [
        ("rec-1@metro-pd", "metro-pd", "preservation request PR-17")
    ]

    assert release_hold(db, "h-1", "rec-1@metro-pd", "case closed", later + 1, version=2, agency="metro-pd")
    assert not release_hold(db, "h-unknown", "x", "y", later + 1, version=3)
    assert not release_hold(db, "h-1", "rec-1@metro-pd", "case closed", later + 1, version=2)  # once
    log = db.query_arrow("SELECT action, actor, case_number FROM audit_log WHERE action LIKE 'holds.%'").to_pylist()
    assert sorted((r["action"], r["actor"], r["case_number"]) for r in log) == [
        ("holds.place", "rec-1@metro-pd", "CR-2026-1"),
        ("holds.release", "rec-1@metro-pd", "CR-2026-1"),
    ]
    failed = {f.subject.split("/")[-1] for f in verify_store(db, POLICY, now_ms=later + 2) if f.failed}
    assert failed == {"held_reads", "held_audit", "hits", "verifications"}  # the hold ended: all of it is due
    assert purge(db, POLICY, later + 2).deleted == {
        ("held_reads", "non_hit_reads"): 2,
        ("held_audit", "audit"): 2,
        ("hits", "hits"): 1,
        ("verifications", "verifications"): 1,
    }
    assert search(db, keys, POLICY, ask("5HOLD55"), WHO, now_ms=later + 3).num_rows == 0
    assert not [f for f in verify_store(db, POLICY, now_ms=later + 3) if f.failed]
    assert list_holds(db)["released_by"].to_pylist() == ["rec-1@metro-pd"]  # the hold's record stays (audit)


def test_hit_only_stores_no_non_hit_read_and_the_verifier_checks_it(db: Store) -> None:
    keys = PlateKeys.parse(KEY_A)
    rows = pseudonymised_reads(stored(), keys, HIT_ONLY)
    assert rows["read_id"].to_pylist() == ["r2", "r5"]  # 0 s for non-hit reads: never written
    write_reads(db, stored(), keys, HIT_ONLY, "t1")
    assert not [f for f in verify_store(db, HIT_ONLY, now_ms=T0) if f.failed]
    write_reads(db, stored(), keys, POLICY, "t2")  # as if the policy were changed under a running store
    failed = [f for f in verify_store(db, HIT_ONLY, now_ms=T0) if f.failed]
    assert any("3 non-hit read(s) stored" in f.message for f in failed)


def test_timed_tables_and_deletions_per_day(db: Store) -> None:
    db.command(
        "INSERT INTO verifications (hit_id, decision, reason, operator, decided_at) VALUES "
        f"('h1', 'confirmed', '', 'op', fromUnixTimestamp64Milli(toInt64({T0 - 200_000}), 'UTC')), "
        f"('h2', 'confirmed', '', 'op', fromUnixTimestamp64Milli(toInt64({T0 - 1_000}), 'UTC'))"
    )
    assert [f.subject.split("/")[-1] for f in verify_store(db, POLICY, now_ms=T0) if f.failed] == ["verifications"]
    assert purge(db, POLICY, T0).deleted == {("verifications", "verifications"): 1}
    assert db.query_arrow("SELECT hit_id FROM verifications")["hit_id"].to_pylist() == ["h2"]

    day = 86_400_000
    write_log_starts(db, [("p.batch", "non_hit_reads", 0, 100), ("p.batch", "non_hit_reads", 1, 40)], T0)
    write_log_starts(db, [("p.batch", "non_hit_reads", 0, 90)], T0 + 60_000)  # max of the day counts
    write_log_starts(db, [("p.batch", "non_hit_reads", 0, 250)], T0 + day)
    per_day = [(r["store"], r["data_class"], r["deleted"]) for r in deletions_per_day(db).to_pylist()]
    assert per_day == [
        ("clickhouse", "verifications", 1),
        ("kafka", "non_hit_reads", 140),
        ("kafka", "non_hit_reads", 150),
    ]


def test_the_audit_trail_shows_an_edited_or_deleted_record(db: Store) -> None:
    keys = PlateKeys.parse(KEY_A)
    for i in range(4):
        search(db, keys, POLICY, ask("7ABC123", case_number=f"CR-{i}"), WHO, now_ms=T0 + i)
    first = log_rows(db)[0].seq
    assert verify_log(log_rows(db), verifier()) == []
    intact = "every audit record is signed and links to the one before"
    assert any(f.message == intact for f in verify_store(db, POLICY, now_ms=T0))

    second = first + 1
    db.command(
        f"ALTER TABLE audit_log UPDATE reason = 'nothing to see' WHERE seq = {second} SETTINGS mutations_sync = 1"
    )
    assert verify_log(log_rows(db), verifier()) == [f"record {second}: column(s) reason differ from what was signed"]
    db.command(f"ALTER TABLE audit_log DELETE WHERE seq = {second} SETTINGS mutations_sync = 1")
    assert verify_log(log_rows(db), verifier()) == [
        f"records {second}..{second} are missing (deleted from the middle)",
        f"record {second + 1}: its link does not follow from record {second}",
    ]
    failed = [f for f in verify_store(db, POLICY, now_ms=T0) if f.failed]
    assert {f.subject.split("/")[-1] for f in failed} == {"audit_log"}
