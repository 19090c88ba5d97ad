"""`platestream dlq list` and `dlq replay` on a real broker and worker: reasons listed without plate text, a replayed
row whose cause remains comes back as exactly one new dead letter, and a dry run publishes nothing."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.config.settings import load_settings
from streams.kafka.producer import make_producer, send_json
from tests.integration.helpers import cli, metric, start_worker, stop_worker, wait_for

pytestmark = pytest.mark.integration

# Plate text that only ever travels inside original bytes: none of it may show in a listing.
SECRET_PLATES = ("7SECRET1", "9FUTUR99", "4CANDID8")
GARBAGE = b"\x00garbage 7SECRET1, not arrow"


def _end_offsets(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-watermarks", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1] for p in parts)
    finally:
        c.close()


def _listed(env: dict[str, str], *args: str) -> list[dict]:
    res = cli(env, "dlq", "list", "--json", *args)
    assert res.returncode == 0, res.stdout + res.stderr
    _no_plate_text(res.stdout + res.stderr)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def _no_plate_text(text: str) -> None:
    for plate in SECRET_PLATES:
        assert plate not in text, f"plate text {plate} leaked into dlq output"
    assert "original_b64" not in text and "garbage" not in text


def test_dlq_list_and_replay(worker_env):
    env = worker_env
    settings = load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )
    prefix = settings.topic_prefix
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr

    worker = start_worker(env)
    try:
        now = int(time.time() * 1000)
        empty_plate = {
            "read_id": "dlq-1",
            "camera_id": "cam-d1",
            "captured_at": now,
            "plate": "",
            "region": "CA",
            "confidence": 80.0,
            "candidates": [{"plate": SECRET_PLATES[0], "confidence": 40.0}, {"plate": SECRET_PLATES[2]}],
        }
        future = {
            "read_id": "dlq-2",
            "camera_id": "cam-d2",
            "captured_at": now + 10 * 86_400_000,
            "plate": SECRET_PLATES[1],
            "region": "CA",
            "confidence": 90.0,
        }
        producer = make_producer(settings)
        producer.produce(f"{prefix}reads.batch", GARBAGE, partition=2)
        send_json(producer, settings, [empty_plate, future], 3)
        assert producer.flush(30) == 0
        wait_for(lambda: metric(env, "platestream_dead_letters_total") >= 3, 60, "three dead letters")

        # -- list: every dead letter with its reason and source, no original bytes ---------------------------
        listed = _listed(env)
        assert sorted((d["reason"], d["source"]) for d in listed) == [
            ("missing_plate", "reads.json"),
            ("time_in_future", "reads.json"),
            ("undecodable", "reads.batch"),
        ], listed
        by_reason = {d["reason"]: d for d in listed}
        garbage = by_reason["undecodable"]
        assert garbage["row"] is None and garbage["size"] == len(GARBAGE)
        assert garbage["origin"] == f"{prefix}reads.batch/2/0"
        assert by_reason["missing_plate"]["row"] is not None and by_reason["missing_plate"]["size"] > 0
        assert by_reason["time_in_future"]["row"] is not None
        assert set(garbage) == {"reason", "detail", "origin", "source", "row", "size", "partition", "offset"} | {
            "timestamp_ms"
        }

        assert [d["reason"] for d in _listed(env, "--reason", "time_in_future")] == ["time_in_future"]
        assert [d["reason"] for d in _listed(env, "--source", "reads.batch")] == ["undecodable"]
        assert len(_listed(env, "--limit", "2")) == 2
        table = cli(env, "dlq", "list")
        assert table.returncode == 0, table.stderr
        _no_plate_text(table.stdout + table.stderr)
        assert "missing_plate" in table.stdout and "3 dead letter(s)" in table.stdout

        # -- replay --dry-run: counts, publishes nothing -------------------------------------------------------
        json_end = _end_offsets(settings.kafka_bootstrap, f"{prefix}reads.json")
        dry = cli(env, "dlq", "replay", "--reason", "missing_plate", "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        _no_plate_text(dry.stdout + dry.stderr)
        assert json.loads(dry.stdout) == {
            "by_topic": {"reads.json": 1},
            "dry_run": True,
            "would_replay": 1,
            "selected": 1,
            "skipped": {},
        }
        assert _end_offsets(settings.kafka_bootstrap, f"{prefix}reads.json") == json_end

        # -- replay: the row's cause remains, so it comes back as exactly one new dead letter --------------------
        done = cli(env, "dlq", "replay", "--reason", "missing_plate")
        assert done.returncode == 0, done.stdout + done.stderr
        _no_plate_text(done.stdout + done.stderr)
        assert json.loads(done.stdout)["replayed"] == 1
        assert _end_offsets(settings.kafka_bootstrap, f"{prefix}reads.json") == json_end + 1
        wait_for(
            lambda: metric(env, "platestream_dead_letters_total", 'reason="missing_plate"') >= 2,
            60,
            "the replayed row back as a dead letter",
        )
        after = _listed(env)
        assert len(after) == len(listed) + 1, after
        again = [d for d in after if d["reason"] == "missing_plate"]
        assert len(again) == 2 and all(d["source"] == "reads.json" for d in again)
        assert again[0]["origin"] != again[1]["origin"]  # a new message, not the old record read twice
        assert metric(env, "platestream_dead_letters_total") == 4
        assert metric(env, "platestream_reads_total") == 0
    finally:
        stop_worker(worker)
