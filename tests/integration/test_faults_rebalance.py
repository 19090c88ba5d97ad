"""Rebalance under load: a second worker joins the group, then the first one leaves (SIGTERM), while a gateway keeps
sending. Invariants: every expected hit once after de-duplication by id; every good read counted once over the
workers' stores (each worker has its own embedded store here, so a batch written by one and redelivered to the
other would be counted twice: the test fails unless a partition moves only after its written batches are committed).

Expectations come from the generated input alone.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka.admin import AdminClient

from streams.kafka.producer import make_producer, send_json, send_reads
from tests.conftest import free_port
from tests.integration.helpers import (
    arrow_load,
    assert_outputs,
    cli,
    fault_env,
    hot_entries,
    lag,
    metric,
    reads_metric,
    settings_for,
    start_worker,
    stop_worker,
    wait_for,
)

pytestmark = pytest.mark.integration


def members_holding(bootstrap: str, group: str, topic: str) -> int:
    """How many members of the consumer group hold at least one partition of ``topic`` (the group's own view)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        (desc,) = [f.result(timeout=10) for f in admin.describe_consumer_groups([group]).values()]
    except Exception:  # noqa: BLE001 - mid-rebalance the description may fail: not yet
        return 0
    return sum(any(tp.topic == topic for tp in m.assignment.topic_partitions) for m in desc.members)


BATCHES = 15
BATCH_READS = 2_000
ENTRIES = 16
SIGHTINGS = 3


def json_events(table) -> list[dict]:  # noqa: ANN001 - a pyarrow Table
    """The reads of ``table`` as single JSON events, as cameras send them to ``reads.json``."""
    events = table.to_pylist()
    for ev in events:
        ev["captured_at"] = int(ev["captured_at"].timestamp() * 1000)
    return [{k: v for k, v in ev.items() if v is not None} for ev in events]


@pytest.mark.parametrize("source", ["reads.batch", "reads.json"])
def test_worker_joins_and_leaves_under_load(worker_env, tmp_path, source):
    entries = hot_entries(ENTRIES)
    env_a = fault_env(worker_env, tmp_path, entries)
    env_b = dict(env_a, PLATESTREAM_CHDB_PATH=str(tmp_path / "chdb-b"), PLATESTREAM_WEB_PORT=str(free_port()))
    settings = settings_for(env_a)
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    assert cli(env_a, "topics", "create").returncode == 0
    tables, expected = arrow_load(int(time.time() * 1000) - 600_000, entries, BATCHES, BATCH_READS, SIGHTINGS)
    total_reads = sum(t.num_rows for t in tables)

    sent: list[int] = []
    producer = make_producer(settings)
    joined, left = threading.Event(), threading.Event()

    def produce() -> None:  # a third of the load before each membership change, and sending through it
        third = len(tables) // 3
        for i, t in enumerate(tables):
            if i == third:
                joined.wait(120)
            if i == 2 * third:
                left.wait(120)
            if source == "reads.batch":
                sent.append(send_reads(producer, settings, t, 3))
            else:
                sent.append(send_json(producer, settings, json_events(t), 3))
            producer.poll(0)
            time.sleep(0.2)

    a = start_worker(env_a)
    b = None
    gateway = threading.Thread(target=produce, daemon=True)
    gateway.start()
    counted = {}
    try:
        wait_for(lambda: reads_metric(env_a) > 0, 90, "worker A under way")
        b = start_worker(env_b)  # joins: the group rebalances while reads flow
        joined.set()
        # B holds partitions once the group's assignment says so (reads may all have gone to A by then: the
        # last third is sent only after A leaves, so B is not waited on to count any before that)
        group = f"{prefix}worker"
        wait_for(lambda: members_holding(bootstrap, group, f"{prefix}{source}") == 2, 120, "B to get partitions")
        counted["a"] = metric(env_a, "platestream_reads_total")
        stop_worker(a)  # leaves: its partitions move to B
        left.set()
        gateway.join(120)
        assert producer.flush(60) == 0
        wait_for(lambda: lag(bootstrap, f"{prefix}worker", f"{prefix}{source}") == 0, 120, "all acknowledged")
        counted["b"] = metric(env_b, "platestream_reads_total")
        assert counted["b"] > 0, counted  # B took over A's partitions and worked through the rest
    finally:
        stop_worker(a)
        if b is not None:
            stop_worker(b)
    note = f"(reads counted by A, B: {counted})"
    assert 0 < counted["a"] < total_reads, counted
    assert_outputs(
        env_a,
        expected,
        total_reads,
        entries,
        note,
        stores=[env_a["PLATESTREAM_CHDB_PATH"], env_b["PLATESTREAM_CHDB_PATH"]],
    )
