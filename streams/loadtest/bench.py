"""`platestream load bench`: the pipeline end to end on the local stack, at one load level or a ramp of them.

One run: a real broker (deploy/local/kafka.sh, or ``--bootstrap``), declared topics, ``--workers`` real workers
(``platestream worker``, embedded chDB each) holding a hot list; then, level by level, synthetic reads at a
token-bucket rate (``streams.loadtest.generator``) as Arrow IPC messages to ``reads.batch``. Per level it reports
the achieved input rate, the processed rate (the workers' own counters on ``/metrics``), the consumer group's lag
(end offsets minus committed offsets, sampled) and its growth, capture-to-hit latency (HDR histogram of probe reads)
and CPU per million reads. Alongside: hot-list clear propagation (clear events published during the load; time
until every worker's ``/health`` shows them applied), peak RSS per worker, a py-spy profile of one worker, and the
same reads as one JSON read per message through a plain Faust agent (``streams/loadtest/baseline.py``) for the ratio.

The benchmark talks to the workers only through their CLI, topics, ``/metrics`` and ``/health``.
"""

from __future__ import annotations

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.errors import PlatestreamError

REPO = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"
CLI = [sys.executable, "-m", "streams.cli.app"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE_PREFIX = "bench-p"
CLEAR_PREFIX = "BENCHCLR"
DAY_MS = 86_400_000
BUSY_LOADAVG = 1.5  # above this at the start, the run says its figures are not the machine's own


@dataclass
class BenchOptions:
    levels: list[float]  # offered reads/s, one per level
    step_seconds: float = 30.0
    workers: int = 1
    partitions: int | None = None  # default: 2 per worker
    bootstrap: str | None = None  # None: start deploy/local/kafka.sh
    batch: int = 50_000  # reads per generated table (as `platestream load run --batch`), split by partition
    probes_per_batch: int = 25  # hot-list reads stamped at send time, one per camera of their own
    lag_tolerance_s: float = 1.0
    clear_entries: int = 10_000
    clear_interval_s: float = 0.5
    baseline_reads: int = 200_000
    profile: bool = True
    stop_after_unsustained: int = 1
    seed: int = 7
    drain_timeout_s: float = 180.0
    out: Path = REPO / "docs" / "bench"
    name: str = "e2e"
    command: str = ""
    keep_logs: bool = False


# ---------------------------------------------------------------- processes, /proc, HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read()


def prom_sum(text: str, name: str, label: str = "") -> float:
    """Sum of every sample of ``name`` in a Prometheus text page (only samples whose labels contain ``label``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or line.split("{")[0].split(" ")[0] != name:
            continue
        if label and label not in line:
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(port: int, path: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PlatestreamError(f"process exited with {proc.returncode}; log {log}:\n{log.read_text()[-3000:]}")
        try:
            http_get(port, path, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise PlatestreamError(f"no answer on :{port}{path} within {timeout} s; log {log}")


def percentiles_ms(values_us: list[int]) -> dict[str, Any]:
    """p50 / p90 / p99 / p99.9 / max of microsecond values through an HDR histogram (3 significant digits), in ms."""
    from hdrh.histogram import HdrHistogram

    hist = HdrHistogram(1, 3_600_000_000, 3)  # 1 us .. 1 h
    for v in values_us:
        hist.record_value(max(1, min(int(v), 3_600_000_000)))
    if not values_us:
        return {"count": 0}
    q = {k: round(hist.get_value_at_percentile(p) / 1000, 1) for k, p in (("p50", 50), ("p90", 90), ("p99", 99))}
    q["p99.9"] = round(hist.get_value_at_percentile(99.9) / 1000, 1)
    q["max"] = round(hist.get_max_value() / 1000, 1)
    return {"count": len(values_us), **q}


# ---------------------------------------------------------------- hot list


def random_entries(n: int, now_ms: int, prefix: str = CLEAR_PREFIX, seed: int = 1) -> pa.Table:
    """``n`` admitted entries of a plate format the synthetic cameras never read (2 letters, 5 digits)."""
    from streams.loadtest.arrow_strings import symbol_strings
    from streams.model.hotlist import ENTRY_SCHEMA

    rng = np.random.default_rng(seed)
    sym = np.zeros((n, 12), np.uint8)
    sym[:, 0:2] = rng.integers(11, 37, (n, 2))
    sym[:, 2:7] = rng.integers(1, 11, (n, 5))
    const = lambda v: pa.array([v], pa.string()).take(pa.array(np.zeros(n, np.int32)))  # noqa: E731
    ts = lambda v: pa.array(np.full(n, v, np.int64)).cast(pa.timestamp("ms", tz="UTC"))  # noqa: E731
    return pa.table(
        {
            "entry_id": pa.array(np.char.add(prefix, np.arange(n).astype(str)).astype(object), pa.string()),
            "plate": symbol_strings(sym),
            "region": const("CA"),
            "plate_type": const("PC"),
            "reason": const("stolen_vehicle"),
            "legal_basis_type": const("record_number"),
            "legal_basis": const("NCIC0000001"),
            "agency": const("CA0000000"),
            "entered_by": const("bench"),
            "source": const("ncic_extract"),
            "valid_from": ts(now_ms - DAY_MS),
            "expires_at": ts(now_ms + 20 * DAY_MS),
        },
        schema=ENTRY_SCHEMA,
    )


def write_hotlist_csv(entries: pa.Table, path: Path) -> None:
    """Entries (``ENTRY_SCHEMA``) as the NCIC-extract CSV that ``platestream worker`` loads at start."""
    import pyarrow.csv as pacsv

    iso = {
        c: pc.strftime(entries[c].cast(pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%S")
        for c in ("valid_from", "expires_at")
    }
    warrant = pc.equal(entries["legal_basis_type"], "warrant")
    empty = pa.scalar("", pa.string())
    table = pa.table(
        {
            "entry_id": entries["entry_id"],
            "plate": entries["plate"],
            "state": entries["region"],
            "type": entries["plate_type"],
            "reason": entries["reason"],
            "record_number": pc.if_else(warrant, empty, entries["legal_basis"]),
            "warrant_number": pc.if_else(warrant, entries["legal_basis"], empty),
            "entry_date": iso["valid_from"],
            "expires_at": iso["expires_at"],
        }
    )
    pacsv.write_csv(table, path)


def admitted_plates(entries: pa.Table, now_ms: int) -> list[dict]:
    """(plate, region) of entries that will match: a legal basis and not expired."""
    ok = pc.and_(pc.not_equal(entries["legal_basis"], ""), pc.greater(entries["expires_at"].cast(pa.int64()), now_ms))
    return entries.filter(ok).select(["plate", "region"]).to_pylist()


# ---------------------------------------------------------------- the stack


class Stack:
    """Broker (started here unless given), topics, workers on embedded chDB. ``close()`` stops what it started."""

    def __init__(self, opts: BenchOptions, tmp: Path, hotlist_csv: Path):
        self.opts = opts
        self.tmp = tmp
        self.prefix = f"bench{os.getpid()}x{int(time.time()) % 100_000}."
        self.partitions = opts.partitions or 2 * opts.workers
        self.broker_pid: int | None = None
        self.started_broker = False
        self.workers: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.logs: list[Path] = []
        self.hotlist_csv = hotlist_csv
        self.bootstrap = opts.bootstrap or ""

    def start_broker(self) -> None:
        if self.bootstrap:
            return
        if not KAFKA_SCRIPT.exists():
            raise PlatestreamError(f"{KAFKA_SCRIPT} not found: run from a checkout, or give --bootstrap HOST:PORT")
        proc = subprocess.run(
            [str(KAFKA_SCRIPT), "start", str(self.tmp / "kafka")], capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise PlatestreamError(f"local Kafka did not start:\n{proc.stderr[-3000:]}")
        self.started_broker = True
        self.bootstrap = proc.stdout.strip().splitlines()[-1]
        self.broker_pid = int((self.tmp / "kafka" / "pid").read_text().strip())

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PLATESTREAM_")}
        env.pop("CLICKHOUSE_URL", None)  # always the embedded store: the benchmark measures the local stack
        env.update(
            PLATESTREAM_KAFKA_BOOTSTRAP=self.bootstrap,
            PLATESTREAM_TOPIC_PREFIX=self.prefix,
            PLATESTREAM_PARTITIONS=str(self.partitions),
            PLATESTREAM_HOTLIST_PATH=str(self.hotlist_csv),
        )
        return env

    def settings(self) -> Any:
        from streams.config.settings import Settings

        return Settings(kafka_bootstrap=self.bootstrap, topic_prefix=self.prefix, partitions=self.partitions)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def create_topics(self) -> None:
        proc = subprocess.run(
            [*CLI, "topics", "create"], env=self.env(), capture_output=True, text=True, cwd=self.tmp, timeout=120
        )
        if proc.returncode != 0:
            raise PlatestreamError(f"platestream topics create failed:\n{proc.stderr[-3000:]}")

    def start_workers(self) -> None:
        for i in range(self.opts.workers):
            port = free_port()
            log = self.tmp / f"worker{i}.log"
            env = dict(self.env(), PLATESTREAM_WEB_PORT=str(port), PLATESTREAM_CHDB_PATH=str(self.tmp / f"w{i}/chdb"))
            self.workers.append(
                subprocess.Popen(
                    [*CLI, "worker", "--loglevel", "warn"],
                    env=env,
                    stdout=open(log, "w"),  # noqa: SIM115 - the child holds it
                    stderr=subprocess.STDOUT,
                    cwd=self.tmp,
                )
            )
            self.ports.append(port)
            self.logs.append(log)
        for proc, port, log in zip(self.workers, self.ports, self.logs, strict=True):
            wait_http(port, "/health", proc, log, timeout=600)
        self.wait_group_stable()

    def wait_group_stable(self, timeout: float = 90) -> None:
        """Until every worker is a member of the group and every ``reads.batch`` partition is assigned."""
        from confluent_kafka import ConsumerGroupState
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        group, topic = f"{self.prefix}worker", self.topic("reads.batch")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                (desc,) = [f.result(10) for f in admin.describe_consumer_groups([group]).values()]
                parts = {
                    tp.partition
                    for m in desc.members
                    for tp in (m.assignment.topic_partitions if m.assignment else [])
                    if tp.topic == topic
                }
                if (
                    desc.state == ConsumerGroupState.STABLE
                    and len(desc.members) == len(self.workers)
                    and parts == set(range(self.partitions))
                ):
                    return
            except Exception:  # noqa: BLE001 - the group may not exist yet
                pass
            time.sleep(0.5)
        raise PlatestreamError(f"workers did not join consumer group {group} within {timeout} s")

    def health(self, i: int) -> dict:
        return json.loads(http_get(self.ports[i], "/health"))

    def metrics(self, i: int) -> str:
        return http_get(self.ports[i], "/metrics").decode()

    def close(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            stop_process(p)
        if self.started_broker:
            subprocess.run([str(KAFKA_SCRIPT), "stop", str(self.tmp / "kafka")], capture_output=True, timeout=120)


# ---------------------------------------------------------------- measurement threads


class Sampler(threading.Thread):
    """Every ``every`` seconds: reads sent, reads processed per worker, group lag, CPU and RSS per process."""

    def __init__(self, stack: Stack, sent: Callable[[], int], every: float = 0.5, extra_pids: dict | None = None):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer, TopicPartition

        self.stack, self.sent, self.every = stack, sent, every
        self.extra_pids = extra_pids or {}
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self.topic = stack.topic("reads.batch")
        # committed() only reads the group's offsets: this consumer never subscribes, so never joins the group
        self.offsets = Consumer(
            {"bootstrap.servers": stack.bootstrap, "group.id": f"{stack.prefix}worker", "enable.auto.commit": False}
        )
        self.tps = [TopicPartition(self.topic, p) for p in range(stack.partitions)]
        self.dedup_max = [0] * len(stack.workers)

    def lag(self) -> int | None:
        try:
            committed = self.offsets.committed(self.tps, timeout=5)
            lag = 0
            for tp in committed:
                end = self.offsets.get_watermark_offsets(tp, timeout=5, cached=False)[1]
                lag += end - (tp.offset if tp.offset >= 0 else 0)
            return lag
        except Exception:  # noqa: BLE001 - a missed sample, not a failed run
            return None

    def processed(self) -> list[int]:
        out = []
        for i in range(len(self.stack.workers)):
            text = self.stack.metrics(i)
            good = prom_sum(text, "platestream_reads_total")
            dead = prom_sum(text, "platestream_dead_letters_total", 'source="reads.batch"')
            out.append(int(good + dead))
            self.dedup_max[i] = max(self.dedup_max[i], int(prom_sum(text, "platestream_dedup_state_reads")))
        return out

    def sample(self) -> dict:
        t = time.monotonic()
        sent = self.sent()
        processed = self.processed()
        pids = {f"worker{i}": p.pid for i, p in enumerate(self.stack.workers)} | self.extra_pids
        cpu = {k: cpu_seconds(p) for k, p in pids.items()}
        return {"t": t, "sent": sent, "processed": processed, "lag_messages": self.lag(), "cpu": cpu}

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append(self.sample())
            except OSError:
                pass
            self._halt.wait(self.every)

    def stop(self) -> None:
        if not self._halt.is_set():
            self._halt.set()
            if self.is_alive():
                self.join(30)
            self.offsets.close()


class HitWatcher(threading.Thread):
    """Reads the hits topic; for every probe read's hit, receive time minus the read's ``read_time``."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer

        self.consumer = Consumer(
            {
                "bootstrap.servers": stack.bootstrap,
                "group.id": f"{stack.prefix}bench-hits-{time.time_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # the broker answers a fetch as soon as data is there; a longer wait only spares it idle polls
                "fetch.wait.max.ms": 100,
            }
        )
        self.consumer.subscribe([stack.topic("hits")])
        self.latency_us: dict[str, int] = {}  # probe read id -> capture-to-hit microseconds
        self.hits = 0
        self._halt = threading.Event()
        self._needle = f'"{PROBE_PREFIX}'.encode()

    def run(self) -> None:
        from datetime import datetime

        while not self._halt.is_set():
            for m in self.consumer.consume(500, 0.05):
                if m.error():
                    continue
                now = time.time()
                self.hits += 1
                value = m.value()
                if self._needle not in value:
                    continue
                h = json.loads(value)
                rid = h["read_id"]
                if rid.startswith(PROBE_PREFIX) and rid not in self.latency_us:
                    cap = datetime.fromisoformat(h["read_time"]).timestamp()
                    self.latency_us[rid] = int((now - cap) * 1e6)

    def stop(self) -> None:
        if not self._halt.is_set():
            self._halt.set()
            if self.is_alive():
                self.join(10)
            self.consumer.close()


class ClearWatcher(threading.Thread):
    """Publishes one hot-list clear at a time; for each, the time until every worker's /health shows it applied.

    ``applied_ms``: the worker's own clock when its follower applied the event (``hotlist_applied_at_ms``) minus
    the publish time, the slowest worker; ``observed_ms``: until this process saw it on every /health.
    """

    def __init__(self, stack: Stack, entry_ids: list[str], interval_s: float, level: Callable[[], int]):
        super().__init__(daemon=True)
        from confluent_kafka import Producer

        self.stack, self.entry_ids, self.interval_s, self.level = stack, entry_ids, interval_s, level
        self.producer = Producer({"bootstrap.servers": stack.bootstrap, "enable.idempotence": True, "linger.ms": 0})
        self.results: list[dict] = []
        self._halt = threading.Event()

    def clear_one(self, entry_id: str) -> dict:
        from streams.ingest.hotlist_events import clear_event

        delivered: list[Any] = []
        at_ms = int(time.time() * 1000)
        value = clear_event(entry_id, "recovered", "bench", at_ms)
        value = value if isinstance(value, bytes) else json.dumps(value).encode()
        level = self.level()
        t0 = time.perf_counter()
        self.producer.produce(
            self.stack.topic("hotlist.events"),
            value,
            key=entry_id.encode(),
            on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())),
        )
        self.producer.flush(10)
        if not delivered or delivered[0][0] is not None:
            return {"level": level, "error": f"not delivered: {delivered}"}
        _, part, offset = delivered[0]
        pending = set(range(len(self.stack.workers)))
        applied_at: list[int] = []
        deadline = t0 + 30
        while pending and time.perf_counter() < deadline:  # a clear already published is seen through
            for i in list(pending):
                try:
                    h = self.stack.health(i)
                except OSError:
                    continue
                if h["hotlist_offsets"].get(str(part), 0) > offset:
                    pending.discard(i)
                    applied_at.append(int(h.get("hotlist_applied_at_ms") or 0))
            if pending:
                time.sleep(0.005)
        observed_ms = (time.perf_counter() - t0) * 1000
        if pending:
            return {"level": level, "error": f"not applied by {len(pending)} worker(s) within 30 s"}
        return {"level": level, "observed_ms": round(observed_ms, 1), "applied_ms": max(applied_at) - at_ms}

    def run(self) -> None:
        for entry_id in self.entry_ids:
            if self._halt.is_set():
                break
            self.results.append(self.clear_one(entry_id))
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(60)


