"""Extract snapshots on a running worker through the real broker: the next snapshot clears what it no longer lists
within one hot-list event round (a recovered car stops alerting), and a truncated one is held back."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from streams.config.extract_policy import load_extract_policy
from streams.config.settings import load_settings
from streams.ingest.extracts.formats import read_extract
from streams.ingest.hotlist_events import add_event, entry_documents, snapshot_events
from streams.kafka.producer import make_producer, send_reads
from streams.model.read import READ_SCHEMA
from tests.integration.helpers import (
    ADMIN,
    TopicReader,
    cli,
    health,
    metric,
    signed,
    start_worker,
    stop_worker,
    wait_for,
    with_control_keys,
)

pytestmark = pytest.mark.integration
SRC = "ncic_extract"
PLATES = {
    "V100000001": "4SNAP01",
    "V100000002": "4SNAP02",
    "V100000004": "4SNAP04",
    "V100000005": "4SNAP05",
    "V100000003": "4RECOV3",
}
KEPT = ["V100000001", "V100000002", "V100000004", "V100000005"]


def extract_file(path: Path, nics: list[str]) -> Path:
    """A state fixed-width extract (the packaged layout) listing these NCIC records, no expiry."""
    lines = [f"{PLATES[n]:<10}CAPCVEH{n:<10}CA0190000{time.strftime('%Y%m%d', time.gmtime())}" for n in nics]
    path.write_text("\n".join(lines) + "\n")
    return path


def reads(now: int, *rows: tuple[str, str]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"read_id": r, "camera_id": "cam-s", "captured_at": now, "plate": p, "region": "us-ca", "confidence": 95.0}
            for r, p in rows
        ],
        schema=pa.schema([f.with_nullable(True) for f in READ_SCHEMA]),
    )


def test_snapshots_clear_recovered_cars_and_hold_a_truncated_file(worker_env, tmp_path):
    env, signer = with_control_keys(worker_env, tmp_path / "keys")
    s = load_settings(kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"])
    assert cli(env, "topics", "create").returncode == 0
    producer = make_producer(s, **{"linger.ms": 0})
    topic = f"{s.topic_prefix}hotlist.events"
    policy = load_extract_policy()

    def send_snapshot(nics: list[str], snap: str, confirmed: bool = False) -> None:
        now = int(time.time() * 1000)
        ex = read_extract(extract_file(tmp_path / f"{snap}.txt", nics), "ncic-fixed", policy, SRC, now)
        assert ex.refused.num_rows == 0
        events = [(e["entry_id"], add_event(e, now)) for e in entry_documents(ex.entries)]
        ids = ex.entries["entry_id"].to_pylist()
        events += snapshot_events(SRC, snap, ids, policy.hold_shrink_below, confirmed, now + 1)
        for key, event in events:
            producer.produce(topic, signed(signer, event, ADMIN), key=key.encode())
        assert producer.flush(30) == 0

    send_snapshot(list(PLATES), "s1")
    worker = start_worker(env)
    hits = TopicReader(s.kafka_bootstrap, f"{s.topic_prefix}hits")
    try:
        assert health(env)["hotlist_entries"] == 5
        send_reads(producer, s, reads(int(time.time() * 1000), ("r1", "4RECOV3")), 3)
        producer.flush(30)
        first = hits.read(want=1)
        assert [h["read_id"] for h in first] == ["r1"] and first[0]["alert"] is True
        assert first[0]["entry_id"] == f"{SRC}:V100000003"

        # The car is recovered: the next extract no longer lists it. One event round later it is gone.
        send_snapshot(KEPT, "s2")
        wait_for(lambda: metric(env, "platestream_hotlist_cleared_by_snapshot_total") == 1, 15, "snapshot applied")
        assert health(env)["hotlist_entries"] == 4
        send_reads(producer, s, reads(int(time.time() * 1000), ("r2", "4RECOV3"), ("r3", "4SNAP01")), 3)
        producer.flush(30)
        seen = {h["read_id"] for h in hits.read(want=2)}
        assert "r3" in seen and "r2" not in seen

        # A truncated file (one record of four: under half of the last): held back, nothing cleared.
        send_snapshot(["V100000001"], "s3")
        wait_for(lambda: metric(env, "platestream_hotlist_snapshots_held_total") == 1, 15, "snapshot held")
        assert health(env)["hotlist_entries"] == 4
        assert metric(env, "platestream_hotlist_cleared_by_snapshot_total") == 1
        # A person confirms it: now it clears.
        send_snapshot(["V100000001"], "s4", confirmed=True)
        wait_for(lambda: health(env)["hotlist_entries"] == 1, 15, "confirmed snapshot applied")
    finally:
        hits.close()
        stop_worker(worker)
