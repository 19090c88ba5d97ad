"""The worker's clock (``tick``) on a manual clock: state expiry, the purge job when its interval has passed (and
not before), the deletion counts from Kafka, holds placed and released; and the hot-list sources' freshness."""

from __future__ import annotations

import json

from streams import metrics
from streams.clock import ManualClock
from tests.worker.conftest import HOT_PLATE, SUPERVISOR, decoded, read

PURGE_EVERY_MS = 30_000  # the default policy: a tenth of the 5-minute non-hit limit, under the 60 s setting
NON_HIT_LIMIT_MS = 300_000


def count(store, sql: str) -> int:  # noqa: ANN001
    return store.query_arrow(f"SELECT count() AS n FROM {sql}")["n"][0].as_py()


def stored_reads(rig, clock: ManualClock) -> None:  # noqa: ANN001
    w = rig.worker
    result = w.process(
        decoded([read("r1", HOT_PLATE, clock.now_ms()), read("r2", "7ABC123", clock.now_ms())]), "reads.json"
    )
    w.handle(result, "tok", "reads.json", 0.0, w.publish(result, "reads.json"))


def test_the_purge_runs_when_its_interval_has_passed_and_not_before(make_worker, clock: ManualClock) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    assert w.settings.purge_every_s() * 1000 == PURGE_EVERY_MS
    w.tick()
    first = clock.now_ms()
    assert w.last_purge_ms == first and rig.feeds.log_start_calls == 1
    clock.advance(PURGE_EVERY_MS - 1)
    w.tick()
    assert w.last_purge_ms == first and rig.feeds.log_start_calls == 1
    clock.advance(1)
    w.tick()
    assert w.last_purge_ms == first + PURGE_EVERY_MS and rig.feeds.log_start_calls == 2
    assert w.health()["last_purge_ms"] == first + PURGE_EVERY_MS


def test_the_purge_deletes_reads_past_their_limit_on_the_workers_clock(make_worker, store, clock) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    stored_reads(rig, clock)
    w.tick()
    assert count(store, "reads FINAL") == 2  # nothing is past its limit yet
    clock.advance(NON_HIT_LIMIT_MS + 1000)
    w.tick()
    rows = store.query_arrow("SELECT read_id FROM reads FINAL").to_pylist()
    assert rows == [{"read_id": "r1"}]  # the non-hit read went, the hit read stays (30 days)
    assert sum(w.last_purge.values()) >= 1 and any(k.startswith("reads/") for k in w.last_purge)
    findings = w.retention_findings()
    assert findings and all(f["level"] != "fail" for f in findings), findings


def test_with_the_purge_off_nothing_is_deleted_and_the_verifier_says_so(make_worker, store, clock) -> None:  # noqa: ANN001
    try:
        rig = make_worker(purge=False)
        stored_reads(rig, clock)
        clock.advance(NON_HIT_LIMIT_MS + PURGE_EVERY_MS + 20_000)
        rig.worker.tick()
        assert count(store, "reads FINAL") == 2 and rig.worker.last_purge == {}
        assert rig.feeds.log_start_calls == 1  # Kafka's deletions are still sampled
        assert any(f["level"] == "fail" for f in rig.worker.retention_findings())
    finally:
        store.command("SYSTEM START TTL MERGES")


def test_processor_state_expires_on_the_tick(make_worker, store, clock) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    w.process(decoded([read("r2", "7ABC123", clock.now_ms())]), "reads.json")
    assert w.health()["dedup_state_reads"] == 1
    w.tick()
    assert w.health()["dedup_state_reads"] == 1
    clock.advance(NON_HIT_LIMIT_MS + 1)
    w.tick()
    assert w.health()["dedup_state_reads"] == 0
    expired = store.query_arrow("SELECT sum(expired) AS n FROM expiry_counts")["n"][0].as_py()
    assert expired >= 1


def test_kafka_log_starts_are_written_and_a_failed_sample_is_only_counted(make_worker, store, clock) -> None:  # noqa: ANN001
    rig = make_worker()
    rig.feeds.log_start_samples = [("t.reads.json", "non_hit_reads", 0, 42)]
    rig.worker.tick()
    assert store.query_arrow("SELECT log_start FROM kafka_log_starts")["log_start"].to_pylist() == [42]

    def broken(policy):  # noqa: ANN001, ANN202
        raise RuntimeError("broker away")

    rig.feeds.log_starts = broken
    before = metrics.REGISTRY.get_sample_value("platestream_sink_errors_total", {"sink": "kafka_admin"}) or 0
    clock.advance(PURGE_EVERY_MS)
    rig.worker.tick()
    after = metrics.REGISTRY.get_sample_value("platestream_sink_errors_total", {"sink": "kafka_admin"})
    assert after == before + 1 and rig.worker.last_purge_ms == clock.now_ms()  # the purge ran all the same


def test_holds_are_placed_on_the_tick_and_copy_what_they_cover_then_released(make_worker, store, clock, seal) -> None:  # noqa: ANN001
    rig = make_worker()
    stored_reads(rig, clock)
    now = clock.now_ms()
    place = {
        "op": "place", "hold_id": "H1", "requested_by": "counsel", "order_ref": "PR-1", "case_number": "C-1",
        "reason": "litigation", "read_ids": ["r2"], "captured_from": now - 60_000, "captured_to": now,
        "expires_at": now + 86_400_000, "at": now,
    }  # fmt: skip
    bad = {"op": "place", "hold_id": "H2"}
    rig.feeds.holds_source.publish(seal(place, SUPERVISOR), seal(bad, SUPERVISOR))
    rig.worker.tick()
    assert store.query_arrow("SELECT hold_id FROM holds FINAL")["hold_id"].to_pylist() == ["H1"]
    assert store.query_arrow("SELECT read_id FROM held_reads FINAL")["read_id"].to_pylist() == ["r2"]
    [(key, value)] = rig.producer.on("t.deadletter")
    assert key == b"t.holds/0/1" and json.loads(value)["source"] == "holds"
    assert json.loads(value)["reason"] == "wrong_schema"
    assert rig.worker.health()["holds_events"] == 2

    release = {"op": "release", "hold_id": "H1", "reason": "case closed", "at": now + 1000}
    rig.feeds.holds_source.publish(seal(release, SUPERVISOR))
    clock.advance(1000)
    rig.worker.tick()
    released = store.query_arrow("SELECT released_at IS NOT NULL AS r FROM holds FINAL WHERE hold_id = 'H1'")
    assert released["r"].to_pylist() == [True]


def test_a_hot_list_source_goes_stale_on_the_workers_clock(make_worker, clock: ManualClock) -> None:  # noqa: ANN001
    rig = make_worker()
    assert rig.worker.health()["status"] == "ok"
    clock.advance(25 * 3_600_000)  # the default policy allows 24 hours
    h = rig.worker.health()
    assert h["status"] == "degraded" and any("stale" in w for w in h["warnings"])
    assert max(h["hotlist_sources_age_s"].values()) >= 25 * 3600
