"""`platestream load run --to kafka` and `load replay` against the real broker: every read arrives, once, in
Arrow batches (or byte for byte as JSON), and a replay keeps the recording's pacing."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.ingest.decode import decode_arrow
from streams.loadtest.generator import reads
from streams.loadtest.sinks import parquet_sink
from tests.integration.helpers import cli

pytestmark = pytest.mark.integration


def test_load_run_to_kafka_sends_every_read(worker_env, tmp_path):
    env = worker_env
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr

    result = tmp_path / "r.json"
    proc = cli(
        env, "load", "run", "--to", "kafka", "--count", "100000", "--rate", "200000", "--result", str(result),
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(result.read_text())
    assert res["reads"] == 100_000
    assert res["errors"] == 0
    assert res["parameters"]["count"] == 100_000 and res["parameters"]["rate"] == 200_000
    assert res["parameters"]["to"] == "kafka"
    assert 0 < res["rate"] <= 200_000 * 1.15
    (worker,) = res["workers"]
    assert worker["delivered"] == worker["messages"] == res["messages"] > 0

    topic = env["PLATESTREAM_TOPIC_PREFIX"] + "reads.batch"
    c = Consumer(
        {
            "bootstrap.servers": env["PLATESTREAM_KAFKA_BOOTSTRAP"],
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3)}
        assert sum(ends.values()) == res["messages"]
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        rows, messages, ids = 0, 0, set()
        while messages < res["messages"]:
            m = c.poll(10)
            assert m is not None, f"only {messages} of {res['messages']} messages arrived"
            assert not m.error(), m.error()
            d = decode_arrow(m.value(), f"{m.partition()}:{m.offset()}", 64 * 1024 * 1024)
            assert not d.dead
            rows += d.reads.num_rows
            ids.update(d.reads["read_id"].to_pylist())
            messages += 1
        assert rows == len(ids) == 100_000
    finally:
        c.close()


def _read_all(env: dict[str, str], name: str, want: int) -> list:
    """Every message of a topic (3 partitions), once ``want`` of them are there."""
    topic = env["PLATESTREAM_TOPIC_PREFIX"] + name
    c = Consumer(
        {
            "bootstrap.servers": env["PLATESTREAM_KAFKA_BOOTSTRAP"],
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3)}
        assert sum(ends.values()) == want
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        out = []
        while len(out) < want:
            m = c.poll(10)
            assert m is not None, f"only {len(out)} of {want} messages arrived"
            assert not m.error(), m.error()
            out.append(m)
        return out
    finally:
        c.close()


def test_load_replay_parquet_to_kafka_at_speedup(worker_env, tmp_path):
    env = worker_env
    assert cli(env, "topics", "create").returncode == 0
    start = 1_790_000_000_000
    data = tmp_path / "recording"
    sink = parquet_sink(data)
    for t in reads(11, 0, 1, 8_000, 2_000, start, passages_per_second=400, vehicles=20_000, bad_rate=0.0):
        sink(t)
    sink.close()
    written = pq.read_table(sorted(data.rglob("*.parquet"))[0])  # one hour folder, one file (checked below)
    assert written.num_rows == 8_000 and len(list(data.rglob("*.parquet"))) == 1
    recorded_s = (pc.max(written["captured_at"]).value - pc.min(written["captured_at"]).value) / 1000
    assert 10 < recorded_s < 15

    result = tmp_path / "r.json"
    proc = cli(env, "load", "replay", str(data), "--speedup", "4", "--result", str(result), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(result.read_text())
    assert res["reads"] == 8_000 and res["errors"] == 0 and res["parameters"]["speedup"] == 4.0
    assert res["seconds"] == pytest.approx(recorded_s / 4, rel=0.25)

    messages = _read_all(env, "reads.batch", res["messages"])
    t0 = pc.min(written["captured_at"]).value
    ids: list[str] = []
    sent_at, due_at = [], []
    by_partition: dict[int, list[int]] = {}
    for m in messages:
        d = decode_arrow(m.value(), f"{m.partition()}:{m.offset()}", 64 * 1024 * 1024)
        assert not d.dead
        times = d.reads["captured_at"].cast(pa.int64()).to_pylist()
        ids += d.reads["read_id"].to_pylist()
        by_partition.setdefault(m.partition(), []).extend(times)
        sent_at.append(m.timestamp()[1])  # the producer's create time: when the replay sent it
        due_at.append((min(times) - t0) / 4)
    assert sorted(ids) == sorted(written["read_id"].to_pylist())  # every row, once
    for times in by_partition.values():  # in time order on each partition
        assert times == sorted(times)
    # Paced: each message went when its first read was due (recorded offset / 4), give or take a busy machine.
    sent = np.array(sent_at, dtype=np.float64)
    order = np.argsort(sent, kind="stable")
    lag = (sent - sent[order[0]]) - np.array(due_at)
    assert np.median(np.abs(lag)) < 200 and np.abs(lag).max() < 1_000


def test_load_replay_alpr_group_json_lines_byte_for_byte(worker_env, tmp_path):
    env = worker_env
    assert cli(env, "topics", "create").returncode == 0
    start = 1_790_000_000_000
    lines = [
        json.dumps({"data_type": "alpr_group", "epoch_start": start + i * 100, "epoch_end": start + i * 100 + 50,
                    "camera_id": 1000 + i % 4, "best_plate_number": f"7ABC{i:03d}", "best_uuid": f"u-{i}"})
        for i in range(20)
    ] + ["{not json"]  # fmt: skip
    path = tmp_path / "recorded.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = tmp_path / "r.json"
    proc = cli(env, "load", "replay", str(path), "--asap", "--result", str(result), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(result.read_text())
    assert res["reads"] == res["messages"] == 21 and res["errors"] == 0
    got = sorted(m.value().decode() for m in _read_all(env, "reads.json", 21))
    assert got == sorted(lines)
