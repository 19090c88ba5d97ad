"""The camera-facing JSON path measured through the real broker: one ``alpr_group`` event per Kafka message.

The events are made once and queued on ``reads.json`` (keyed by camera, on their camera's partition) before the
worker starts, so the producer costs the measurement nothing: the worker then works through the backlog at its own
pace, and the rate is counted from the first read it counts to the last (``platestream_reads_total`` plus the JSON
path's dead letters, from its ``/metrics``). The plain-Faust baseline and the Quix Streams peer
(``load_tests/quix_peer.py``, in the venv ``deploy/tools/quix.sh`` makes) get the same events on a topic of their
own, after the worker is stopped, and are counted the same way from their ``/count`` page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.clock import now_ms
from streams.config.settings import Settings
from streams.errors import PlatestreamError
from streams.kafka.camera_partition import camera_partition
from streams.kafka.client import client_config
from streams.loadtest.bench.hotlist import network_hotlist, write_hotlist_csv
from streams.loadtest.bench.options import QUIX_PEER, QUIX_PYTHON, QUIX_SCRIPT, REPO, BenchOptions
from streams.loadtest.bench.procs import cpu_seconds, free_port, http_get, prom_sum, status_kb, stop_process, wait_http
from streams.loadtest.bench.profile import start_profile, stop_profile
from streams.loadtest.bench.run import machine
from streams.loadtest.bench.stack import Stack
from streams.loadtest.generator import reads

SAMPLE_S = 0.1  # how often the counters are read while the backlog is worked through


def alpr_groups(t: pa.Table, agent: str = "bench-agent") -> list[tuple[bytes, bytes]]:
    """(camera key, ``alpr_group`` JSON) per read, in the shape a Rekor Scout agent posts (no images)."""
    d = t.to_pydict()
    t_ms = t["captured_at"].cast(pa.int64()).to_pylist()
    out = []
    for i in range(t.num_rows):
        plate, conf = d["plate"][i], round(float(d["confidence"][i]), 2)
        cands = [{"plate": plate, "confidence": conf, "matches_template": 0}]
        cands += [{"plate": c["plate"], "confidence": round(float(c["confidence"]), 2)} for c in d["candidates"][i]]
        doc = {
            "data_type": "alpr_group",
            "version": 2,
            "epoch_start": t_ms[i],
            "epoch_end": t_ms[i] + 150,
            "frame_start": i,
            "frame_end": i + 2,
            "company_id": "bench",
            "agent_uid": agent,
            "agent_version": "4.1.1",
            "agent_type": "alprd",
            "camera_id": d["camera_id"][i],
            "site_id": d["site_id"][i],
            "gps_latitude": 37.7,
            "gps_longitude": -122.4,
            "country": "us",
            "uuids": [d["read_id"][i]],
            "best_uuid": d["read_id"][i],
            "best_uuid_epoch_ms": t_ms[i],
            "best_plate_number": plate,
            "best_confidence": conf,
            "best_region": d["region"][i],
            "best_region_confidence": 88.1,
            "travel_direction": 180.0,
            "is_parked": False,
            "is_preview": False,
            "best_plate": {
                "plate": plate,
                "confidence": conf,
                "region": d["region"][i],
                "region_confidence": 88,
                "plate_index": 0,
                "processing_time_ms": 41.2,
                "candidates": cands,
                "coordinates": [{"x": 10, "y": 20}, {"x": 90, "y": 20}, {"x": 90, "y": 50}, {"x": 10, "y": 50}],
            },
            "vehicle": {"color": [{"name": "black", "confidence": 80.1}], "make": [{"name": "ford", "confidence": 70}]},
        }
        out.append((d["camera_id"][i].encode(), json.dumps(doc, separators=(",", ":")).encode()))
    return out


def make_events(opts: BenchOptions, count: int) -> list[tuple[bytes, bytes]]:
    table = next(reads(opts.seed, 0, 1, count, count, now_ms() - 120_000, realism=False))
    return alpr_groups(table)


def produce(bootstrap_settings: Any, topic: str, events: list[tuple[bytes, bytes]], partitions: int) -> float:
    """Queue every event on ``topic``, each on its camera's partition; seconds it took."""
    t0 = time.monotonic()
    producer = Producer(client_config(bootstrap_settings, {"linger.ms": 50, "compression.type": "lz4"}))
    parts: dict[bytes, int] = {}
    for key, value in events:
        part = parts.get(key)
        if part is None:
            part = parts[key] = camera_partition(key.decode(), partitions)
        while True:
            try:
                producer.produce(topic, value, key=key, partition=part)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("events not all delivered")
    return time.monotonic() - t0


