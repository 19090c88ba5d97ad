"""End-to-end benchmark through a real broker: throughput, capture-to-hit latency, and a plain-Faust baseline.

    .venv/bin/python load_tests/bench_e2e.py [--reads 2000000] [--baseline-reads 200000] [--no-profile]

On the local stack (deploy/local/kafka.sh, one KRaft broker), with ONE platestream worker (2 partitions, embedded
chDB, the synthetic network's hot list loaded from CSV):

1. Throughput: ``--reads`` synthetic reads are generated first, then produced as fast as possible with
   ``send_reads`` (Arrow IPC, ~``--batch`` rows per message). The worker's sustained rate is reads/s from the
   first poll of /metrics (every 0.2 s) that shows a read counted to the poll where ``platestream_reads_total``
   plus dead letters reaches the total. Worker CPU seconds and peak RSS come from /proc; the CPU of the broker
   JVM and of this (producing) process over the same span is reported too.
2. Profile (unless ``--no-profile``): ``--profile-reads`` more reads while py-spy samples the worker, to say
   which stage limits it. Kept apart from phase 1 so the sampler does not slow the measured run.
3. Latency: ``--lat-rate`` messages/s of ``--lat-rows`` reads each for ``--lat-seconds``, every read stamped
   ``captured_at`` = wall clock at send, each message carrying one hot-list read from a fresh camera (so it is
   never a duplicate). A consumer on the hits topic records, per hit, receive wall clock - captured_at into an
   HDR histogram.
4. Baseline: ``load_tests/baseline_worker.py`` (plain Faust, one JSON read per message, per-read Python) in its
   own process, fed ``--baseline-reads`` of the same synthetic reads as JSON; same sustained-rate measurement.

Prints a table and writes docs/bench/e2e.json (and docs/bench/e2e.png when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streams.config import Settings  # noqa: E402
from streams.synth import Synth, SynthConfig  # noqa: E402
from streams.transport.producer import make_producer, send_reads  # noqa: E402
from streams.transport.topics import topic_name  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PARTITIONS = 2


# ---------------------------------------------------------------- processes, /proc, HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read()


def _metric(text: str, name: str) -> float:
    """Sum of every sample of ``name`` (all label sets) in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or line.split("{")[0].split(" ")[0] != name:
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


def _worker_count(port: int) -> int:
    text = _get(port, "/metrics").decode()
    return int(_metric(text, "platestream_reads_total") + _metric(text, "platestream_dead_letters_total"))


def _baseline_count(port: int) -> int:
    return int(json.loads(_get(port, "/count"))["messages"])


def _cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _wait_http(port: int, path: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}; log {log}:\n{log.read_text()[-3000:]}")
        try:
            _get(port, path)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no answer on :{port}{path}; log {log}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sustained(count, total: int, pids: dict[str, int], timeout: float, poll_s: float = 0.2) -> dict:
    """Poll ``count()`` until it reaches ``total``; rate from the first non-zero poll to the last one."""
    cpu0 = {k: _cpu_s(p) for k, p in pids.items()}
    t_start = time.perf_counter()
    first = last = None
    n_first = n = 0
    deadline = t_start + timeout
    while time.perf_counter() < deadline:
        try:
            n = count()
        except OSError:
            pass
        now = time.perf_counter()
        if n and first is None:
            first, n_first = now, n
        if n >= total:
            last = now
            break
        time.sleep(poll_s)
    cpu = {k: round(_cpu_s(p) - cpu0[k], 2) for k, p in pids.items()}
    if first is None or last is None or last <= first:
        return {"complete": False, "counted": n, "expected": total, "cpu_seconds": cpu}
    return {
        "complete": True,
        "counted": n,
        "expected": total,
        "reads_per_s": round((n - n_first) / (last - first)),
        "seconds_first_to_last": round(last - first, 2),
        "seconds_from_start": round(last - t_start, 2),
        "cpu_seconds": cpu,
    }


# ---------------------------------------------------------------- data


