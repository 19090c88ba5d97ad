"""End to end through a real broker and a real Faust worker: Arrow batches and alpr_group JSON in, hits and
dead letters out on their topics, aggregates in the worker's embedded ClickHouse."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pyarrow as pa
import pytest

from streams.config.settings import load_settings
from streams.ingest.decode import encode_arrow
from streams.kafka.producer import make_producer, send_json, send_reads
from streams.kafka.topics import declared
from streams.model.read import READ_SCHEMA
from tests.integration.helpers import TopicReader, cli, health, listening_addresses, metric, start_worker, stop_worker

pytestmark = pytest.mark.integration


def _hotlist_csv(path: Path) -> Path:
    path.write_text(
        "plate,state,type,reason,record_number,warrant_number,entry_date,expires_at\n"
        "7ABC123,CA,PC,stolen_vehicle,NCIC0001,,2026-01-01,2099-01-01\n"  # expiry beyond policy max: refused
        "8XYZ999,CA,PC,arrest_warrant,,W-2026-17,2026-01-01,2099-01-01\n"
        "5QRS444,NV,PC,felony_vehicle,,W-2026-18,2026-01-01,2099-01-01\n"
        "6LMN321,CA,PC,stolen_plate,,,2026-01-01,2099-01-01\n"  # no legal basis: refused
    )
    return path


def test_reads_through_real_broker_give_hits_dead_letters_and_aggregates(worker_env, tmp_path):
    env = dict(worker_env, PLATESTREAM_HOTLIST_PATH=str(_hotlist_csv(tmp_path / "hotlist.csv")))
    settings = load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.count(": created") == len(declared(settings))
    check = cli(env, "topics", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(declared(settings))} topic(s) and " in check.stdout and "match their declarations" in check.stdout

    worker = start_worker(env)
    try:
        assert health(env)["hotlist_entries"] == 2  # two entries refused by policy, never matched
        # The listener is bound where web_host says (loopback by default), not on every interface.
        assert listening_addresses(int(env["PLATESTREAM_WEB_PORT"])) == {"127.0.0.1"}

        now = int(time.time() * 1000)
        ts = pa.timestamp("ms", tz="UTC")
        batch = pa.Table.from_pylist(
            [
                # exact hit on the warrant entry, then the same car's next frame (a duplicate)
                {
                    "read_id": "b1",
                    "camera_id": "cam-1",
                    "captured_at": now,
                    "plate": "8XYZ999",
                    "region": "CA",
                    "confidence": 93.0,
                },
                {
                    "read_id": "b2",
                    "camera_id": "cam-1",
                    "captured_at": now + 200,
                    "plate": "8XYZ999",
                    "region": "CA",
                    "confidence": 91.0,
                },
                # the refused stolen_vehicle entry: no hit
                {
                    "read_id": "b3",
                    "camera_id": "cam-2",
                    "captured_at": now,
                    "plate": "7ABC123",
                    "region": "CA",
                    "confidence": 95.0,
                },
                # same characters as the felony entry, other state: region_mismatch, recorded, no alert
                {
                    "read_id": "b4",
                    "camera_id": "cam-3",
                    "captured_at": now,
                    "plate": "5QRS444",
                    "region": "CO",
                    "confidence": 88.0,
                },
                {
                    "read_id": "b5",
                    "camera_id": "cam-3",
                    "captured_at": now,
                    "plate": "",
                    "region": "CA",
                    "confidence": 88.0,
                },
            ],
            schema=pa.schema([f.with_nullable(True) for f in READ_SCHEMA]),
        )
        assert batch["captured_at"].type == ts
        alpr_group = {
            "data_type": "alpr_group",
            "camera_id": 4711,
            "site_id": "site-9",
            "epoch_start": now,
            "best_uuid": "g1",
            "uuids": ["g1"],
            "best_plate_number": "5QRS4A4",
            "best_confidence": 71.5,
            "best_region": "us-nv",
            "best_plate": {
                "plate": "5QRS4A4",
                "confidence": 71.5,
                "region": "us-nv",
                "candidates": [{"plate": "5QRS4A4", "confidence": 71.5}, {"plate": "5QRS444", "confidence": 64.0}],
            },
        }
        heartbeat = {
            "data_type": "heartbeat",
            "agent_uid": "site-9",
            "timestamp": now,
            "video_streams": [{"camera_id": 4711}],
        }
        future = {"read_id": "j2", "camera_id": "cam-5", "captured_at": now + 10 * 86_400_000, "plate": "1AAA111"}

        producer = make_producer(settings)
        send_reads(producer, settings, batch, 3)
        send_json(producer, settings, [alpr_group, heartbeat, future, b"{not json"], 3)
        producer.produce(f"{settings.topic_prefix}reads.batch", b"\x00garbage, not arrow", partition=0)
        producer.produce(f"{settings.topic_prefix}reads.batch", encode_arrow(pa.table({"plate": ["X"]})), partition=1)
        assert producer.flush(30) == 0
        del producer  # no client left talking to the broker after the session stops it

        hits = TopicReader(settings.kafka_bootstrap, f"{settings.topic_prefix}hits").read(want=3)
        by_read = {h["read_id"]: h for h in hits}
        assert sorted(by_read) == ["b1", "b4", "g1"], hits
        assert len(hits) == 3  # the duplicate frame b2 raised no second hit
        assert by_read["b1"]["match_kind"] == "exact" and by_read["b1"]["alert"] is True
        assert by_read["b1"]["reason"] == "arrest_warrant" and by_read["b1"]["legal_basis"] == "W-2026-17"
        assert by_read["b4"]["match_kind"] == "region_mismatch" and by_read["b4"]["alert"] is False
        g1 = by_read["g1"]
        assert g1["match_kind"] == "candidate" and g1["evidence"]["matched_candidate"] == "5QRS444"
        assert g1["camera_id"] == "4711" and g1["read_region"] == "NV"
        assert all(h["status"] == "unverified" and "UNVERIFIED" in h["notice"] for h in hits)

        dead = TopicReader(settings.kafka_bootstrap, f"{settings.topic_prefix}deadletter").read(want=5)
        reasons = sorted(d["reason"] for d in dead)
        assert reasons == ["missing_plate", "time_in_future", "undecodable", "undecodable", "wrong_schema"], dead
        garbage = next(d for d in dead if d["source"] == "reads.batch" and d["reason"] == "undecodable")
        assert base64.b64decode(garbage["original_b64"]) == b"\x00garbage, not arrow"

        assert metric(env, "platestream_reads_total") == 5  # b1-b4 (b5 has no plate) and g1
        assert metric(env, "platestream_dead_letters_total") == 5
        assert metric(env, "platestream_camera_heartbeats_total") == 1
    finally:
        stop_worker(worker)

    # The worker has stopped: open its embedded ClickHouse and check what landed.
    from streams.store.clickhouse import ChdbStore

    store = ChdbStore(env["PLATESTREAM_CHDB_PATH"])
    try:
        reads = store.query_arrow("SELECT sum(reads) AS r, sum(duplicates) AS d FROM read_counts").to_pylist()[0]
        assert reads == {"r": 5, "d": 1}
        kinds = store.query_arrow(
            "SELECT match_kind, sum(hits) AS h, sum(alerts) AS a FROM hit_counts"
            " GROUP BY match_kind ORDER BY match_kind"
        ).to_pylist()
        assert kinds == [
            {"match_kind": "candidate", "h": 1, "a": 1},
            {"match_kind": "exact", "h": 1, "a": 1},
            {"match_kind": "region_mismatch", "h": 1, "a": 0},
        ]
        dl = store.query_arrow("SELECT sum(dead_letters) AS n FROM dead_letter_counts").to_pylist()[0]
        assert dl["n"] == 5
        hb = store.query_arrow("SELECT sum(heartbeats) AS n FROM camera_health").to_pylist()[0]
        assert hb["n"] == 1
    finally:
        store.close()