# ---------------------------------------------------------------- profile


PROFILE_RATE = 20  # samples per second: light enough to leave on during the whole load


def start_profile(pid: int, raw: Path) -> tuple[subprocess.Popen, float] | None:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        return None
    cmd = [pyspy, "record", "--pid", str(pid), "--rate", str(PROFILE_RATE), "--nonblocking", "--threads"]
    cmd += ["--format", "raw", "--output", str(raw), "--duration", "3600"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), time.monotonic()


def stop_profile(spy: tuple[subprocess.Popen, float] | None, raw: Path) -> dict:
    if spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    proc, t0 = spy
    seconds = time.monotonic() - t0
    proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not raw.exists():
        return {"error": "py-spy wrote nothing (ptrace not allowed?)"}
    return profile_summary(raw, seconds)


# Stages of the worker as they show in its stacks; a name that changes only drops out of this table, the
# per-thread and self-time lists stay.
STAGE_MARKERS = {
    "decode (Arrow IPC read)": "decode_arrow",
    "core (Processor.process)": "process (streams/core/pipeline.py",
    "sink: hits + dead letters to Kafka": "_flush (streams/worker/app.py",
    "sink: ClickHouse aggregates": "write_aggregates",
    "retention clock (tick)": "tick (streams/worker/app.py",
    "Kafka consumer (aiokafka)": "aiokafka",
    "event loop waiting (select)": "select (selectors.py",
}