def write_hotlist_csv(entries: pa.Table, path: Path) -> None:
    """``Synth.hotlist()`` as the NCIC-extract CSV the worker's loader accepts."""
    t = entries
    iso = {
        c: pc.strftime(t[c].cast(pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%S").to_pylist()
        for c in ("valid_from", "expires_at")
    }
    cols = ["entry_id", "plate", "state", "type", "reason", "record_number", "warrant_number", "entry_date"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*cols, "expires_at"])
        for i, r in enumerate(t.select(["entry_id", "plate", "region", "plate_type", "reason"]).to_pylist()):
            kind, basis = t["legal_basis_type"][i].as_py(), t["legal_basis"][i].as_py()
            rec, war = (basis, "") if kind == "record_number" else ("", basis)
            w.writerow(
                [r["entry_id"], r["plate"], r["region"], r["plate_type"], r["reason"], rec, war]
                + [iso["valid_from"][i], iso["expires_at"][i]]
            )


def _with_captured_at(t: pa.Table, ms: int) -> pa.Table:
    col = pa.array(np.full(t.num_rows, ms, np.int64)).cast(pa.timestamp("ms", tz="UTC"))
    return t.set_column(t.schema.get_field_index("captured_at"), "captured_at", col)


def _hot_row(template: pa.Table, entry: dict, camera: str, read_id: str) -> pa.Table:
    """One read of a hot-list plate: the first row of ``template`` with plate, region, camera and id replaced."""
    row = template.slice(0, 1)
    for name, value in (("plate", entry["plate"]), ("region", entry["region"]), ("camera_id", camera)):
        row = row.set_column(row.schema.get_field_index(name), name, pa.array([value], pa.string()))
    row = row.set_column(0, "read_id", pa.array([read_id], pa.string()))
    conf = row.schema.get_field_index("confidence")
    row = row.set_column(conf, "confidence", pa.array([95.0], row.schema.field(conf).type))
    return row.cast(template.schema)


def _json_reads(t: pa.Table) -> list[tuple[bytes, bytes]]:
    """(key, JSON value) per read: the platestream own-read JSON shape, captured_at in ms."""
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


# ---------------------------------------------------------------- phases


def produce_arrow(producer, settings: Settings, batches: list[pa.Table], max_rows: int) -> dict:
    t0 = time.perf_counter()
    messages = sum(send_reads(producer, settings, b, PARTITIONS, max_rows=max_rows) for b in batches)
    left = producer.flush(120)
    s = time.perf_counter() - t0
    reads = sum(b.num_rows for b in batches)
    return {
        "reads": reads,
        "messages": messages,
        "seconds": round(s, 2),
        "reads_per_s": round(reads / s),
        "unsent": left,
    }


def _start_spy(pid: int, raw: Path) -> subprocess.Popen | None:
    pyspy = Path(sys.executable).parent / "py-spy"
    if not pyspy.exists():
        return None
    return subprocess.Popen(
        [str(pyspy), "record", "--pid", str(pid), "--rate", "50", "--nonblocking", "--format", "raw"]
        + ["--output", str(raw), "--duration", "300"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop_spy(spy: subprocess.Popen | None, raw: Path) -> dict:
    if spy is None:
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    return _profile_summary(raw) if raw.exists() else {"error": "py-spy wrote nothing (ptrace not allowed?)"}


def _profile_summary(raw: Path, top: int = 15) -> dict:
    """py-spy raw (collapsed) stacks -> self-time by function and inclusive time of the pipeline's stages."""
    self_t: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = 0
    markers = {
        "decode_arrow (Arrow IPC read)": "decode_arrow",
        "Processor.process (core)": "process (streams/core/pipeline.py",
        "Worker.handle (sink thread: hits, dead letters, chDB)": "handle (streams/transport/worker.py",
        "write_aggregates (chDB inserts)": "write_aggregates",
        "write_expiry / tick": "tick (streams/transport/worker.py",
        "hits + dead letters to Kafka (produce/flush)": "_flush (streams/transport/worker.py",
        "aiokafka / faust consumer": "aiokafka",
        "hot-list follower thread": "hotlist_follower",
    }
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = stack.split(";")
        self_t[frames[-1]] += k
        for label, needle in markers.items():
            if needle in stack:
                stages[label] += k
    if not total:
        return {"samples": 0}

    def pct(c: Counter[str], n: int | None = None) -> dict:
        return {k: round(100 * v / total, 1) for k, v in c.most_common(n)}

    return {"samples": total, "stage_inclusive_pct": pct(stages), "self_pct_top": pct(self_t, top)}


def latency_phase(
    producer,
    settings: Settings,
    bootstrap: str,
    synth: Synth,
    hot: list[dict],
    rate: float,
    rows: int,
    seconds: float,
    port: int,
    worker_pid: int,
) -> dict:
    from confluent_kafka import Consumer
    from hdrh.histogram import HdrHistogram

    n_msgs = int(rate * seconds)
    pool = [synth.batch(rows) for _ in range(n_msgs)]
    hits_topic = topic_name(settings, "hits")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-lat-{os.getpid()}-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.subscribe([hits_topic])
    phase_start_ms = int(time.time() * 1000)
    received: list[tuple[float, dict]] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            m = consumer.poll(0.05)
            if m is None or m.error():
                continue
            received.append((time.time(), json.loads(m.value())))

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    try:
        time.sleep(3)  # join the group and reach the end of the throughput phase's hits
        injected: set[str] = set()
        text0 = _get(port, "/metrics").decode()
        count0 = _worker_count(port)
        cpu0 = _cpu_s(worker_pid)
        t0 = time.perf_counter()
        late = 0
        for i, batch in enumerate(pool):
            due = t0 + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            else:
                late += 1
            now_ms = int(time.time() * 1000)
            rid = f"lat-{i:06d}"
            injected.add(rid)
            msg = pa.concat_tables([batch, _hot_row(batch, hot[i % len(hot)], f"lat-cam-{i:05d}", rid)])
            send_reads(producer, settings, _with_captured_at(msg, now_ms), PARTITIONS)
        producer.flush(30)
        send_s = time.perf_counter() - t0
        # does the worker keep up? what it had counted when the last message left, and how long it took to catch up
        offered = sum(b.num_rows + 1 for b in pool)
        behind_at_end = offered - (_worker_count(port) - count0)
        drain = _sustained(lambda: _worker_count(port) - count0, offered, {}, timeout=120)
        busy_s = time.perf_counter() - t0
        worker_cpu = _cpu_s(worker_pid) - cpu0
        text1 = _get(port, "/metrics").decode()
        core_s = _metric(text1, "platestream_batch_seconds_sum") - _metric(text0, "platestream_batch_seconds_sum")
        core_n = _metric(text1, "platestream_batch_seconds_count") - _metric(text0, "platestream_batch_seconds_count")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = {h["read_id"] for _, h in received if h["read_id"] in injected}
            if len(got) >= len(injected):
                break
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        th.join(5)
        consumer.close()

    hist = HdrHistogram(1, 600_000_000, 3)  # microseconds, up to 10 minutes
    lat_ms = []
    injected_hits = set()
    for recv, h in received:
        cap = datetime.fromisoformat(h["read_time"]).timestamp()
        if cap * 1000 < phase_start_ms:
            continue  # a hit of the throughput phase (event time in the past)
        us = max(1, int((recv - cap) * 1e6))
        hist.record_value(us)
        lat_ms.append(us / 1000)
        if h["read_id"] in injected:
            injected_hits.add(h["read_id"])
    q = {p: round(hist.get_value_at_percentile(p) / 1000, 1) for p in (50, 90, 99, 99.9, 100)}
    return {
        "messages": n_msgs,
        "rows_per_message": round(offered / n_msgs),
        "target_rate_msgs_per_s": rate,
        "offered_reads_per_s": round(offered / send_s),
        "send_seconds": round(send_s, 2),
        "sends_behind_schedule": late,
        "worker_reads_behind_when_sending_ended": behind_at_end,
        "worker_caught_up_seconds_after_send": drain.get("seconds_from_start"),
        "worker_cpu_cores_busy": round(worker_cpu / busy_s, 2),
        "worker_reads_per_s_send_to_caught_up": round(offered / busy_s),
        "worker_messages": int(core_n),
        "worker_core_ms_per_message": round(1000 * core_s / max(1, core_n), 1),
        "hot_reads_injected": len(injected),
        "hot_reads_hit": len(injected_hits),
        "hits_measured": hist.get_total_count(),
        "latency_ms": {"p50": q[50], "p90": q[90], "p99": q[99], "p99.9": q[99.9], "max": q[100]},
        "_lat_ms": lat_ms,
    }


def baseline_phase(bootstrap: str, tmp: Path, csv_path: Path, reads: pa.Table, timeout: float) -> dict:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-baseline-{os.getpid()}.reads"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(30)
    port = _free_port()
    env = dict(
        os.environ,
        BASELINE_BOOTSTRAP=bootstrap,
        BASELINE_TOPIC=topic,
        BASELINE_WEB_PORT=str(port),
        BASELINE_DATADIR=str(tmp / "baseline"),
        BASELINE_HOTLIST=str(csv_path),
        BASELINE_PARTITIONS=str(PARTITIONS),
    )
    log = tmp / "baseline.log"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "load_tests" / "baseline_worker.py")],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    try:
        _wait_http(port, "/count", proc, log)
        time.sleep(4)  # the agent's consumer joins its group
        msgs = _json_reads(reads)
        producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 50, "queue.buffering.max.messages": 1_000_000}
        )
        cpu0 = _cpu_s(proc.pid)
        result: dict = {}

        def run() -> None:
            result.update(_sustained(lambda: _baseline_count(port), len(msgs), {"baseline": proc.pid}, timeout))

        th = threading.Thread(target=run)
        th.start()
        t0 = time.perf_counter()
        for key, value in msgs:
            while True:
                try:
                    producer.produce(topic, value, key=key)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(60)
        produce_s = time.perf_counter() - t0
        th.join()
        result["produce"] = {
            "reads": len(msgs),
            "seconds": round(produce_s, 2),
            "reads_per_s": round(len(msgs) / produce_s),
        }
        result["worker_cpu_seconds"] = round(_cpu_s(proc.pid) - cpu0, 2)
        result["cpu_s_per_million_reads"] = round(result["worker_cpu_seconds"] / len(msgs) * 1e6, 1)
        result["peak_rss_mb"] = round(_status_kb(proc.pid, "VmHWM") / 1024)
        result["counters"] = json.loads(_get(port, "/count"))
        return result
    finally:
        _stop(proc)


