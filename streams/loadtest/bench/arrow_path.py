"""The batch path measured through the real broker: Arrow IPC messages on ``reads.batch``, one or more workers.

The reads (``streams.loadtest.generator.reads``) are encoded once, as ``platestream produce`` and the load bench
encode them (``streams.kafka.producer.send_reads``: by camera's partition, then ``--batch`` reads a message), and
queued before any worker starts, so the producer costs the measurement nothing. The workers then work through the
backlog at their own pace; the rate is counted from the first read they count to the last (``platestream_reads_total``
plus dead letters, summed over the workers' ``/metrics``), with the workers' CPU from /proc over the same span and a
py-spy profile of the first worker.

``tree`` runs the workers from another checkout (``PYTHONPATH``): the same queued input, measured against another
version of the worker (a before/after in one run).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from streams.clock import now_ms
from streams.kafka.producer import make_producer, send_reads
from streams.loadtest.bench.hotlist import network_hotlist, write_hotlist_csv
from streams.loadtest.bench.json_path import Counted
from streams.loadtest.bench.options import BenchOptions
from streams.loadtest.bench.procs import prom_sum, status_kb, stop_process
from streams.loadtest.bench.profile import PROFILE_RATE, start_profile, stop_profile
from streams.loadtest.bench.run import machine
from streams.loadtest.bench.stack import Stack
from streams.loadtest.generator import reads
from streams.loadtest.synth import SynthConfig

EVENT_SPAN_S = 120.0

__all__ = ["alternate", "queue_reads", "run_arrow_bench", "run_workers"]


def queue_reads(stack: Stack, opts: BenchOptions, count: int, kafka_compression: str | None = None) -> dict:
    """``count`` generated reads on ``reads.batch`` as Arrow IPC messages of at most ``opts.batch`` reads, each on its
    camera's partition; what was sent. ``kafka_compression`` overrides the producer's ``compression.type``."""
    settings = stack.settings()
    # Captured over the last EVENT_SPAN_S: none ahead of the clock (a future read is a dead letter), all inside the
    # read store's 5 minutes.
    pps = count / EVENT_SPAN_S / SynthConfig.mean_frames
    start = now_ms() - int(EVENT_SPAN_S * 1000) - 30_000
    table = next(reads(opts.seed, 0, 1, count, count, start, passages_per_second=pps, realism=False))
    overrides = {"linger.ms": 50} | ({"compression.type": kafka_compression} if kafka_compression else {})
    producer = make_producer(settings, **overrides)
    t0 = time.monotonic()
    messages = send_reads(producer, settings, table, stack.partitions, max_rows=opts.batch)
    if producer.flush(120):
        raise RuntimeError("messages not all delivered")
    return {"reads": table.num_rows, "messages": messages, "produce_s": round(time.monotonic() - t0, 1)}


# The batch path's stages beyond ``profile.STAGE_MARKERS`` (inclusive shares of wall time, as there).
ARROW_STAGE_MARKERS = {
    "sink: all store inserts (insert_arrow)": "insert_arrow (streams/store/clickhouse.py",
    "sink: Worker.handle (whole sink job)": "handle (streams/worker/worker.py",
    "hit rows (Processor._hits)": "_hits (streams/core/pipeline.py",
    "stored reads (Processor._stored_reads)": "_stored_reads (streams/core/pipeline.py",
    "publish hits (Worker.publish)": "publish (streams/worker/worker.py",
    "Kafka take (confluent-kafka consume)": "_take (streams/worker/batch_input.py",
    "the take on the event loop (BatchInput._handle)": "_handle (streams/worker/batch_input.py",
}


def stage_shares(raw: Path, seconds: float) -> dict[str, float]:
    """Shares of ``ARROW_STAGE_MARKERS`` in a py-spy raw file, on the scale ``profile.profile_summary`` uses."""
    hits = dict.fromkeys(ARROW_STAGE_MARKERS, 0)
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if n.isdigit():
            for label, needle in ARROW_STAGE_MARKERS.items():
                if needle in stack:
                    hits[label] += int(n)
    possible = max(1.0, seconds * PROFILE_RATE)
    return {k: round(v / possible, 3) for k, v in hits.items() if v}


def _summed(stack: Stack, name: str) -> int:
    return int(sum(prom_sum(stack.metrics(i), name) for i in range(len(stack.ports))))


def run_workers(stack: Stack, opts: BenchOptions, target: int, timeout: float, tmp: Path) -> dict:
    """Start ``opts.workers`` workers on the queued backlog; the figures until they counted ``target`` reads."""

    def counted() -> int:
        return _summed(stack, "platestream_reads_total") + _summed(stack, "platestream_dead_letters_total")

    counter = Counted(counted, lambda: [p.pid for p in stack.workers] if stack.ports else [], target=target)
    counter.start()
    stack.start_workers()  # the backlog is worked through while the group settles: the counter sees it all
    raw = tmp / "worker0.pyspy"
    spy = start_profile(stack.workers[0].pid, raw) if opts.profile else None
    counter.wait(timeout)
    profile = stop_profile(spy, raw) if opts.profile else {}
    if raw.exists() and "seconds" in profile:
        profile["stage_share"] |= stage_shares(raw, profile["seconds"])
    out = counter.figures()
    out |= {
        "good_reads": _summed(stack, "platestream_reads_total"),
        "duplicates": _summed(stack, "platestream_duplicate_reads_total"),
        "dead_letters": _summed(stack, "platestream_dead_letters_total"),
        "peak_rss_mb": [round(status_kb(p.pid, "VmHWM") / 1024) for p in stack.workers],
        "profile": profile,
    }
    return out


def run_arrow_bench(
    opts: BenchOptions,
    count: int,
    timeout: float = 600,
    tree: Path | None = None,
    kafka_compression: str | None = None,
) -> dict:
    """``opts.workers`` workers (from ``tree`` if given) on ``count`` reads queued on ``reads.batch``."""
    loadavg0 = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="platestream-arrowbench-"))
    write_hotlist_csv(network_hotlist(opts, now_ms()), tmp / "hotlist.csv")
    if tree is not None:
        opts = replace(opts, worker_env=opts.worker_env | {"PYTHONPATH": str(Path(tree).resolve())})
    stack = Stack(opts, tmp, tmp / "hotlist.csv")
    try:
        stack.start_broker()
        stack.create_topics()
        queued = queue_reads(stack, opts, count, kafka_compression)
        print(f"{queued['reads']:,} reads in {queued['messages']} messages queued", file=sys.stderr, flush=True)
        result: dict[str, Any] = {
            "command": opts.command,
            "tree": str(tree) if tree else None,
            "workers": opts.workers,
            "partitions": stack.partitions,
            "batch": opts.batch,
            "kafka_compression": kafka_compression,
            **queued,
        }
        result["worker"] = run_workers(stack, opts, queued["reads"], timeout, tmp)
        for p in stack.workers:
            stop_process(p)
        result["machine"] = machine(loadavg0)
        return result
    finally:
        stack.close()
        if not opts.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


def alternate(
    opts: BenchOptions, count: int, trees: dict[str, Path | None], rounds: int, timeout: float = 600, **kw: Any
) -> list[dict]:
    """Each of ``trees`` (name -> checkout, None: this one) ``rounds`` times, alternating, on one broker: a
    before/after whose halves share the machine's state. ``kw`` per tree name: its ``kafka_compression``."""
    broker = Stack(opts, Path(tempfile.mkdtemp(prefix="platestream-arrowbroker-")), Path("unused"))
    try:
        broker.start_broker()
        runs = []
        for r in range(rounds):
            for name, tree in trees.items():
                res = run_arrow_bench(
                    replace(opts, bootstrap=broker.bootstrap), count, timeout, tree, kw.get(f"{name}_compression")
                )
                runs.append({"name": name, "round": r} | res)
                w = res["worker"]
                print(
                    f"round {r} {name}: {w['reads_per_s']} reads/s, {w['cpu_s_per_million_reads']} CPU s/M reads "
                    f"(load {os.getloadavg()[0]:.2f})",
                    file=sys.stderr,
                    flush=True,
                )
        return runs
    finally:
        broker.close()
        shutil.rmtree(broker.tmp, ignore_errors=True)
