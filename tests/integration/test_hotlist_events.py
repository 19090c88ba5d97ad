"""Hot-list events on the real broker: signed adds reach the worker, a signed clear stops matching at once, a stale
source stops alerting, and operator verifications land in ClickHouse with who (the signed principal) and when."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from streams.config.settings import load_settings
from streams.ingest.hotlist_events import add_event, clear_event, sync_event
from streams.ingest.verifications import verification_event
from streams.kafka.producer import make_producer, send_reads
from streams.model.read import READ_SCHEMA
from tests.integration.helpers import (
    ADMIN,
    OPERATOR,
    TopicReader,
    cli,
    health,
    signed,
    start_worker,
    stop_worker,
    wait_for,
    with_control_keys,
)
from tests.support.hotlist import hotlist_entry

pytestmark = pytest.mark.integration
DAY = 86_400_000


def _reads(now: int, *rows: tuple[str, str, str]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "read_id": rid,
                "camera_id": cam,
                "captured_at": now,
                "plate": plate,
                "region": "us-ca",
                "confidence": 92.0,
            }
            for rid, cam, plate in rows
        ],
        schema=pa.schema([f.with_nullable(True) for f in READ_SCHEMA]),
    )


def test_add_clear_staleness_and_verification_round_trip(worker_env, tmp_path):
    env, signer = with_control_keys(worker_env, tmp_path / "keys")
    s = load_settings(kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"])
    assert cli(env, "topics", "create").returncode == 0
    producer = make_producer(s, **{"linger.ms": 0})
    events_topic = f"{s.topic_prefix}hotlist.events"
    now = int(time.time() * 1000)

    def publish(topic: str, key: str, value: dict) -> int:
        offsets: list[int] = []
        who = OPERATOR if topic.endswith("verifications") else ADMIN
        producer.produce(
            topic,
            signed(signer, value, who),
            key=key.encode(),
            on_delivery=lambda err, msg: offsets.append(msg.offset()),
        )
        assert producer.flush(30) == 0
        return offsets[0]

    # Published before the worker starts: it must load them before matching anything.
    publish(events_topic, "E1", add_event(hotlist_entry("E1", "4FAST11", now, "local", entered_by="dispatch-7"), now))
    publish(events_topic, "sync:local", sync_event("local", now))
    publish(events_topic, "E2", add_event(hotlist_entry("E2", "4SLOW22", now, "dmv", entered_by="dispatch-7"), now))
    publish(events_topic, "sync:dmv", sync_event("dmv", now - 2 * DAY))  # older than the policy's 24 h
    # refused by policy: a stolen vehicle without a record number
    publish(
        events_topic,
        "E3",
        add_event({**hotlist_entry("E3", "4NONE33", now, "local", entered_by="dispatch-7"), "legal_basis": None}, now),
    )

    worker = start_worker(env)
    hits_reader = TopicReader(s.kafka_bootstrap, f"{s.topic_prefix}hits")
    try:
        h = health(env)
        assert h["hotlist_entries"] == 2
        assert h["status"] == "degraded" and any("dmv" in w for w in h["warnings"])

        send_reads(
            producer,
            s,
            _reads(now, ("r1", "cam-a", "4FAST11"), ("r2", "cam-b", "4SLOW22"), ("r3", "cam-b", "4NONE33")),
            3,
        )
        producer.flush(30)
        hits = {x["read_id"]: x for x in hits_reader.read(want=2)}
        assert set(hits) == {"r1", "r2"}
        assert hits["r1"]["alert"] is True and hits["r1"]["source_stale"] is False
        assert hits["r2"]["alert"] is False and hits["r2"]["source_stale"] is True  # recorded, not alerted

        # Clear E1: once the worker has applied the event, the same plate no longer matches.
        clear_offset = publish(events_topic, "E1", clear_event("E1", "recovered", now))
        wait_for(lambda: health(env)["hotlist_offsets"]["0"] > clear_offset, what="clear applied", timeout=10)
        assert health(env)["hotlist_entries"] == 1
        later = int(time.time() * 1000)
        send_reads(producer, s, _reads(later, ("r4", "cam-c", "4FAST11"), ("r5", "cam-c", "4SLOW22")), 3)
        producer.flush(30)
        seen = {x["read_id"] for x in hits_reader.read(want=3)}
        assert "r5" in seen and "r4" not in seen

        # Operators decide: confirm one, reject one; a confirmation that skips a check is a dead letter.
        vt = f"{s.topic_prefix}verifications"
        publish(vt, hits["r1"]["hit_id"], verification_event(hits["r1"]["hit_id"], later))
        publish(vt, hits["r2"]["hit_id"], verification_event(hits["r2"]["hit_id"], later, "misread"))
        bad = verification_event(hits["r1"]["hit_id"], later)
        bad["checks"]["entry_active"] = False
        publish(vt, hits["r1"]["hit_id"], bad)
        dead = TopicReader(s.kafka_bootstrap, f"{s.topic_prefix}deadletter").read(want=1)
        assert [d["source"] for d in dead] == ["verifications"] and dead[0]["reason"] == "wrong_schema"
        assert "affirm each check" in dead[0]["detail"]
    finally:
        hits_reader.close()
        stop_worker(worker)

    from streams.store.clickhouse import ChdbStore

    store = ChdbStore(env["PLATESTREAM_CHDB_PATH"])
    try:
        rows = store.query_arrow(
            "SELECT hit_id, decision, reason, operator FROM verifications FINAL ORDER BY decision"
        ).to_pylist()
        assert rows == [
            {"hit_id": hits["r1"]["hit_id"], "decision": "confirmed", "reason": "", "operator": OPERATOR.actor},
            {"hit_id": hits["r2"]["hit_id"], "decision": "rejected", "reason": "misread", "operator": OPERATOR.actor},
        ]
    finally:
        store.close()
