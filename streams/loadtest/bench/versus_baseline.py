"""The same reads through the plain-Faust baseline (``streams.loadtest.baseline``), one JSON read per message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.clock import now_ms
from streams.kafka.client import client_config
from streams.loadtest.bench.options import BenchOptions
from streams.loadtest.bench.procs import cpu_seconds, free_port, http_get, status_kb, stop_process, wait_http
from streams.loadtest.bench.stack import Stack
from streams.loadtest.generator import reads


def json_reads(t: pa.Table) -> list[tuple[bytes, bytes]]:
    """(key, JSON value) per read in the platestream read shape, ``captured_at`` in ms (the baseline's input)."""
    d = t.to_pydict()
    t_ms = t["captured_at"].cast(pa.int64()).to_pylist()
    out = []
    for i in range(t.num_rows):
        doc = {
            "read_id": d["read_id"][i],
            "camera_id": d["camera_id"][i],
            "site_id": d["site_id"][i],
            "captured_at": t_ms[i],
            "plate": d["plate"][i],
            "region": d["region"][i],
            "confidence": round(float(d["confidence"][i]), 2),
            "candidates": [
                {"plate": c["plate"], "confidence": round(float(c["confidence"]), 2)} for c in d["candidates"][i]
            ],
        }
        out.append((d["camera_id"][i].encode(), json.dumps(doc).encode()))
    return out


def run_baseline(stack: Stack, opts: BenchOptions, tmp: Path, timeout: float = 240) -> dict:
    """The plain-Faust agent, fed ``baseline_reads`` reads of the first level's network as one JSON read per
    message (all queued first): the rate at which it works through them is its capacity."""

    topic = stack.topic("baseline.reads")
    admin = AdminClient(client_config(stack.settings()))
    for f in admin.create_topics([NewTopic(topic, stack.partitions, 1)]).values():
        f.result(30)
    port = free_port()
    env = dict(
        os.environ,
        BASELINE_BOOTSTRAP=stack.bootstrap,
        BASELINE_TOPIC=topic,
        BASELINE_WEB_PORT=str(port),
        BASELINE_DATADIR=str(tmp / "baseline"),
        BASELINE_HOTLIST=str(stack.hotlist_csv),
        BASELINE_PARTITIONS=str(stack.partitions),
    )
    log = tmp / "baseline.log"
    table = next(
        reads(
            opts.seed,
            0,
            len(opts.levels),
            opts.baseline_reads,
            opts.baseline_reads,
            now_ms(),
            realism=False,
        )
    )
    msgs = json_reads(table)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.loadtest.baseline"],
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 - the child holds it
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )

    def count() -> int:
        return int(json.loads(http_get(port, "/count"))["messages"])

    try:
        wait_http(port, "/count", proc, log)
        producer = Producer(client_config(stack.settings(), {"linger.ms": 50, "compression.type": "zstd"}))
        for key, value in msgs:
            while True:
                try:
                    producer.produce(topic, value, key=key)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(120)
        # the backlog is there: from the first counted message to the last one, at the agent's own pace
        cpu0 = cpu_seconds(proc.pid)
        t_first = n_first = None
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            try:
                n = count()
            except OSError:
                pass
            now = time.monotonic()
            if n and t_first is None:
                t_first, n_first, cpu0 = now, n, cpu_seconds(proc.pid)
            if n >= len(msgs):
                break
            time.sleep(0.2)
        t_last = time.monotonic()
        cpu = cpu_seconds(proc.pid) - cpu0
        # a backlog not worked through by the deadline still gives the agent's pace (``complete`` says which)
        measured = t_first is not None and t_last > t_first and n > (n_first or 0)
        counted = n - (n_first or 0)
        return {
            "what": "plain Faust agent, one JSON read per message, per-read Python (streams/loadtest/baseline.py)",
            "reads": len(msgs),
            "complete": n >= len(msgs),
            "counted": n,
            "reads_per_s": round(counted / (t_last - t_first)) if measured else None,
            "cpu_s_per_million_reads": round(cpu / counted * 1e6, 1) if measured else None,
            "peak_rss_mb": round(status_kb(proc.pid, "VmHWM") / 1024),
            "counters": json.loads(http_get(port, "/count")),
        }
    finally:
        stop_process(proc)


def run_baseline_after(stack: Stack, opts: BenchOptions, tmp: Path) -> dict | None:
    """The baseline on the same broker once the platestream workers are stopped (so it has the CPU they had)."""
    if opts.baseline_reads <= 0:
        return None
    for p in stack.workers:
        stop_process(p)
    print(f"baseline: {opts.baseline_reads:,} reads, one JSON read per message", file=sys.stderr, flush=True)
    return run_baseline(stack, opts, tmp)