def profile_summary(raw: Path, seconds: float, top: int = 12) -> dict:
    """py-spy raw stacks (``--threads``) as shares of wall time: per thread (how busy each was), per stage
    (inclusive), per function (self). py-spy leaves out threads it sees idle, so shares below 1.0 are idle time."""
    by_thread: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    self_t: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[1] if ": " in frames[0] else "unnamed"
        name = "".join(c for c in thread if not c.isdigit()).rstrip("_ -") or thread
        unnamed = name == "unnamed" or name.startswith("Thread")  # Python's default names: Thread-N (target)
        by_thread["other threads (Faust, aiokafka)" if unnamed else name] += k
        self_t[frames[-1]] += k
        for label, needle in STAGE_MARKERS.items():
            if needle in stack:
                stages[label] += k
    possible = max(1.0, seconds * PROFILE_RATE)  # samples one always-busy thread would give

    def share(c: Counter[str], n: int | None = None) -> dict:
        return {k: round(v / possible, 3) for k, v in c.most_common(n)}

    return {
        "seconds": round(seconds, 1),
        "samples": total,
        "thread_busy_share": share(by_thread),
        "stage_share": share(stages),
        "self_share_top": share(self_t, top),
    }


# ---------------------------------------------------------------- the load


def probe_rows(template: pa.Table, hot: list[dict], first: int, n: int, level: int, now_ms: int) -> pa.Table:
    """``n`` reads of hot-list plates stamped ``now_ms``, each from a camera of its own (so never a duplicate).

    Read ids are ``bench-p<level>-<serial>``: the hits they cause are how capture-to-hit latency is measured.
    """
    rows = template.slice(0, 1).take(pa.array(np.zeros(n, np.int32)))
    serial = range(first, first + n)
    values = {
        "read_id": [f"{PROBE_PREFIX}{level:02d}-{k:07d}" for k in serial],
        "camera_id": [f"bench-probe-{k}" for k in serial],
        "plate": [hot[k % len(hot)]["plate"] for k in serial],
        "region": [hot[k % len(hot)]["region"] for k in serial],
    }
    for name, value in values.items():
        i = rows.schema.get_field_index(name)
        rows = rows.set_column(i, rows.schema.field(i), pa.array(value, pa.string()))
    i = rows.schema.get_field_index("confidence")
    rows = rows.set_column(i, rows.schema.field(i), pa.array(np.full(n, 95.0), rows.schema.field(i).type))
    i = rows.schema.get_field_index("captured_at")
    t = pa.array(np.full(n, now_ms, np.int64)).cast(rows.schema.field(i).type)
    return rows.set_column(i, rows.schema.field(i), t)


