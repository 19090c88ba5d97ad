"""ClickHouse unavailable under load (the embedded store's test hook: every call fails while a file exists).

While the store is down the worker keeps matching and publishing hits, up to its sink bound, then stops taking input
(back-pressure: no offset is committed for a batch whose aggregates are not written, and memory stays bounded).
When the store is back it catches up by itself. A SIGKILL during a second outage loses nothing either.
Expectations come from the generated input alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.kafka.producer import make_producer, send_reads
from tests.integration.helpers import (
    TopicReader,
    arrow_load,
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

BATCHES = 20
BATCH_READS = 2_000
ENTRIES = 20
SIGHTINGS = 3
SINK_BOUND = 3


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_store_outage_keeps_alerting_within_a_bound_then_catches_up(worker_env, tmp_path):
    entries = hot_entries(ENTRIES)
    fault = tmp_path / "store-down"
    env = fault_env(
        worker_env,
        tmp_path,
        entries,
        PLATESTREAM_STORE_FAULT_FILE=str(fault),
        PLATESTREAM_SINK_QUEUE_BATCHES=str(SINK_BOUND),
        PLATESTREAM_SINK_RETRY_MAX_S="0.5",
        PLATESTREAM_STREAM_BUFFER_MESSAGES="16",
        PLATESTREAM_WORKER_BATCH_MESSAGES="1",  # one message a sink job: the bound is counted in messages
    )
    settings = settings_for(env)
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    assert cli(env, "topics", "create").returncode == 0
    tables, expected = arrow_load(int(time.time() * 1000) - 600_000, entries, BATCHES, BATCH_READS, SIGHTINGS)
    total_reads = sum(t.num_rows for t in tables)
    group, reads_topic = f"{prefix}worker", f"{prefix}reads.batch"

    worker = start_worker(env)
    hits = TopicReader(bootstrap, f"{prefix}hits")
    try:
        rss_before = _rss_mb(worker.pid)
        fault.touch()  # the store goes away before any input arrives
        producer = make_producer(settings)
        messages = sum(send_reads(producer, settings, t, 3) for t in tables)
        assert producer.flush(60) == 0

        # -- outage 1: hits keep coming, the sink fills to its bound, then the worker stops taking input ------------
        wait_for(lambda: health(env)["sink_pending"] >= SINK_BOUND, 60, "the sink stage to fill up")
        wait_for(lambda: len(hits.read(0, timeout=0, settle=0.3)) > 0, 30, "hits while the store is down")
        h = health(env)
        assert h["status"] == "degraded" and h["store_failing_since_ms"] is not None
        assert metric(env, "platestream_sink_errors_total", 'sink="clickhouse"') > 0
        time.sleep(3)
        during = hits.read(0, timeout=0, settle=1.0)
        assert len({x["hit_id"] for x in during}) < len(expected), "the worker matched everything: no back-pressure"
        assert health(env)["sink_pending"] <= SINK_BOUND
        assert metric(env, "platestream_reads_total") == 0  # nothing counted as written
        assert lag(bootstrap, group, reads_topic) == messages  # nothing acknowledged
        assert _rss_mb(worker.pid) - rss_before < 300

        # -- the store is back: the worker catches up on its own (same tokens, so no count doubles) ---------------
        fault.unlink()
        wait_for(lambda: reads_metric(env) >= total_reads / 3, 90, "the worker to catch up")
        assert health(env)["store_failing_since_ms"] is None

        # -- outage 2 and a SIGKILL in it: whatever was pending is redelivered to the restarted worker ----------
        fault.touch()
        wait_for(lambda: health(env)["sink_pending"] >= SINK_BOUND, 60, "the sink stage to fill up again")
        worker.kill()
        worker.wait(10)
        fault.unlink()
        worker = start_worker(env)
        wait_for(lambda: lag(bootstrap, group, reads_topic) == 0, 120, "every input batch acknowledged")
    finally:
        hits.close()
        stop_worker(worker)
    assert_outputs(env, expected, total_reads, entries, f"({messages} messages)")
