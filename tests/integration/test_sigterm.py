"""A worker stopped by SIGTERM, as Kubernetes stops it in every rolling update, five times (under load and idle):
each stop exits 0 within the grace period, having committed every batch it wrote, and the input is counted once.

"Committed" is checked through redelivery: every worker process logs how many input messages it wrote; when each
stop commits what it wrote, the next process reads none of them again and the counts add up to the messages sent
exactly. The hits and counts come from the generated input alone (``tests.integration.helpers``).
"""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest

from streams.kafka.producer import make_producer, send_reads
from tests.integration.helpers import (
    arrow_load,
    assert_outputs,
    cli,
    fault_env,
    hot_entries,
    lag,
    reads_metric,
    settings_for,
    start_worker,
    worker_output,
)

pytestmark = pytest.mark.integration

GRACE_S = 20
BATCHES = 48
BATCH_READS = 2_000
UPFRONT = 12  # batches on the topic before the first worker starts; the rest arrive while workers run and stop
ENTRIES = 8
SIGHTINGS = 2


def sigterm(proc) -> tuple[int, float]:  # noqa: ANN001 - a Popen
    """Stop ``proc`` as Kubernetes does; its exit status and how long it took."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=GRACE_S + 15)
    except Exception:
        proc.kill()
        raise
    return code, time.monotonic() - t0


def written_messages(proc) -> int:  # noqa: ANN001 - a Popen
    found = re.findall(r"worker closed after \d+ batches of (\d+) input messages", worker_output(proc, 1_000_000))
    assert len(found) == 1, worker_output(proc)
    return int(found[0])


def test_repeated_sigterm_exits_0_commits_and_counts_once(worker_env, tmp_path):
    entries = hot_entries(ENTRIES)
    env = fault_env(worker_env, tmp_path, entries, PLATESTREAM_SHUTDOWN_GRACE_S=str(GRACE_S))
    settings = settings_for(env)
    group, topic = f"{settings.topic_prefix}worker", f"{settings.topic_prefix}reads.batch"
    assert cli(env, "topics", "create").returncode == 0

    now = int(time.time() * 1000)
    tables, expected = arrow_load(now - 600_000, entries, BATCHES, BATCH_READS, SIGHTINGS)
    total_reads = sum(t.num_rows for t in tables)
    producer = make_producer(settings)
    sent = [send_reads(producer, settings, t, 3) for t in tables[:UPFRONT]]
    assert producer.flush(30) == 0

    def trickle() -> None:  # the rest, while workers run and stop
        for t in tables[UPFRONT:]:
            sent.append(send_reads(producer, settings, t, 3))
            producer.flush(10)
            time.sleep(0.25)

    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    written: list[int] = []
    stops: list[tuple[str, int, float]] = []
    for kind in ("load", "load", "load", "idle", "idle"):
        worker = start_worker(env)
        if kind == "load":  # stop mid-stream: batches in hand and queued
            seen = reads_metric(env)
            deadline = time.monotonic() + 30
            while reads_metric(env) <= seen and time.monotonic() < deadline:
                time.sleep(0.1)
        else:
            feeder.join(60)
            deadline = time.monotonic() + 60
            while lag(settings.kafka_bootstrap, group, topic) and time.monotonic() < deadline:
                time.sleep(0.3)
        code, took = sigterm(worker)
        stops.append((kind, code, round(took, 1)))
        assert code == 0 and took < GRACE_S, (stops, worker_output(worker))
        assert "Segmentation" not in worker_output(worker) and "ShutdownTablesThreadPool" not in worker_output(worker)
        written.append(written_messages(worker))

    assert not feeder.is_alive()
    assert lag(settings.kafka_bootstrap, group, topic) == 0, "the idle stops committed everything"
    messages = sum(sent)
    # Each message written once over all processes: no stop left a written batch uncommitted, none was skipped.
    assert sum(written) == messages, (written, messages, stops)
    assert_outputs(env, expected, total_reads, entries, f"(batches written per process: {written}, stops: {stops})")
