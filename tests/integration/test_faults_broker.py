"""The Kafka broker restarted while a producer sends and a worker processes: both resume on their own (no restart of
either), and the invariants hold: every expected hit once after de-duplication by id, every good read counted once.

The broker is the session's own (started by the ``kafka_bootstrap`` fixture): it is stopped and started again with
the same command line, data directory and ports. Expectations come from the generated input alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from streams.kafka.producer import make_producer, send_reads
from tests.integration.helpers import (
    arrow_load,
    assert_outputs,
    cli,
    fault_env,
    health,
    hot_entries,
    lag,
    reads_metric,
    settings_for,
    start_worker,
    stop_worker,
    wait_for,
)

pytestmark = pytest.mark.integration

BATCHES = 15
BATCH_READS = 2_000
ENTRIES = 16
SIGHTINGS = 3


def _broker_of(bootstrap: str) -> tuple[int, list[str], Path]:
    """The pid, command line and state directory of the broker this test session started for ``bootstrap``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            continue
        args = [a.decode() for a in argv]
        if "kafka.Kafka" not in args:
            continue
        props = Path(args[-1])
        if props.name == "server.properties" and f"PLAINTEXT://{bootstrap}\n" in props.read_text():
            return int(proc.name), args, props.parent
    raise AssertionError(f"no broker process found for {bootstrap}")


def _restart_broker(bootstrap: str, down_s: float) -> None:
    pid, argv, state = _broker_of(bootstrap)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the broker did not stop"
    time.sleep(down_s)
    log = (state / "server.log").stat().st_size
    # Detached like kafka.sh starts it (not a child of this process, so stopping it leaves no zombie).
    started_pid = subprocess.run(
        ["bash", "-c", 'nohup "$@" >>"$0" 2>&1 & echo $!', str(state / "stdout.log"), *argv],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (state / "pid").write_text(f"{started_pid}\n")  # the session fixture stops the broker by this file

    def started() -> bool:
        with open(state / "server.log", "rb") as f:
            f.seek(log)
            return b"Kafka Server started" in f.read()

    wait_for(started, 90, "the broker to start again")


def test_broker_restart_under_load(worker_env, tmp_path):
    entries = hot_entries(ENTRIES)
    env = fault_env(worker_env, tmp_path, entries)
    settings = settings_for(env)
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap
    assert cli(env, "topics", "create").returncode == 0
    tables, expected = arrow_load(int(time.time() * 1000) - 600_000, entries, BATCHES, BATCH_READS, SIGHTINGS)
    total_reads = sum(t.num_rows for t in tables)

    sent: list[int] = []
    producer = make_producer(settings)

    def produce() -> None:  # a camera gateway that keeps sending through the restart
        for t in tables:
            sent.append(send_reads(producer, settings, t, 3))
            producer.poll(0)
            time.sleep(0.4)

    worker = start_worker(env)
    gateway = threading.Thread(target=produce, daemon=True)
    gateway.start()
    try:
        wait_for(lambda: reads_metric(env) > 0 and len(sent) >= BATCHES // 3, 90, "traffic flowing")
        _restart_broker(bootstrap, down_s=1)
        gateway.join(120)
        assert producer.flush(120) == 0, "the producer did not deliver everything after the restart"
        assert worker.poll() is None, "the worker died with the broker"
        wait_for(lambda: lag(bootstrap, f"{prefix}worker", f"{prefix}reads.batch") == 0, 120, "all acknowledged")
        assert worker.poll() is None
        # nothing left in the sink stage (a retention tick may be passing through it)
        wait_for(lambda: health(env)["sink_pending"] == 0, 10, "the sink stage to drain")
    finally:
        stop_worker(worker)
    assert_outputs(env, expected, total_reads, entries, f"({sum(sent)} messages)")