@dataclass
class LoadState:
    processed_before: int = 0  # the workers' counters when the levels start (after the warm-up)
    sent: int = 0
    messages: int = 0
    probes: int = 0
    level: int = -1
    delivery_errors: int = 0
    levels: list[dict] = field(default_factory=list)


def network_hotlist(opts: BenchOptions, now_ms: int) -> pa.Table:
    """The hot lists of every level's synthetic network (entry ids made unique per level)."""
    from streams.loadtest.generator import worker_seed
    from streams.loadtest.synth import Synth, SynthConfig

    tables = []
    for i in range(len(opts.levels)):
        t = Synth(SynthConfig(seed=worker_seed(opts.seed, i), start_ms=now_ms)).hotlist(now_ms)
        ids = pc.binary_join_element_wise(pa.scalar(f"L{i}-"), t["entry_id"], "")
        tables.append(t.set_column(0, t.schema.field(0), ids))
    return pa.concat_tables(tables)


def drive_levels(stack: Stack, opts: BenchOptions, state: LoadState, hot: list[dict], sampler: Sampler) -> None:
    """Each level: reads at its rate for ``step_seconds``, ``probes_per_batch`` probe reads in every batch."""
    from streams.kafka.producer import make_producer, send_reads
    from streams.loadtest.generator import reads
    from streams.loadtest.synth import SynthConfig
    from streams.loadtest.token_bucket import TokenBucket

    settings = stack.settings()

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            state.delivery_errors += 1

    producer = make_producer(settings, on_delivery=delivered, **{"linger.ms": 5})
    unsustained = 0
    for li, rate in enumerate(opts.levels):
        rows = opts.batch
        source = reads(
            opts.seed,
            li,
            len(opts.levels),
            None,
            rows,
            int(time.time() * 1000),
            passages_per_second=rate / SynthConfig.mean_frames,
            realism=False,  # the classic mix: its hot list is the one loaded, and it costs the generator least
        )
        bucket = TokenBucket(rate, burst=rows, initial=0)
        first = next(source)  # builds the level's camera network before the clock starts
        sent0, msgs0, probes0 = state.sent, state.messages, state.probes
        state.level = li
        t0 = time.monotonic()
        s0 = len(sampler.samples)
        table: pa.Table | None = first
        while time.monotonic() - t0 < opts.step_seconds:
            if table is None:
                table = next(source)
            k = opts.probes_per_batch
            bucket.take(table.num_rows + k)
            if k:
                probes = probe_rows(table, hot, state.probes, k, li, int(time.time() * 1000))
                table = pa.concat_tables([table, probes])
            while len(producer) > 10_000:
                producer.poll(0.05)
            state.messages += send_reads(producer, settings, table, stack.partitions, max_rows=table.num_rows)
            state.sent += table.num_rows
            state.probes += k
            table = None
        producer.flush(60)
        t1 = time.monotonic()
        time.sleep(sampler.every * 1.5)  # a sample after the level's last send
        level = {
            "offered_reads_per_s": rate,
            "reads_per_message": round((state.sent - sent0) / max(1, state.messages - msgs0)),
            "seconds": round(t1 - t0, 2),
            "reads_sent": state.sent - sent0,
            "messages_sent": state.messages - msgs0,
            "probes": state.probes - probes0,
            "achieved_input_reads_per_s": round((state.sent - sent0) / (t1 - t0)),
            "_samples": (s0, len(sampler.samples)),
            "_t": (t0, t1),
        }
        level.update(judge_level(level, sampler.samples, opts, stack.partitions))
        state.levels.append(level)
        print(
            f"level {li + 1}/{len(opts.levels)}: offered {rate:,.0f}, sent {level['achieved_input_reads_per_s']:,}, "
            f"processed {level['processed_reads_per_s']:,} reads/s; lag growth {level['lag_growth_messages']} "
            f"messages -> {'sustained' if level['sustained'] else 'NOT sustained'}",
            file=sys.stderr,
            flush=True,
        )
        if not level["sustained"]:
            unsustained += 1
            if unsustained > opts.stop_after_unsustained:
                break


