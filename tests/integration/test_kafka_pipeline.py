"""End to end through a real broker and a real Faust worker: Arrow batches and alpr_group JSON in, hits and
dead letters out on their topics, aggregates in the worker's embedded ClickHouse."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka import Consumer

from streams.config import load_settings
from streams.ingest.decode import encode_arrow
from streams.schema import READ_SCHEMA
from streams.transport.producer import make_producer, send_json, send_reads

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "streams.cli"]


def _hotlist_csv(path: Path) -> Path:
    path.write_text(
        "plate,state,type,reason,record_number,warrant_number,entry_date,expires_at\n"
        "7ABC123,CA,PC,stolen_vehicle,NCIC0001,,2026-01-01,2099-01-01\n"  # expiry beyond policy max: refused
        "8XYZ999,CA,PC,arrest_warrant,,W-2026-17,2026-01-01,2099-01-01\n"
        "5QRS444,NV,PC,felony_vehicle,,W-2026-18,2026-01-01,2099-01-01\n"
        "6LMN321,CA,PC,stolen_plate,,,2026-01-01,2099-01-01\n"  # no legal basis: refused
    )
    return path


def _wait_health(port: int, proc: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{proc.stdout.read()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError("worker /health did not answer")


def _consume(bootstrap: str, topic: str, want: int, timeout: float = 90) -> list[dict]:
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    c.subscribe([topic])
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(json.loads(m.value()))
        # a little longer, to catch anything beyond what was expected
        end = time.monotonic() + 2
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                out.append(json.loads(m.value()))
    finally:
        c.close()
    return out


def _metric(port: int, name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (not labels or labels in line) and not line.startswith("#"):
            if line.split("{")[0].split(" ")[0] == name:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_reads_through_real_broker_give_hits_dead_letters_and_aggregates(worker_env, tmp_path):
    env = dict(worker_env, PLATESTREAM_HOTLIST_PATH=str(_hotlist_csv(tmp_path / "hotlist.csv")))
    settings = load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )
    created = subprocess.run([*CLI, "topics", "create"], env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    assert created.stdout.count(": created") == 6
    check = subprocess.run([*CLI, "topics", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr

    port = int(env["PLATESTREAM_WEB_PORT"])
    worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        health = _wait_health(port, worker)
        assert health["hotlist_entries"] == 2  # two entries refused by policy, never matched

        now = int(time.time() * 1000)
        ts = pa.timestamp("ms", tz="UTC")
        batch = pa.Table.from_pylist(
            [
                # exact hit on the warrant entry, then the same car's next frame (a duplicate)
                {"read_id": "b1", "camera_id": "cam-1", "captured_at": now, "plate": "8XYZ999", "region": "CA",
                 "confidence": 93.0},
                {"read_id": "b2", "camera_id": "cam-1", "captured_at": now + 200, "plate": "8XYZ999", "region": "CA",
                 "confidence": 91.0},
                # the refused stolen_vehicle entry: no hit
                {"read_id": "b3", "camera_id": "cam-2", "captured_at": now, "plate": "7ABC123", "region": "CA",
                 "confidence": 95.0},
                # same characters as the felony entry, other state: region_mismatch, recorded, no alert
                {"read_id": "b4", "camera_id": "cam-3", "captured_at": now, "plate": "5QRS444", "region": "CO",
                 "confidence": 88.0},
                {"read_id": "b5", "camera_id": "cam-3", "captured_at": now, "plate": "", "region": "CA",
                 "confidence": 88.0},
            ],
            schema=pa.schema([f.with_nullable(True) for f in READ_SCHEMA]),
        )
        assert batch["captured_at"].type == ts
        alpr_group = {
            "data_type": "alpr_group", "camera_id": 4711, "site_id": "site-9", "epoch_start": now,
            "best_uuid": "g1", "uuids": ["g1"], "best_plate_number": "5QRS4A4", "best_confidence": 71.5,
            "best_region": "us-nv",
            "best_plate": {"plate": "5QRS4A4", "confidence": 71.5, "region": "us-nv",
                           "candidates": [{"plate": "5QRS4A4", "confidence": 71.5},
                                          {"plate": "5QRS444", "confidence": 64.0}]},
        }
        heartbeat = {"data_type": "heartbeat", "agent_uid": "site-9", "timestamp": now,
                     "video_streams": [{"camera_id": 4711}]}
        future = {"read_id": "j2", "camera_id": "cam-5", "captured_at": now + 10 * 86_400_000, "plate": "1AAA111"}

        producer = make_producer(settings)
        send_reads(producer, settings, batch, 3)
        send_json(producer, settings, [alpr_group, heartbeat, future, b"{not json"], 3)
        producer.produce(f"{settings.topic_prefix}reads.batch", b"\x00garbage, not arrow", partition=0)
        producer.produce(f"{settings.topic_prefix}reads.batch", encode_arrow(pa.table({"plate": ["X"]})), partition=1)
        assert producer.flush(30) == 0
        del producer  # no client left talking to the broker after the session stops it

        hits = _consume(settings.kafka_bootstrap, f"{settings.topic_prefix}hits", want=3)
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

        dead = _consume(settings.kafka_bootstrap, f"{settings.topic_prefix}deadletter", want=5)
        reasons = sorted(d["reason"] for d in dead)
        assert reasons == ["missing_plate", "time_in_future", "undecodable", "undecodable", "wrong_schema"], dead
        garbage = next(d for d in dead if d["source"] == "reads.batch" and d["reason"] == "undecodable")
        import base64

        assert base64.b64decode(garbage["original_b64"]) == b"\x00garbage, not arrow"

        assert _metric(port, "platestream_reads_total") == 5  # b1-b4 (b5 has no plate) and g1
        assert _metric(port, "platestream_dead_letters_total") == 5
        assert _metric(port, "platestream_camera_heartbeats_total") == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    # The worker has stopped: open its embedded ClickHouse and check what landed.
    from streams.store.clickhouse import ChdbStore

    store = ChdbStore(env["PLATESTREAM_CHDB_PATH"])
    try:
        reads = store.query_arrow("SELECT sum(reads) AS r, sum(duplicates) AS d FROM read_counts").to_pylist()[0]
        assert reads == {"r": 5, "d": 1}
        kinds = store.query_arrow(
            "SELECT match_kind, sum(hits) AS h, sum(alerts) AS a FROM hit_counts GROUP BY match_kind ORDER BY match_kind"
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
