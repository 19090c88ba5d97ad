"""`platestream load run --to kafka` against the real broker: every read arrives, once, in Arrow batches."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.ingest.decode import decode_arrow
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