def _slope(ts: list[float], ys: list[float]) -> float:
    if len(ts) < 2:
        return 0.0
    return float(np.polyfit(np.array(ts) - ts[0], np.array(ys, float), 1)[0])


def judge_level(level: dict, samples: list[dict], opts: BenchOptions, partitions: int) -> dict:
    """Processed rate, lag and its growth over the level, and whether the level is sustained.

    Sustained: the group's lag grew by no more than ``lag_tolerance_s`` seconds of input (at least 2 messages
    per partition, the commit cadence's jitter) over the level, by a least-squares line through the samples.
    """
    a, b = level["_samples"]
    t0, t1 = level["_t"]
    # from the last sample before the level to the first after its last send
    inside = [s for s in samples[max(0, a - 1) : b + 3] if t0 - 0.6 <= s["t"] <= t1 + 1]
    if len(inside) < 2:
        return {"processed_reads_per_s": 0, "lag_growth_messages": None, "sustained": False, "note": "no samples"}
    first, last = inside[0], inside[-1]
    dt = last["t"] - first["t"]
    processed = sum(last["processed"]) - sum(first["processed"])
    lags = [(s["t"], s["lag_messages"]) for s in inside if s["lag_messages"] is not None]
    growth = _slope([t for t, _ in lags], [v for _, v in lags]) * (t1 - t0) if len(lags) >= 2 else None
    msg_rate = level["messages_sent"] / max(1e-9, t1 - t0)
    tolerance = max(opts.lag_tolerance_s * msg_rate, 2 * partitions)
    cpu = {k: round(last["cpu"][k] - first["cpu"][k], 2) for k in last["cpu"]}
    worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    return {
        "processed_reads_per_s": round(processed / dt) if dt > 0 else 0,
        "lag_messages_start": lags[0][1] if lags else None,
        "lag_messages_end": lags[-1][1] if lags else None,
        "lag_growth_messages": round(growth, 1) if growth is not None else None,
        "lag_tolerance_messages": round(tolerance, 1),
        "sustained": growth is not None and growth <= tolerance,
        "cpu_seconds": cpu,
        "worker_cpu_s_per_million_reads": round(worker_cpu / processed * 1e6, 2) if processed else None,
        # the whole machine's bill: generator (this process), broker and workers, per million reads processed
        "cpu_s_per_million_reads_by_process": {k: round(v / processed * 1e6, 2) for k, v in cpu.items()}
        if processed
        else {},
        "worker_cpu_cores_busy": round(worker_cpu / dt, 2) if dt > 0 else None,
        # a fixed cost (the broker serving idle consumers) shows here, not in the per-read bill
        "cpu_cores_busy_by_process": {k: round(v / dt, 2) for k, v in cpu.items()} if dt > 0 else {},
    }


# ---------------------------------------------------------------- the baseline


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
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from streams.loadtest.generator import reads

    topic = stack.topic("baseline.reads")
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
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
            int(time.time() * 1000),
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
        producer = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 50, "compression.type": "zstd"})
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


# ---------------------------------------------------------------- the run


def _drain(sampler: Sampler, target: int, timeout: float) -> dict:
    """Until the workers' counters (reads + dead letters, all workers) reach ``target``."""
    t0 = time.monotonic()
    processed = 0
    while time.monotonic() - t0 < timeout:
        try:
            processed = sum(sampler.processed())
        except OSError:
            pass
        if processed >= target:
            break
        time.sleep(0.2)
    return {"seconds": round(time.monotonic() - t0, 2), "processed": processed, "complete": processed >= target}


def warm_up(stack: Stack, opts: BenchOptions, sampler: Sampler) -> dict:
    """Two batches from a network of its own, before anything is measured: the workers' first batch pays for
    start-up (producer id, first store writes), which is not what a level should measure."""
    from streams.kafka.producer import make_producer, send_reads
    from streams.loadtest.generator import reads

    settings = stack.settings()
    producer = make_producer(settings)
    sent = 0
    t0 = time.monotonic()
    for table in reads(opts.seed + 1, 0, 1, 2 * opts.batch, opts.batch, int(time.time() * 1000), realism=False):
        send_reads(producer, settings, table, stack.partitions, max_rows=table.num_rows)
        sent += table.num_rows
    producer.flush(60)
    done = _drain(sampler, sent, 120)
    if not done["complete"]:
        raise PlatestreamError(f"warm-up: the workers counted {done['processed']} of {sent} reads in 120 s")
    return {"reads": sent, "seconds": round(time.monotonic() - t0, 2)}


def machine(loadavg_start: tuple[float, ...]) -> dict:
    model = ""
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit.stdout.strip(),
        "loadavg_start": [round(x, 2) for x in loadavg_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "shared": max(loadavg_start[0], os.getloadavg()[0]) > BUSY_LOADAVG,
    }