# ---------------------------------------------------------------- main


def _plot(result: dict, lat_ms: list[float], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["platestream\n(Arrow batches)", "baseline\n(Faust, 1 JSON/msg)"]
    rates = [result["throughput"]["worker"].get("reads_per_s", 0), result["baseline"].get("reads_per_s", 0)]
    a.bar(names, rates, color=["#2b6cb0", "#a0aec0"])
    a.axhline(1_000_000, color="#c53030", ls="--", lw=1)
    a.text(0.5, 1_000_000, " goal 1M reads/s", color="#c53030", va="bottom", ha="center")
    a.set_ylabel("sustained reads/s (1 worker)")
    a.set_title("End-to-end throughput")
    for i, r in enumerate(rates):
        a.text(i, r, f"{r:,}", ha="center", va="bottom")
    if lat_ms:
        xs = np.sort(np.array(lat_ms))
        b.plot(xs, np.arange(1, len(xs) + 1) / len(xs))
        b.axvline(1000, color="#c53030", ls="--", lw=1)
        b.set_xscale("log")
    b.set_xlabel("capture-to-hit latency (ms, log)")
    b.set_ylabel("share of hits")
    lat = result["latency"]
    b.set_title(f"Latency at {lat['offered_reads_per_s']:,} reads/s: p99 {lat['latency_ms']['p99']} ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=2_000_000)
    ap.add_argument("--batch", type=int, default=50_000, help="rows per Arrow message")
    ap.add_argument("--profile-reads", type=int, default=1_000_000)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--profile-latency", action="store_true", help="also sample the worker during phase 3")
    ap.add_argument("--lat-rate", type=float, default=20.0, help="messages/s in the latency phase")
    ap.add_argument("--lat-rows", type=int, default=5_000)
    ap.add_argument("--lat-seconds", type=float, default=15.0)
    ap.add_argument("--baseline-reads", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "e2e.json")
    args = ap.parse_args()
    wall0 = time.perf_counter()

    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    kafka = REPO / "deploy" / "local" / "kafka.sh"
    started = subprocess.run([str(kafka), "start", str(tmp / "kafka")], check=True, capture_output=True, text=True)
    bootstrap = started.stdout.strip().splitlines()[-1]
    broker_pid = int((tmp / "kafka" / "pid").read_text().strip())
    prefix = f"bench{os.getpid()}."
    procs: list[subprocess.Popen] = []
    ok = False
    try:
        now = int(time.time() * 1000)
        # event time: 10,000 passages/s (16,000 reads/s) starting 5 minutes ago, so every read is inside the
        # worker's validity window (max 300 s in the future, 7 days in the past) for the whole run
        synth = Synth(SynthConfig(start_ms=now - 300_000, passages_per_second=10_000.0))
        entries = synth.hotlist(now)
        csv_path = tmp / "hotlist.csv"
        write_hotlist_csv(entries, csv_path)
        ok_entry = pc.and_(
            pc.not_equal(entries["legal_basis"], ""), pc.greater(entries["expires_at"].cast(pa.int64()), now)
        )
        hot = entries.filter(ok_entry).select(["plate", "region"]).to_pylist()

        env = dict(
            os.environ,
            PLATESTREAM_KAFKA_BOOTSTRAP=bootstrap,
            PLATESTREAM_TOPIC_PREFIX=prefix,
            PLATESTREAM_PARTITIONS=str(PARTITIONS),
            PLATESTREAM_HOTLIST_PATH=str(csv_path),
            PLATESTREAM_CHDB_PATH=str(tmp / "w0" / "chdb"),
        )
        settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, partitions=PARTITIONS)
        cli = [sys.executable, "-m", "streams.cli"]
        subprocess.run([*cli, "topics", "create"], env=env, check=True, capture_output=True, cwd=REPO)
        port = _free_port()
        log = tmp / "w0.log"
        worker = subprocess.Popen(
            [*cli, "worker", "--loglevel", "warn"],
            env=dict(env, PLATESTREAM_WEB_PORT=str(port)),
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        procs.append(worker)

        # generate while the worker starts
        t0 = time.perf_counter()
        batches = list(synth.batches(args.reads, 500_000))
        gen_s = time.perf_counter() - t0
        prof_batches = [] if args.no_profile else list(synth.batches(args.profile_reads, 500_000))
        _wait_http(port, "/health", worker, log)
        for _ in range(200):
            if json.loads(_get(port, "/health"))["hotlist_entries"] > 0:
                break
            time.sleep(0.3)
        time.sleep(4)  # the agents' consumers join the group and get their partitions
        rss_idle = _status_kb(worker.pid, "VmRSS")
        health0 = json.loads(_get(port, "/health"))
        print(f"worker up: {health0['hotlist_entries']} hot-list entries; producing {args.reads:,} reads", flush=True)

        # ---- phase 1: throughput
        producer = make_producer(settings)
        n_total = sum(b.num_rows for b in batches)
        me = os.getpid()
        measured: dict = {}

        def watch() -> None:
            pids = {"worker": worker.pid, "broker_jvm": broker_pid, "bench_producer": me}
            measured.update(_sustained(lambda: _worker_count(port), n_total, pids, timeout=180))

        worker_cpu0 = _cpu_s(worker.pid)
        watcher = threading.Thread(target=watch)
        watcher.start()
        produced = produce_arrow(producer, settings, batches, args.batch)
        watcher.join()
        worker_cpu = _cpu_s(worker.pid) - worker_cpu0
        text = _get(port, "/metrics").decode()
        counts = {
            k: int(_metric(text, f"platestream_{k}_total"))
            for k in ("reads", "dead_letters", "duplicate_reads", "hits", "alerts")
        }
        throughput = {
            "produce": produced,
            "worker": measured,
            "worker_cpu_seconds": round(worker_cpu, 2),
            "worker_cpu_s_per_million_reads": round(worker_cpu / n_total * 1e6, 2),
            "worker_peak_rss_mb": round(_status_kb(worker.pid, "VmHWM") / 1024),
            "worker_rss_before_mb": round(rss_idle / 1024),
            "counters": counts,
            "batch_seconds_mean": round(
                _metric(text, "platestream_batch_seconds_sum")
                / max(1, _metric(text, "platestream_batch_seconds_count")),
                4,
            ),
        }
        print(json.dumps(throughput, indent=2), flush=True)
        del batches

        # ---- phase 2: profile
        profile: dict = {}
        if prof_batches:
            base = _worker_count(port)
            spy = _start_spy(worker.pid, tmp / "worker.pyspy.txt")
            time.sleep(1)
            prof_total = base + sum(b.num_rows for b in prof_batches)
            produce_arrow(producer, settings, prof_batches, args.batch)
            _sustained(lambda: _worker_count(port), prof_total, {"worker": worker.pid}, timeout=120)
            profile = _stop_spy(spy, tmp / "worker.pyspy.txt")
            del prof_batches
            print(json.dumps(profile, indent=2), flush=True)

        # ---- phase 3: capture-to-hit latency
        lat_producer = make_producer(settings, **{"linger.ms": 5})
        spy = _start_spy(worker.pid, tmp / "latency.pyspy.txt") if args.profile_latency else None
        latency = latency_phase(
            lat_producer,
            settings,
            bootstrap,
            synth,
            hot,
            args.lat_rate,
            args.lat_rows,
            args.lat_seconds,
            port,
            worker.pid,
        )
        lat_ms = latency.pop("_lat_ms")
        if args.profile_latency:
            latency["profile_while_measuring"] = _stop_spy(spy, tmp / "latency.pyspy.txt")
        latency["producer_linger_ms"] = 5
        print(json.dumps(latency, indent=2), flush=True)
        worker_peak = round(_status_kb(worker.pid, "VmHWM") / 1024)
        _stop(worker)

        # ---- phase 4: baseline
        base_reads = Synth(SynthConfig(start_ms=int(time.time() * 1000) - 300_000, passages_per_second=10_000.0))
        base_table = pa.concat_tables(list(base_reads.batches(args.baseline_reads, 100_000)))
        baseline = baseline_phase(bootstrap, tmp, csv_path, base_table, timeout=150)
        print(json.dumps(baseline, indent=2), flush=True)

        p_rate = throughput["worker"].get("reads_per_s", 0)
        b_rate = baseline.get("reads_per_s", 0)
        result = {
            "command": " ".join(["python", "load_tests/bench_e2e.py", *sys.argv[1:]]),
            "machine": {
                "cpus": os.cpu_count(),
                "cpu_model": next(
                    (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), ""
                ),
                "python": platform.python_version(),
                "pyarrow": pa.__version__,
                "numpy": np.__version__,
                "date": time.strftime("%Y-%m-%d"),
                "commit": subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
                ).stdout.strip(),
                "loadavg_end": os.getloadavg(),
            },
            "setup": {
                "broker": "deploy/local/kafka.sh, one KRaft broker on the same machine",
                "workers": 1,
                "partitions": PARTITIONS,
                "store": "embedded chDB",
                "hotlist_entries": health0["hotlist_entries"],
                "rows_per_message": args.batch,
                "generate_seconds": round(gen_s, 2),
            },
            "throughput": throughput,
            "profile": profile,
            "latency": latency,
            "worker_peak_rss_mb_end": worker_peak,
            "baseline": baseline,
            "ratio_platestream_over_baseline": round(p_rate / b_rate, 1) if b_rate else None,
            "goals": {
                "throughput_reads_per_s": 1_000_000,
                "throughput_met": p_rate >= 1_000_000,
                "p99_capture_to_hit_ms_at_half_load": 1000,
                "latency_measured_at_reads_per_s": latency["offered_reads_per_s"],
            },
            "wall_seconds": round(time.perf_counter() - wall0, 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        plotted = _plot(result, lat_ms, args.out.with_suffix(".png"))
        w = throughput["worker"]
        rows = [
            ("produce (send_reads, Arrow IPC zstd)", f"{produced['reads_per_s']:,} reads/s"),
            ("platestream worker, sustained", f"{p_rate:,} reads/s" if w.get("complete") else f"INCOMPLETE {w}"),
            ("  worker CPU per million reads", f"{throughput['worker_cpu_s_per_million_reads']} s"),
            ("  CPU s during run (worker/broker/producer)", str(w.get("cpu_seconds"))),
            ("  worker peak RSS", f"{throughput['worker_peak_rss_mb']} MB"),
            (
                "capture-to-hit p50 / p99 / p99.9",
                f"{latency['latency_ms']['p50']} / {latency['latency_ms']['p99']} / {latency['latency_ms']['p99.9']} ms"
                f" at {latency['offered_reads_per_s']:,} reads/s",
            ),
            ("baseline (Faust, 1 JSON read/msg)", f"{b_rate:,} reads/s"),
            ("  baseline CPU per million reads", f"{baseline.get('cpu_s_per_million_reads')} s"),
            ("platestream / baseline", f"{result['ratio_platestream_over_baseline']}x"),
        ]
        print()
        for k, v in rows:
            print(f"{k:<46} {v}")
        print(f"\nwrote {args.out}" + (f" and {args.out.with_suffix('.png')}" if plotted else ""))
        print(f"wall time {result['wall_seconds']} s")
        ok = True
    finally:
        for p in procs:
            _stop(p)
        subprocess.run([str(kafka), "stop", str(tmp / "kafka")], capture_output=True)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
