"""The Worker's own logic on fakes: what it builds from its settings, what it publishes (topics, keys), what it
writes (aggregates once per token, verifications), and the alert window it restores."""

from __future__ import annotations

import json

from streams.clock import ManualClock
from streams.model.audit import AuditEntry
from streams.model.deadletter import DeadLetter
from streams.model.search import SearchRequest
from streams.store.search import search
from tests.worker.conftest import HOT_ENTRY, HOT_PLATE, decoded, read
from tests.worker.fakes import FakeFeeds


def count(store, table: str) -> int:  # noqa: ANN001
    return store.query_arrow(f"SELECT count() AS n FROM {table}")["n"][0].as_py()


def test_start_up_loads_the_hot_list_then_follows_it_and_the_holds(make_worker) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    assert len(w.live) == 1
    assert rig.feeds.hotlist_source is not None and rig.feeds.hotlist_source.calls == ["catch_up", "start"]
    assert rig.feeds.holds_source.started
    h = w.health()
    assert h["status"] == "ok" and h["hotlist_entries"] == 1 and h["store"] == "chdb" and h["batches"] == 0
    assert h["read_store"] == "all"  # the default policy keeps non-hit reads for 5 minutes


def test_a_hit_is_published_to_the_hits_topic_keyed_by_its_hit_id(make_worker, clock: ManualClock) -> None:  # noqa: ANN001
    rig = make_worker()
    result = rig.worker.process(
        decoded([read("r1", HOT_PLATE, clock.now_ms()), read("r2", "7ABC123", clock.now_ms())]), "reads.json"
    )
    assert result.hits.num_rows == 1
    rig.worker.publish(result, "reads.json").confirm()
    hits = rig.producer.on("t.hits")
    assert len(hits) == 1
    key, value = hits[0]
    hit = json.loads(value)
    assert key == hit["hit_id"].encode() and hit["entry_id"] == HOT_ENTRY and hit["read_id"] == "r1"
    assert hit["alert"] is True
    assert rig.producer.on("t.deadletter") == []


def test_dead_letters_go_to_the_dead_letter_topic_keyed_by_origin_with_their_source(make_worker, clock) -> None:  # noqa: ANN001
    rig = make_worker()
    result = rig.worker.process(decoded([read("r1", "", clock.now_ms())], origin="reads.json/2"), "reads.json")
    assert len(result.dead) == 1
    rig.worker.publish(result, "reads.json").confirm()
    dead = rig.producer.on("t.deadletter")
    assert len(dead) == 1
    key, value = dead[0]
    assert key == result.dead[0].origin.encode() == b"reads.json/2/0"
    assert json.loads(value)["source"] == "reads.json" and json.loads(value)["reason"] == result.dead[0].reason
    assert rig.producer.on("t.hits") == []


def test_dead_letters_of_the_hot_list_follower_are_published_at_once(make_worker) -> None:  # noqa: ANN001
    rig = make_worker()
    bad = DeadLetter("bad_json", "not JSON", b"{", "t.hotlist.events/0/7")
    rig.feeds.hotlist_source.on_dead([bad])
    [(key, value)] = rig.producer.on("t.deadletter")
    assert key == b"t.hotlist.events/0/7" and json.loads(value)["source"] == "hotlist.events"


def test_handle_confirms_then_writes_aggregates_and_reads_once_per_token(make_worker, store, clock) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    reads = decoded([read("r1", HOT_PLATE, clock.now_ms()), read("r2", "7ABC123", clock.now_ms(), camera="cam-2")])
    result = w.process(reads, "reads.json")
    delivery = w.publish(result, "reads.json")
    assert rig.producer.delivered == []
    clock.advance(1500)
    w.handle(result, "reads.json/0/0..1", "reads.json", 0.01, delivery)
    assert len(rig.producer.on("t.hits")) == 1  # confirmed before the write
    assert w.batches == 1 and w.last_batch_ms == clock.now_ms()
    counts = store.query_arrow("SELECT sum(reads) AS n FROM read_counts")["n"][0].as_py()
    assert counts == 2 and count(store, "reads") == 2
    w.handle(result, "reads.json/0/0..1", "reads.json", 0.01, w.publish(result, "reads.json"))  # a redelivery
    assert store.query_arrow("SELECT sum(reads) AS n FROM read_counts")["n"][0].as_py() == 2
    assert count(store, "reads FINAL") == 2


def test_no_read_is_stored_when_the_read_store_is_off(make_worker, store, clock) -> None:  # noqa: ANN001
    rig = make_worker(read_store=False)
    w = rig.worker
    result = w.process(decoded([read("r1", HOT_PLATE, clock.now_ms())]), "reads.json")
    w.handle(result, "tok", "reads.json", 0.0, w.publish(result, "reads.json"))
    assert count(store, "reads") == 0 and count(store, "hit_counts") > 0


def test_a_stored_read_is_found_by_the_gated_search_and_the_search_audited(make_worker, store, clock) -> None:  # noqa: ANN001
    rig = make_worker()
    w = rig.worker
    result = w.process(
        decoded([read("r1", HOT_PLATE, clock.now_ms()), read("r2", "7ABC123", clock.now_ms())]), "reads.json"
    )
    w.handle(result, "tok", "reads.json", 0.0, w.publish(result, "reads.json"))
    audited = count(store, "audit_log")
    who = AuditEntry(0, "search", "badge-1@metro-pd", agency="metro-pd", role="investigator")
    req = SearchRequest(reason="investigation", case_number="C-1", plates=(HOT_PLATE,))
    rows = search(store, w.keys, w.retention, req, who, now_ms=clock.now_ms())
    assert rows["read_id"].to_pylist() == ["r1"]
    assert count(store, "audit_log") == audited + 1


def test_the_alert_window_is_restored_from_published_alerts(make_worker, clock: ManualClock) -> None:  # noqa: ANN001
    now = clock.now_ms()
    feeds = FakeFeeds(alerts=[(HOT_ENTRY, now - 60_000), ("E999", now - 3_600_000)], clock=clock)
    rig = make_worker(feeds=feeds, alert_window_s=600)
    assert feeds.alerts_since == [now - 600_000]  # the window, on the worker's clock
    assert rig.worker.alerts_restored == 1 and rig.worker.health()["alerts_restored"] == 1
    result = rig.worker.process(decoded([read("r1", HOT_PLATE, now)]), "reads.json")
    rig.worker.publish(result, "reads.json").confirm()
    [(_, value)] = rig.producer.on("t.hits")
    assert json.loads(value)["alert"] is False  # alerted a minute ago, before the restart


def test_no_alert_window_no_restore(make_worker, clock) -> None:  # noqa: ANN001
    feeds = FakeFeeds(alerts=[(HOT_ENTRY, 0)], clock=clock)
    rig = make_worker(feeds=feeds, alert_window_s=0)
    assert feeds.alerts_since == [] and rig.worker.alerts_restored == 0