def run_bench(opts: BenchOptions) -> dict:
    """The whole benchmark; returns the result (also written as JSON and PNG under ``opts.out``)."""
    if not opts.levels:
        raise PlatestreamError("give --rate or --ramp")
    loadavg0 = os.getloadavg()
    if loadavg0[0] > BUSY_LOADAVG:
        print(
            f"warning: load average {loadavg0[0]:.1f} at start: other processes share the CPU, so these figures are "
            "not the machine's (see machine.loadavg_start in the result)",
            file=sys.stderr,
            flush=True,
        )
    wall0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="platestream-bench-"))
    now = int(time.time() * 1000)
    network = network_hotlist(opts, now)
    clears = random_entries(opts.clear_entries, now) if opts.clear_entries else None
    entries = network if clears is None else pa.concat_tables([network, clears])
    write_hotlist_csv(entries, tmp / "hotlist.csv")
    hot = admitted_plates(network, now)
    stack = Stack(opts, tmp, tmp / "hotlist.csv")
    threads: list[Any] = []  # stopped before the stack, whatever happens
    spy: subprocess.Popen | None = None
    ok = False
    try:
        stack.start_broker()
        stack.create_topics()
        stack.start_workers()
        health0 = [stack.health(i) for i in range(opts.workers)]
        rss_idle = [round(status_kb(p.pid, "VmRSS") / 1024) for p in stack.workers]
        print(
            f"{opts.workers} worker(s) up, {health0[0]['hotlist_entries']:,} hot-list entries each, "
            f"{stack.partitions} partitions, broker {stack.bootstrap}",
            file=sys.stderr,
            flush=True,
        )
        state = LoadState()
        extra = {"bench": os.getpid()} | ({"broker": stack.broker_pid} if stack.broker_pid else {})
        sampler = Sampler(stack, lambda: state.sent, extra_pids=extra)
        hits = HitWatcher(stack)
        hits.start()
        clear_ids = [] if clears is None else clears["entry_id"].to_pylist()
        clearer = ClearWatcher(stack, clear_ids, opts.clear_interval_s, lambda: state.level)
        threads += [clearer, sampler, hits]
        sampler.start()
        warm = warm_up(stack, opts, sampler)  # also gives the hits consumer time to join its group
        spy = start_profile(stack.workers[0].pid, tmp / "worker0.pyspy") if opts.profile else None
        cpu0 = [cpu_seconds(p.pid) for p in stack.workers]
        processed0 = sampler.processed()
        state.processed_before = sum(processed0)
        if clear_ids:
            clearer.start()
        try:
            drive_levels(stack, opts, state, hot, sampler)
        finally:
            clearer.stop()
        profile = stop_profile(spy, tmp / "worker0.pyspy") if opts.profile else {}
        spy = None
        drain = _drain(sampler, state.processed_before + state.sent, opts.drain_timeout_s)
        probe_deadline = time.monotonic() + 30
        while len(hits.latency_us) < state.probes and time.monotonic() < probe_deadline:
            time.sleep(0.2)
        time.sleep(1)
        sampler.stop()
        hits.stop()
        worker_cpu = [cpu_seconds(p.pid) - c for p, c in zip(stack.workers, cpu0, strict=True)]
        processed = [a - b for a, b in zip(sampler.processed(), processed0, strict=True)]
        texts = [stack.metrics(i) for i in range(opts.workers)]
        health1 = [stack.health(i) for i in range(opts.workers)]
        workers = [
            {
                "reads_processed": processed[i],
                "cpu_seconds": round(worker_cpu[i], 2),
                "cpu_s_per_million_reads": round(worker_cpu[i] / processed[i] * 1e6, 2) if processed[i] else None,
                "rss_idle_mb": rss_idle[i],
                "peak_rss_mb": round(status_kb(stack.workers[i].pid, "VmHWM") / 1024),
                "dedup_state_reads_max": sampler.dedup_max[i],
                "hotlist_entries_start": health0[i]["hotlist_entries"],
                "hotlist_entries_end": health1[i]["hotlist_entries"],
            }
            for i in range(opts.workers)
        ]
        counters = {
            k: int(sum(prom_sum(t, f"platestream_{k}_total") for t in texts))
            for k in ("reads", "duplicate_reads", "hits", "alerts")
        }
        counters["dead_letters"] = int(
            sum(prom_sum(t, "platestream_dead_letters_total", 'source="reads.batch"') for t in texts)
        )
        for level in state.levels:
            ids = [r for r in hits.latency_us if r.startswith(f"{PROBE_PREFIX}{state.levels.index(level):02d}-")]
            level["capture_to_hit_ms"] = percentiles_ms([hits.latency_us[r] for r in ids])
            level["probes_hit"] = len(ids)
            level["clear_propagation_ms"] = percentiles_ms(
                [
                    c["applied_ms"] * 1000
                    for c in clearer.results
                    if "applied_ms" in c and c["level"] == state.levels.index(level)
                ]
            )
            level.pop("_samples")
            level.pop("_t")
        done_clears = [c for c in clearer.results if "applied_ms" in c]
        sustained = [lv["offered_reads_per_s"] for lv in state.levels if lv["sustained"]]
        best = max(sustained, default=None)
        peak = max((lv["processed_reads_per_s"] for lv in state.levels), default=0)
        baseline = run_baseline_after(stack, opts, tmp)
        result = {
            "command": opts.command,
            "machine": machine(loadavg0),
            "setup": {
                "broker": "given: " + stack.bootstrap if opts.bootstrap else "deploy/local/kafka.sh, one KRaft broker",
                "workers": opts.workers,
                "partitions": stack.partitions,
                "store": "embedded chDB (one per worker)",
                "hotlist_entries": health0[0]["hotlist_entries"],
                "step_seconds": opts.step_seconds,
                "reads_per_batch": opts.batch,
                "probes_per_batch": opts.probes_per_batch,
                "lag_tolerance_s": opts.lag_tolerance_s,
                "input": "Arrow IPC (zstd) to reads.batch, one message per partition per generated batch",
            },
            "levels": state.levels,
            "sustained_reads_per_s": best,
            "peak_processed_reads_per_s": peak,
            "totals": {
                "warm_up": warm,
                "reads_sent": state.sent,
                "messages_sent": state.messages,
                "delivery_errors": state.delivery_errors,
                "reads_processed": sum(processed),
                "counters_with_warm_up": counters,
                "probes_sent": state.probes,
                "probes_hit": len(hits.latency_us),
                "hits_on_topic": hits.hits,
                "drain_after_load": drain,
            },
            "capture_to_hit_ms": percentiles_ms(list(hits.latency_us.values())),
            "clear_propagation": {
                "published": len(clearer.results),
                "applied_by_every_worker": len(done_clears),
                "applied_ms": percentiles_ms([c["applied_ms"] * 1000 for c in done_clears]),
                "observed_ms": percentiles_ms([int(c["observed_ms"] * 1000) for c in done_clears]),
                "errors": [c["error"] for c in clearer.results if "error" in c][:5],
            },
            "workers": workers,
            "profile_worker0": profile,
            "baseline": baseline,
        }
        b_rate = (baseline or {}).get("reads_per_s")
        result["ratio"] = {
            "peak_processed_over_baseline": round(peak / b_rate, 1) if b_rate else None,
            "baseline_cpu_over_platestream_cpu_per_million": (
                round(baseline["cpu_s_per_million_reads"] / workers[0]["cpu_s_per_million_reads"], 1)
                if b_rate and workers[0]["cpu_s_per_million_reads"]
                else None
            ),
        }
        result["goals"] = goals(result)
        result["wall_seconds"] = round(time.monotonic() - wall0, 1)
        write_result(result, opts)
        ok = True
        return result
    finally:
        for t in threads:
            t.stop()
        if spy is not None and spy.poll() is None:
            spy.kill()
        stack.close()
        if ok and not opts.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