class Counted(threading.Thread):
    """Samples ``count()`` and the summed CPU of ``pids()`` until ``target``: the figures from first count to last."""

    def __init__(self, count: Callable[[], int], pids: Callable[[], list[int]], target: int):
        super().__init__(daemon=True)
        self.count, self.pids, self.target = count, pids, target
        self.first: tuple[float, int, float] | None = None
        self.last: tuple[float, int, float] | None = None
        self.zero: tuple[float, int, float] | None = None  # the last sample that answered with nothing counted
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                pids = self.pids()
                n = self.count() if pids else 0
                cpu = sum(cpu_seconds(p) for p in pids)
            except OSError:
                pids, n, cpu = [], 0, 0.0
            sample = (time.monotonic(), n, cpu)
            if not n and pids and self.last is None:
                self.zero = sample
            if n:
                if self.first is None:
                    self.first = sample
                if self.last is None or n > self.last[1]:
                    self.last = sample
                if n >= self.target:
                    self.done.set()
            time.sleep(SAMPLE_S)

    def wait(self, timeout: float) -> None:
        self.done.wait(timeout)
        self.done.set()
        self.join(5)

    def figures(self) -> dict:
        start = self.first
        if start is not None and start == self.last and self.zero is not None:
            # The whole backlog landed in one sample (a small run): time it from the sample before, when nothing
            # was counted yet, which bounds the span within SAMPLE_S (and counts some idle time and CPU in it).
            start = self.zero
        if start is None or self.last is None or self.last[0] <= start[0]:
            # Nothing counted, or no sample before the one that counted it all: no span to time.
            counted = self.last[1] if self.last else 0
            return {
                "counted": counted,
                "complete": counted >= self.target,
                "reads_per_s": None,
                "cpu_s_per_million_reads": None,
            }
        (t0, n0, c0), (t1, n1, c1) = start, self.last
        return {
            "counted": n1,
            "complete": n1 >= self.target,
            "measured_reads": n1 - n0,
            "seconds": round(t1 - t0, 2),
            "reads_per_s": round((n1 - n0) / (t1 - t0)),
            "cpu_s_per_million_reads": round((c1 - c0) / (n1 - n0) * 1e6, 2),
            "cores": round((c1 - c0) / (t1 - t0), 2),
        }


def worker_counted(stack: Stack) -> int:
    text = stack.metrics(0)
    return int(prom_sum(text, "platestream_reads_total") + prom_sum(text, "platestream_dead_letters_total"))


def run_worker(stack: Stack, opts: BenchOptions, target: int, timeout: float, tmp: Path) -> dict:
    counter = Counted(lambda: worker_counted(stack), lambda: [stack.workers[0].pid] if stack.ports else [], target)
    counter.start()
    stack.start_workers()  # the backlog is worked through while the group settles: the counter sees it all
    spy = start_profile(stack.workers[0].pid, tmp / "worker0.pyspy") if opts.profile else None
    counter.wait(timeout)
    profile = stop_profile(spy, tmp / "worker0.pyspy") if opts.profile else {}
    text = stack.metrics(0)
    out = counter.figures()
    out |= {
        "good_reads": int(prom_sum(text, "platestream_reads_total")),
        "duplicates": int(prom_sum(text, "platestream_duplicate_reads_total")),
        "dead_letters": int(prom_sum(text, "platestream_dead_letters_total")),
        "peak_rss_mb": round(status_kb(stack.workers[0].pid, "VmHWM") / 1024),
        "profile": profile,
    }
    return out


def run_peer(
    stack: Stack, tmp: Path, name: str, module: list[str], env: dict[str, str], target: int, timeout: float
) -> dict:
    """A peer process (the Faust baseline or the Quix Streams job) on the queued topic; its ``/count`` page."""
    port = free_port()
    log = tmp / f"{name}.log"
    env = dict(os.environ, **env, BASELINE_WEB_PORT=str(port))
    proc = subprocess.Popen(module, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=tmp)  # noqa: SIM115

    def count() -> int:
        return int(json.loads(http_get(port, "/count"))["messages"])

    counter = Counted(count, lambda: [proc.pid], target=target)
    try:
        wait_http(port, "/count", proc, log)
        counter.start()
        counter.wait(timeout)
        out = counter.figures()
        out["counters"] = json.loads(http_get(port, "/count"))
        out["peak_rss_mb"] = round(status_kb(proc.pid, "VmHWM") / 1024)
        return out
    finally:
        stop_process(proc)


def peer_topic(stack: Stack, name: str, events: list[tuple[bytes, bytes]]) -> str:
    topic = stack.topic(name)
    admin = AdminClient(client_config(stack.settings()))
    for f in admin.create_topics([NewTopic(topic, stack.partitions, 1)]).values():
        f.result(30)
    produce(stack.settings(), topic, events, stack.partitions)
    return topic


