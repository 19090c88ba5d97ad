"""Partition by camera whatever the producer: kcat writes one camera's repeats of one plate without a key, spread
over every partition, to two workers that split the partitions between them. Each worker re-publishes what is not
on the camera's partition, so one worker sees them all and de-duplicates them: one read, the rest duplicates.
Without the re-keying each worker would count its own first read as new (at least two)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from streams.kafka.camera_partition import camera_partition
from tests.conftest import free_port
from tests.gateway.helpers import messages
from tests.integration.helpers import cli, metric, start_worker, stop_worker, wait_for

pytestmark = pytest.mark.integration

KCAT = "/usr/bin/kcat"
REPEATS = 12  # four on each of the three partitions
CAMERA = "kcam-7"


def _metric_sum(envs: list[dict[str, str]], name: str) -> float:
    total = 0.0
    for env in envs:
        try:
            total += metric(env, name)
        except OSError:
            return -1
    return total


def _owners(env: dict[str, str]) -> list[set[int]]:
    """The reads.json partitions each worker's JSON input holds (members holding some)."""
    from confluent_kafka.admin import AdminClient

    group = env["PLATESTREAM_TOPIC_PREFIX"] + "worker"
    topic = env["PLATESTREAM_TOPIC_PREFIX"] + "reads.json"
    admin = AdminClient({"bootstrap.servers": env["PLATESTREAM_KAFKA_BOOTSTRAP"]})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
    owned = [{tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic} for m in desc.members]
    return [o for o in owned if o]  # each worker's reads.batch input is a member too, holding none of these


def _keyless(env: dict[str, str], partition: int, lines: list[str]) -> None:
    topic = env["PLATESTREAM_TOPIC_PREFIX"] + "reads.json"
    stdin = "\n".join(lines) + "\n"
    if shutil.which(KCAT):
        cmd = [KCAT, "-P", "-b", env["PLATESTREAM_KAFKA_BOOTSTRAP"], "-t", topic, "-p", str(partition)]
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return
    from confluent_kafka import Producer  # no kcat here: the same keyless writes from the client library

    producer = Producer({"bootstrap.servers": env["PLATESTREAM_KAFKA_BOOTSTRAP"]})
    for line in lines:
        producer.produce(topic, line.encode(), partition=partition)
    assert producer.flush(30) == 0


def test_keyless_repeats_spread_over_partitions_are_deduplicated(worker_env, tmp_path):
    assert cli(worker_env, "topics", "create").returncode == 0
    envs = [
        dict(worker_env, PLATESTREAM_CHDB_PATH=str(tmp_path / f"chdb{i}"), PLATESTREAM_WEB_PORT=str(free_port()))
        for i in range(2)
    ]
    workers = [start_worker(envs[0]), start_worker(envs[1])]
    try:
        wait_for(lambda: _metric_sum(envs, "platestream_reads_total") == 0, timeout=90, what="both workers serving")
        # Both workers hold reads.json partitions (without this the test could not fail).
        wait_for(lambda: sorted(len(o) for o in _owners(envs[0])) == [1, 2], timeout=90, what="partitions split")
        when = int(time.time() * 1000) - 2_000
        home = camera_partition(CAMERA, 3)
        reads = [
            json.dumps(
                {
                    "read_id": f"k-{i}",
                    "camera_id": CAMERA,
                    "site_id": "s",
                    "captured_at": when,
                    "plate": "7KLS123",
                    "region": "CA",
                    "confidence": 93.0,
                }
            )  # fmt: skip
            for i in range(REPEATS)
        ]
        for p in range(3):
            _keyless(envs[0], p, reads[p::3])
        wait_for(
            lambda: _metric_sum(envs, "platestream_reads_total") >= REPEATS, timeout=90, what="all reads processed"
        )
        time.sleep(2)
        assert _metric_sum(envs, "platestream_reads_total") == REPEATS
        assert _metric_sum(envs, "platestream_duplicate_reads_total") == REPEATS - 1
        # The re-published copies: keyed by camera, on the camera's partition, one for each read that landed elsewhere.
        topic = envs[0]["PLATESTREAM_TOPIC_PREFIX"] + "reads.json"
        got = messages(envs[0]["PLATESTREAM_KAFKA_BOOTSTRAP"], topic)
        moved = [(p, k) for p, k, _ in got if k is not None]
        assert moved == [(home, CAMERA.encode())] * (REPEATS - REPEATS // 3)
        assert len(got) == REPEATS + len(moved)
    finally:
        for w in workers:
            stop_worker(w)