def run_baseline_after(stack: Stack, opts: BenchOptions, tmp: Path) -> dict | None:
    """The baseline on the same broker once the platestream workers are stopped (so it has the CPU they had)."""
    if opts.baseline_reads <= 0:
        return None
    for p in stack.workers:
        stop_process(p)
    print(f"baseline: {opts.baseline_reads:,} reads, one JSON read per message", file=sys.stderr, flush=True)
    return run_baseline(stack, opts, tmp)


def goals(result: dict) -> dict:
    """The issue's goals against this run: 1M reads/s end to end; p99 capture-to-hit under 1 s at half that."""
    levels = result["levels"]
    half = [lv for lv in levels if lv["offered_reads_per_s"] <= 500_000 and lv["capture_to_hit_ms"].get("count")]
    at_half = max(half, key=lambda lv: lv["offered_reads_per_s"], default=None)
    sustained = result["sustained_reads_per_s"] or 0
    return {
        "throughput_reads_per_s": 1_000_000,
        "throughput_met": sustained >= 1_000_000,
        "p99_capture_to_hit_ms_at_500k": 1000,
        "latency_level_reads_per_s": at_half["offered_reads_per_s"] if at_half else None,
        "latency_p99_ms_there": at_half["capture_to_hit_ms"]["p99"] if at_half else None,
        "latency_met": bool(
            at_half and at_half["offered_reads_per_s"] >= 500_000 and at_half["capture_to_hit_ms"]["p99"] < 1000
        ),
    }


# ---------------------------------------------------------------- output


def table_rows(result: dict) -> list[tuple[str, ...]]:
    rows = [
        ("offered", "sent", "processed", "lag growth (msgs)", "sustained", "p50 ms", "p99 ms", "p99.9 ms", "CPU s/M")
    ]
    for lv in result["levels"]:
        lat = lv["capture_to_hit_ms"]
        rows.append(
            (
                f"{lv['offered_reads_per_s']:,.0f}",
                f"{lv['achieved_input_reads_per_s']:,}",
                f"{lv['processed_reads_per_s']:,}",
                f"{lv['lag_growth_messages']}",
                "yes" if lv["sustained"] else "no",
                f"{lat.get('p50', '-')}",
                f"{lat.get('p99', '-')}",
                f"{lat.get('p99.9', '-')}",
                f"{lv['worker_cpu_s_per_million_reads']}",
            )
        )
    return rows


def summary_lines(result: dict) -> list[str]:
    w = result["workers"]
    c = result["clear_propagation"]
    b = result["baseline"] or {}
    lines = [
        f"sustained (lag not growing): {result['sustained_reads_per_s'] or 0:,.0f} reads/s; "
        f"peak processed {result['peak_processed_reads_per_s']:,} reads/s",
        "workers: "
        + "; ".join(
            f"#{i} peak RSS {x['peak_rss_mb']} MB, {x['cpu_s_per_million_reads']} CPU s per million reads"
            for i, x in enumerate(w)
        ),
        f"clear propagation ({c['applied_by_every_worker']}/{c['published']} applied by every worker): "
        + ", ".join(f"{k} {c['applied_ms'].get(k)} ms" for k in ("p50", "p99", "max")),
        f"reads sent {result['totals']['reads_sent']:,}, processed {result['totals']['reads_processed']:,}; "
        f"probes hit {result['totals']['probes_hit']}/{result['totals']['probes_sent']}",
    ]
    if result["machine"].get("shared"):
        lines.insert(0, f"NOTE: load average {result['machine']['loadavg_start'][0]} at start: a shared machine")
    if b:
        lines.append(
            f"baseline (plain Faust, 1 JSON read/message): {b.get('reads_per_s')} reads/s, "
            f"{b.get('cpu_s_per_million_reads')} CPU s per million reads; "
            f"peak processed / baseline = {result['ratio']['peak_processed_over_baseline']}x"
        )
    return lines


