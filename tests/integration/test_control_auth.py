"""Control events straight on the topics of a running worker: forged hot-list adds, clears, holds and verifications
are dead letters (``unauthenticated``) and change nothing; the signed ones are applied. A hold with a future
capture window or over the policy's length is refused; a 20,000-id hold is applied and the worker goes on."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from streams.config.settings import load_settings
from streams.ingest.holds import place_event
from streams.ingest.hotlist_events import add_event, clear_event, sync_event
from streams.ingest.verifications import verification_event
from streams.kafka.producer import make_producer, send_reads
from streams.model.hold import Hold
from streams.model.read import READ_SCHEMA
from streams.store.clickhouse import ChdbStore
from streams.store.holds import list_holds
from tests.integration.helpers import (
    ADMIN,
    OPERATOR,
    SUPERVISOR,
    TopicReader,
    cli,
    forged,
    health,
    metric,
    publish,
    signed,
    start_worker,
    stop_worker,
    wait_for,
    with_control_keys,
)
from tests.support.hotlist import hotlist_entry

pytestmark = pytest.mark.integration
DAY = 86_400_000
KEYS = "k1:000102030405060708090a0b0c0d0e0f"


def _reads(*rows: tuple[str, str]) -> pa.Table:
    now = int(time.time() * 1000)
    return pa.Table.from_pylist(
        [
            {
                "read_id": rid,
                "camera_id": f"cam-{rid}",
                "captured_at": now,
                "plate": plate,
                "region": "CA",
                "confidence": 92.0,
            }
            for rid, plate in rows
        ],  # fmt: skip
        schema=pa.schema([f.with_nullable(True) for f in READ_SCHEMA]),
    )


def _hold(hold_id: str, read_ids: tuple[str, ...], now: int, **change: object) -> dict:
    hold = Hold(
        hold_id=hold_id,
        requested_by="defence counsel",
        case_number="CR-1",
        reason="own location data",
        plate_keys=(),
        read_ids=read_ids,
        captured_from_ms=now - DAY,
        captured_to_ms=now,
        expires_at_ms=now + 30 * DAY,
        placed_at_ms=now,
        order_ref="PR-17",
    )
    return {**place_event(hold), **change}


def test_forged_control_events_are_dead_letters_and_signed_ones_are_applied(worker_env, tmp_path):
    env, signer = with_control_keys(worker_env, tmp_path / "keys")
    env = dict(env, PLATESTREAM_PLATE_KEYS=KEYS, PLATESTREAM_TICK_S="1")
    s = load_settings(kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"])
    assert cli(env, "topics", "create").returncode == 0
    producer = make_producer(s, **{"linger.ms": 0})
    topic = {name: f"{s.topic_prefix}{name}" for name in ("hotlist.events", "holds", "verifications")}
    now = int(time.time() * 1000)

    # Before the worker starts: it loads these before matching anything.
    publish(
        producer,
        topic["hotlist.events"],
        "E1",
        signed(signer, add_event(hotlist_entry("E1", "4GOOD11", now), now), ADMIN),
    )
    publish(producer, topic["hotlist.events"], "sync", signed(signer, sync_event("local", now), ADMIN))
    forged_add = forged(add_event(hotlist_entry("E2", "4EVIL22", now), now), ADMIN, tmp_path / "forger")
    publish(producer, topic["hotlist.events"], "E2", forged_add)

    worker = start_worker(env)
    hits = TopicReader(s.kafka_bootstrap, f"{s.topic_prefix}hits")
    dead = TopicReader(s.kafka_bootstrap, f"{s.topic_prefix}deadletter")
    try:
        assert health(env)["hotlist_entries"] == 1
        send_reads(producer, s, _reads(("r1", "4GOOD11"), ("r2", "4EVIL22")), 3)
        producer.flush(30)
        seen = {h["read_id"]: h for h in hits.read(want=1)}
        assert set(seen) == {"r1"}, "a signed add hits, a forged one does not"

        # A forged clear changes nothing; the signed one stops the entry matching.
        part, offset = publish(
            producer, topic["hotlist.events"], "E1", forged(clear_event("E1", "recovered", now), ADMIN, tmp_path / "f2")
        )
        wait_for(lambda: health(env)["hotlist_offsets"][str(part)] > offset, 10, "the forged clear read")
        assert health(env)["hotlist_entries"] == 1
        publish(producer, topic["hotlist.events"], "E1", signed(signer, clear_event("E1", "recovered", now), ADMIN))
        wait_for(lambda: health(env)["hotlist_entries"] == 0, 10, "the signed clear")
        send_reads(producer, s, _reads(("r3", "4GOOD11")), 3)
        producer.flush(30)

        # Verifications of the real hit: forged, then signed by an operator.
        hit_id = seen["r1"]["hit_id"]
        publish(
            producer, topic["verifications"], hit_id, forged(verification_event(hit_id, now), OPERATOR, tmp_path / "f3")
        )
        publish(producer, topic["verifications"], hit_id, signed(signer, verification_event(hit_id, now), OPERATOR))

        # Holds: forged; signed (r1); a future window; over the policy's maximum; 20,000 read ids.
        at = int(time.time() * 1000)
        publish(producer, topic["holds"], "HF", forged(_hold("HF", ("r1",), at), SUPERVISOR, tmp_path / "f4"))
        publish(producer, topic["holds"], "H1", signed(signer, _hold("H1", ("r1",), at), SUPERVISOR))
        publish(
            producer, topic["holds"], "H2", signed(signer, _hold("H2", ("r1",), at, captured_to=at + DAY), SUPERVISOR)
        )
        publish(
            producer,
            topic["holds"],
            "H3",
            signed(signer, _hold("H3", ("r1",), at, expires_at=at + 400 * DAY), SUPERVISOR),
        )
        big = ("r2", *(f"x{i:05d}" for i in range(19_999)))
        publish(producer, topic["holds"], "HBIG", signed(signer, _hold("HBIG", big, at), SUPERVISOR))

        letters = dead.read(want=6, timeout=60)
        by_source = sorted((d["source"], d["reason"]) for d in letters)
        assert by_source == [
            ("holds", "refused"),
            ("holds", "refused"),
            ("holds", "unauthenticated"),
            ("hotlist.events", "unauthenticated"),
            ("hotlist.events", "unauthenticated"),
            ("verifications", "unauthenticated"),
        ], by_source
        refused = sorted(d["detail"].split(":")[0] for d in letters if d["reason"] == "refused")
        assert refused == ["capture_window_in_future", "hold_too_long"]
        assert not any("4EVIL22" in d["detail"] or "4GOOD11" in d["detail"] for d in letters)

        # The worker goes on after the big hold: reads still flow, and r3 (its entry cleared) did not hit.
        before = metric(env, "platestream_reads_total")
        send_reads(producer, s, _reads(("r4", "7PLAIN4")), 3)
        producer.flush(30)
        wait_for(lambda: metric(env, "platestream_reads_total") > before, 30, "reads after the big hold")
        assert "r3" not in {h["read_id"] for h in hits.read(want=0, settle=0.5)}
        wait_for(lambda: health(env)["holds_events"] >= 5 and health(env)["status"] == "ok", 30, "the holds applied")
        time.sleep(2)  # a tick or two: the holds are applied and their reads copied on the tick
    finally:
        hits.close()
        dead.close()
        stop_worker(worker)

    store = ChdbStore(env["PLATESTREAM_CHDB_PATH"])
    try:
        rows = store.query_arrow("SELECT hit_id, decision, operator FROM verifications FINAL").to_pylist()
        assert rows == [{"hit_id": hit_id, "decision": "confirmed", "operator": OPERATOR.actor}]
        listed = {h["hold_id"]: h for h in list_holds(store).to_pylist()}
        assert set(listed) == {"H1", "HBIG"}
        assert (listed["H1"]["placed_by"], listed["H1"]["held_reads"]) == (SUPERVISOR.actor, 1)
        assert (listed["HBIG"]["read_ids"], listed["HBIG"]["held_reads"]) == (20_000, 1)
        applied = store.query_arrow(
            "SELECT action, actor FROM audit_log WHERE decision = 'applied' AND action != 'purge' ORDER BY action"
        ).to_pylist()
        assert sorted({(r["action"], r["actor"]) for r in applied}) == [
            ("holds.place", SUPERVISOR.actor),
            ("hotlist.add", ADMIN.actor),
            ("hotlist.clear", ADMIN.actor),
            ("hotlist.sync", ADMIN.actor),
            ("verify", OPERATOR.actor),
        ]
    finally:
        store.close()