def worker_dedup_window_s(opts: BenchOptions) -> float:
    """The de-duplication window the bench's worker runs with: its setting's default unless the run sets it."""
    default = Settings.model_fields["dedup_window_s"].default
    return float(opts.worker_env.get("PLATESTREAM_DEDUP_WINDOW_S", default))


def quix_command(quix_python: str | None, opts: BenchOptions) -> list[str]:
    python = Path(quix_python) if quix_python else QUIX_PYTHON
    if not python.exists():
        script = QUIX_SCRIPT.relative_to(REPO)
        raise PlatestreamError(f"{python} not found: run {script} to make the Quix Streams venv")
    return [str(python), str(QUIX_PEER), "--dedup-window-s", str(worker_dedup_window_s(opts))]


def summary_lines(result: dict, peers: list[str]) -> list[str]:
    """The run as a table: rate, CPU per million reads, cores and peak RSS of the worker and each peer."""
    lines = ["| who | counted | reads/s | CPU s per million | cores | peak RSS MB | worker / peer |", "|---" * 7 + "|"]
    for who in ["worker", *peers]:
        r = result.get(who, {})
        ratio = result["ratios"].get(who, "–")
        cols = [r.get(k, "–") for k in ("counted", "reads_per_s", "cpu_s_per_million_reads", "cores", "peak_rss_mb")]
        lines.append("| " + " | ".join(str(c) for c in [who, *cols, ratio]) + " |")
    return lines


def run_json_bench(
    opts: BenchOptions, events: int, peers: list[str], timeout: float = 600, quix_python: str | None = None
) -> dict:
    """The worker on ``events`` queued ``alpr_group`` messages, then each peer on the same events."""
    quix_cmd = quix_command(quix_python, opts) if "quix" in peers else []  # before the run: a missing venv fails fast
    loadavg0 = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="platestream-jsonbench-"))
    write_hotlist_csv(network_hotlist(opts, now_ms()), tmp / "hotlist.csv")
    stack = Stack(opts, tmp, tmp / "hotlist.csv")
    try:
        stack.start_broker()
        stack.create_topics()
        msgs = make_events(opts, events)
        produce_s = produce(stack.settings(), stack.topic("reads.json"), msgs, stack.partitions)
        print(f"{len(msgs):,} alpr_group events queued in {produce_s:.1f} s", file=sys.stderr, flush=True)
        result: dict[str, Any] = {"command": opts.command, "events": len(msgs), "partitions": stack.partitions}
        result["worker"] = run_worker(stack, opts, len(msgs), timeout, tmp)
        for p in stack.workers:
            stop_process(p)
        base_env = {"BASELINE_BOOTSTRAP": stack.bootstrap, "BASELINE_DATADIR": str(tmp / "peer")}
        base_env |= {"BASELINE_HOTLIST": str(stack.hotlist_csv), "BASELINE_PARTITIONS": str(stack.partitions)}
        if "faust" in peers:
            topic = peer_topic(stack, "faust.reads", msgs)
            cmd = [sys.executable, "-m", "streams.loadtest.baseline"]
            env = base_env | {"BASELINE_TOPIC": topic}
            result["faust"] = run_peer(stack, tmp, "faust", cmd, env, len(msgs), timeout)
        if "quix" in peers:
            topic = peer_topic(stack, "quix.reads", msgs)
            env = base_env | {"BASELINE_TOPIC": topic, "BASELINE_GROUP": stack.topic("quix")}
            result["quix"] = run_peer(stack, tmp, "quix", quix_cmd, env, len(msgs), timeout)
            result["quix"]["dedup_window_s"] = worker_dedup_window_s(opts)
        w, w_cpu = result["worker"]["reads_per_s"], result["worker"]["cpu_s_per_million_reads"]
        peer_figures = [(p, result.get(p, {})) for p in peers]
        # worker rate / peer rate (above 1: the worker is faster), and peer CPU per read / worker CPU per read
        result["ratios"] = {p: round(w / r["reads_per_s"], 2) for p, r in peer_figures if w and r.get("reads_per_s")}
        result["cpu_ratios"] = {
            p: round(r["cpu_s_per_million_reads"] / w_cpu, 2)
            for p, r in peer_figures
            if w_cpu and r.get("cpu_s_per_million_reads")
        }
        result["machine"] = machine(loadavg0)
        print("\n".join(summary_lines(result, peers)), file=sys.stderr, flush=True)
        return result
    finally:
        stack.close()
        if not opts.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)