def markdown(result: dict) -> str:
    """The run as the tables of docs/performance.md (paste them there)."""
    m, t, w, c = result["machine"], result["totals"], result["workers"], result["clear_propagation"]
    b = result["baseline"] or {}
    out = [
        f"Run of {m['date']}, commit `{m['commit']}`: {m['cpus']} cores ({m['cpu_model']}), Python {m['python']}, "
        f"numpy {m['numpy']}, pyarrow {m['pyarrow']}; load average {m['loadavg_start'][0]} at the start, "
        f"{m['loadavg_end'][0]} at the end. {result['setup']['workers']} worker(s), "
        f"{result['setup']['partitions']} partitions, {result['setup']['hotlist_entries']:,} hot-list entries, "
        f"{result['setup']['reads_per_batch']:,} reads per batch, {result['setup']['step_seconds']:g} s per level.",
        "",
        f"`{result['command']}`",
        "",
        "| offered reads/s | sent | processed | lag growth (messages) | sustained "
        "| capture-to-hit p50 / p99 / p99.9 ms | CPU s per million reads: worker / broker / generator |",
        "|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for lv in result["levels"]:
        lat = lv["capture_to_hit_ms"]
        bill = lv.get("cpu_s_per_million_reads_by_process", {})
        workers_bill = round(sum(v for k, v in bill.items() if k.startswith("worker")), 1)
        out.append(
            f"| {lv['offered_reads_per_s']:,.0f} | {lv['achieved_input_reads_per_s']:,} | "
            f"{lv['processed_reads_per_s']:,} | {lv['lag_growth_messages']} | {'yes' if lv['sustained'] else 'no'} | "
            f"{lat.get('p50', '-')} / {lat.get('p99', '-')} / {lat.get('p99.9', '-')} | "
            f"{workers_bill} / {bill.get('broker', '-')} / {bill.get('bench', '-')} |"
        )
    lines = [
        ("sustained (lag not growing)", f"**{result['sustained_reads_per_s'] or 0:,.0f} reads/s**"),
        ("peak processed", f"{result['peak_processed_reads_per_s']:,} reads/s"),
        (
            "capture-to-hit, all probes",
            " / ".join(str(result["capture_to_hit_ms"].get(k)) for k in ("p50", "p99", "p99.9"))
            + " ms (p50 / p99 / p99.9)",
        ),
        (
            "hot-list clear propagation (applied by every worker)",
            f"{c['applied_by_every_worker']}/{c['published']} clears; p50 {c['applied_ms'].get('p50')} ms, "
            f"p99 {c['applied_ms'].get('p99')} ms, max {c['applied_ms'].get('max')} ms",
        ),
    ]
    for i, x in enumerate(w):
        lines.append(
            (
                f"worker {i}",
                f"peak RSS {x['peak_rss_mb']} MB (idle {x['rss_idle_mb']} MB); "
                f"{x['cpu_s_per_million_reads']} CPU s per million reads; "
                f"de-dup state up to {x['dedup_state_reads_max']:,} reads",
            )
        )
    if b:
        lines += [
            (
                "baseline: plain Faust, one JSON read per message",
                f"**{b.get('reads_per_s') or 0:,} reads/s**, "
                f"{b.get('cpu_s_per_million_reads')} CPU s per million reads, peak RSS {b.get('peak_rss_mb')} MB",
            ),
            (
                "platestream / baseline",
                f"**{result['ratio']['peak_processed_over_baseline']}x** reads/s; "
                f"{result['ratio']['baseline_cpu_over_platestream_cpu_per_million']}x less CPU per read",
            ),
        ]
    lines.append(
        (
            "counts",
            f"{t['reads_sent']:,} reads sent, {t['reads_processed']:,} counted by the workers; "
            f"{t['probes_hit']}/{t['probes_sent']} probes hit",
        )
    )
    out += ["", "| what | figure |", "|---|---|", *[f"| {k} | {v} |" for k, v in lines]]
    prof = result.get("profile_worker0") or {}
    if prof.get("samples"):
        out += [
            "",
            f"Worker 0 profile (py-spy, {prof['seconds']} s over all levels), share of wall time:",
            "",
            "| thread | busy |",
            "|---|---:|",
            *[f"| {k} | {v:.2f} |" for k, v in prof["thread_busy_share"].items()],
            "",
            "| stage (inclusive) | share |",
            "|---|---:|",
            *[f"| {k} | {v:.2f} |" for k, v in prof["stage_share"].items()],
        ]
    return "\n".join(out) + "\n"


def write_result(result: dict, opts: BenchOptions) -> None:
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / f"{opts.name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    (opts.out / f"{opts.name}.md").write_text(markdown(result))
    result["_files"] = [str(path), str(opts.out / f"{opts.name}.md")]
    if plot(result, opts.out / f"{opts.name}.png"):
        result["_files"].append(str(opts.out / f"{opts.name}.png"))


def plot(result: dict, path: Path) -> bool:
    """Processed vs offered rate (with the lag verdict), and latency percentiles vs offered rate."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    levels = result["levels"]
    x = np.array([lv["offered_reads_per_s"] for lv in levels], float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    proc = np.array([lv["processed_reads_per_s"] for lv in levels], float)
    sent = np.array([lv["achieved_input_reads_per_s"] for lv in levels], float)
    ok = np.array([lv["sustained"] for lv in levels])
    top = max(x.max(), proc.max(), 1.0) * 1.1
    a.plot([0, top], [0, top], color="#cbd5e0", lw=1, ls=":", label="processed = offered")
    a.plot(x, sent, color="#a0aec0", marker=".", label="sent (generator)")
    a.plot(x, proc, color="#2b6cb0", label="processed (workers)")
    a.scatter(x[ok], proc[ok], color="#2f855a", zorder=3, label="lag steady")
    a.scatter(x[~ok], proc[~ok], color="#c53030", marker="x", zorder=3, label="lag growing")
    base = (result.get("baseline") or {}).get("reads_per_s")
    if base:
        a.axhline(base, color="#718096", ls="--", lw=1, label=f"baseline (plain Faust): {base:,} reads/s")
    a.set_xlabel("offered reads/s")
    a.set_ylabel("reads/s")
    a.set_title(f"Throughput, {result['setup']['workers']} worker(s), {result['setup']['partitions']} partitions")
    a.legend(fontsize=8)
    for key, style in (("p50", "-"), ("p99", "--"), ("p99.9", ":")):
        ys = [lv["capture_to_hit_ms"].get(key, np.nan) for lv in levels]
        b.plot(x, ys, ls=style, marker="o", label=key)
    b.axhline(1000, color="#c53030", lw=1, ls="--")
    b.text(x.min(), 1000, " 1 s", color="#c53030", va="bottom")
    b.set_yscale("log")
    b.set_xlabel("offered reads/s")
    b.set_ylabel("capture-to-hit latency (ms, log)")
    b.set_title("Capture-to-hit latency (HDR percentiles per level)")
    b.legend(fontsize=8)
    m = result["machine"]
    shared = f", SHARED MACHINE (load average {m['loadavg_start'][0]})" if m.get("shared") else ""
    fig.suptitle(f"platestream load bench, {m['date']}, {m['cpus']} cores{shared}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def parse_ramp(spec: str) -> list[float]:
    """``START:STOP:STEP`` (reads/s, STOP included) -> the levels."""
    try:
        start, stop, step = (float(v.replace("_", "")) for v in spec.split(":"))
    except ValueError:
        raise PlatestreamError(f"--ramp {spec!r}: want START:STOP:STEP, e.g. 100000:1000000:100000") from None
    if start <= 0 or step <= 0 or stop < start:
        raise PlatestreamError(f"--ramp {spec!r}: want 0 < START <= STOP and STEP > 0")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    if n > 100:
        raise PlatestreamError(f"--ramp {spec!r} has {n} levels; at most 100")
    return [start + i * step for i in range(n)]
