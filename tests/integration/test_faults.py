"""A worker SIGKILLed twice mid-stream and restarted on the same consumer group and embedded store: no hit is lost,
no unexpected hit appears, and the reads aggregate counts every good read exactly once.

The expectations come from the generated input alone (plain pyarrow and Python), never from ``streams.core``.
"""

from __future__ import annotations

import time

import pytest

from streams.kafka.producer import make_producer, send_reads
from tests.integration.helpers import (
    arrow_load,
    assert_all_good,
    assert_outputs,
    cli,
    fault_env,
    health,
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

BATCHES = 40
BATCH_READS = 5_000
ENTRIES = 24  # hot-list entries
SIGHTINGS = 3  # hot reads per entry, each at a camera of its own


def test_sigkill_mid_stream_loses_no_hit_and_counts_reads_once(worker_env, tmp_path):
    entries = hot_entries(ENTRIES)
    env = fault_env(worker_env, tmp_path, entries)
    settings = settings_for(env)
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr

    now = int(time.time() * 1000)
    tables, expected = arrow_load(now - 600_000, entries, BATCHES, BATCH_READS, SIGHTINGS)
    assert_all_good(tables, now)
    total_reads = sum(t.num_rows for t in tables)
    assert len(expected) == ENTRIES * SIGHTINGS

    producer = make_producer(settings)
    messages = sum(send_reads(producer, settings, t, 3) for t in tables)
    assert producer.flush(60) == 0
    del producer

    group = f"{prefix}worker"
    processed = []  # reads each worker process counted before it died or stopped (redeliveries included)
    worker = start_worker(env)
    try:
        assert health(env)["hotlist_entries"] == ENTRIES
        for fraction in (1 / 3, 1 / 3):
            wait_for(
                lambda f=fraction: reads_metric(env) >= f * total_reads,
                90,
                "the worker to get through a third of the load",
            )
            processed.append(metric(env, "platestream_reads_total"))
            worker.kill()  # SIGKILL: no shutdown, no final commit, no flush
            worker.wait(10)
            worker = start_worker(env)
        wait_for(lambda: lag(bootstrap, group, f"{prefix}reads.batch") == 0, 120, "every input batch acknowledged")
        processed.append(metric(env, "platestream_reads_total"))
    finally:
        stop_worker(worker)
    assert sum(processed) >= total_reads, (processed, total_reads)

    assert_outputs(env, expected, total_reads, entries, f"({messages} messages; reads per worker process: {processed})")
