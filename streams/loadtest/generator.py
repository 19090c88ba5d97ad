"""Load generator: synthetic reads at a target rate, batch by batch in constant memory, to Kafka or Parquet; and
replay of recorded reads (Parquet, ``alpr_group`` JSON lines) to Kafka at recorded speed, faster, or as fast as
possible.

Each worker (a process of ``platestream load run``) draws from its own deterministic fleet on one shared camera
map: the fleet's seed is derived from (seed, worker), the map's from seed, and every ``read_id`` carries the
worker as a prefix, so workers never send the same read. A token bucket counted in reads holds the rate.

Memory does not grow with the count: the generator holds the fleet (about 60 bytes a vehicle) and the trips in
progress (about 40 bytes each; their number grows with the event-time rate, not with the count).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streams.loadtest.synth import Synth, SynthConfig
from streams.model.read import READ_SCHEMA

HOUR_MS = 3_600_000
_READ_ID = READ_SCHEMA.field("read_id")
TRAFFIC = ("flat", "daily")
# What the load generator turns on over the classic generator: a city's camera map with routes, camera OCR noise.
REALISM = {"network": True, "camera_noise": True, "cameras": 2_000, "sites": 400}
CITY_KM, CITY_PARK_S = 10.0, 300.0
# Up to this many passages/s per worker the map is a 10 km city. Above it the city shrinks in proportion (cameras
# closer together, shorter stops; speeds stay), so trips in flight and the fleet a worker holds stay bounded.
CITY_PPS = 5_000.0
MIN_VEHICLES, MAX_VEHICLES = 200_000, 3_000_000


class TokenBucket:
    """``take(n)`` blocks until ``n`` tokens are there. Tokens refill at ``rate_per_s`` up to ``burst``.

    ``n`` may exceed ``burst``: the bucket goes into debt and the caller waits ``debt / rate`` seconds, so the
    long-run rate holds whatever the batch size. The bucket starts with ``initial`` tokens (default: full).
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        initial: float | None = None,
    ):
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if burst < 0:
            raise ValueError("burst must not be negative")
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.burst if initial is None else float(initial)
        self.last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def set_rate(self, rate_per_s: float) -> None:
        """From now on refill at ``rate_per_s`` (tokens so far were earned at the old rate)."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self._refill()
        self.rate = float(rate_per_s)

    def take(self, n: float) -> None:
        self._refill()
        self.tokens -= n
        while self.tokens < 0 and -self.tokens / self.rate > 1e-6:  # a short sleep wakes early: sleep again
            self.sleep(-self.tokens / self.rate)
            self._refill()


def worker_seed(seed: int, worker: int) -> int:
    return seed * 1_000_003 + worker


def fleet_size(passages_per_second: float) -> int:
    """Vehicles a worker needs in the 10 km city so that (almost) no vehicle is sent on a trip while it is still
    on one: about 100 s of driving and parking per passage per second, three times over."""
    return int(min(MAX_VEHICLES, max(MIN_VEHICLES, min(passages_per_second, CITY_PPS) * 300)))


def synth_config(
    seed: int,
    worker: int,
    start_ms: int,
    passages_per_second: float | None = None,
    *,
    realism: bool = True,
    traffic: str = "flat",
    **overrides: Any,
) -> SynthConfig:
    """The generator's settings for one worker. ``realism`` adds the camera map, routes and camera noise;
    ``traffic="daily"`` the time-of-day curve; ``overrides`` set any other ``SynthConfig`` field."""
    if traffic not in TRAFFIC:
        raise ValueError(f"traffic must be one of {', '.join(TRAFFIC)}")
    cfg = SynthConfig(seed=worker_seed(seed, worker), start_ms=int(start_ms), daily_curve=traffic == "daily")
    if passages_per_second is not None:
        cfg = replace(cfg, passages_per_second=float(passages_per_second))
    if realism:
        scale = min(1.0, CITY_PPS / cfg.passages_per_second)
        cfg = replace(
            cfg, network_seed=seed, vehicles=fleet_size(cfg.passages_per_second), area_km=CITY_KM * scale,
            park_s=CITY_PARK_S * scale, **REALISM,
        )  # fmt: skip
    return replace(cfg, **overrides) if overrides else cfg


def reads(
    seed: int,
    worker: int,
    workers: int,
    count: int | None,
    batch: int,
    start_ms: int,
    passages_per_second: float | None = None,
    *,
    realism: bool = True,
    traffic: str = "flat",
    synth_out: list[Synth] | None = None,
    **overrides: Any,
) -> Iterator[pa.Table]:
    """Exactly ``count`` reads (endless if None) in tables of exactly ``batch`` rows (the last may be shorter).

    Deterministic for (seed, worker, workers and the options); disjoint across workers. The camera network is
    built here, before the first batch is asked for, so a caller's clock need not include it. ``synth_out``, if
    given, receives the generator (for its counters and ground truth).
    """
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cfg = synth_config(seed, worker, start_ms, passages_per_second, realism=realism, traffic=traffic, **overrides)
    synth = Synth(cfg)
    if synth_out is not None:
        synth_out.append(synth)
    prefix = pa.scalar(f"{worker:04x}-")

    def gen() -> Iterator[pa.Table]:
        made = 0
        pending: list[pa.Table] = []
        have = 0
        while count is None or made < count:
            want = batch if count is None else min(batch, count - made)
            while have < want:
                t = synth.batch(want - have)  # about that many (whole passages); the rest waits for the next
                pending.append(t)
                have += t.num_rows
            table = pa.concat_tables(pending).combine_chunks() if len(pending) > 1 else pending[0]
            rest = table.slice(want)
            pending, have = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
            out = table.slice(0, want)
            ids = pc.binary_join_element_wise(prefix, out["read_id"], "")
            made += want
            yield out.set_column(0, _READ_ID, ids).combine_chunks()

    return gen()


def run(
    sink: Callable[[pa.Table], Any],
    *,
    rate: float | None,
    count: int | None,
    duration_s: float | None,
    batch: int,
    seed: int,
    worker: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    start_ms: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    realism: bool = True,
    traffic: str = "flat",
    on_ready: Callable[[], Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Pull batches, hold ``rate`` (reads/s, this worker's share), hand each to ``sink``; stop at ``count`` reads or
    after ``duration_s``, whichever first. If the sink has ``close()`` it is called at the end (inside the timed
    span: a Kafka flush counts) and may return ``{"errors": ..., ...}``, merged into the result.

    Event time starts at ``start_ms`` (default: now) and, when a rate is given, advances about as fast as the wall
    clock, so a long run does not drift into the future. With ``traffic="daily"`` the event-time rate follows the
    time of day, and so does the sending rate: ``rate`` is then the day's mean, and the rate of the moment is
    ``rate`` times the curve's factor at the batch's event time (from about 0.1 at night to 2 at the peaks).

    ``on_ready`` is called once the generator is built, just before the clock starts (workers wait there for
    each other).
    """
    if count is None and duration_s is None:
        raise ValueError("give count or duration_s (or both)")
    params: dict[str, Any] = dict(
        rate=rate, count=count, duration_s=duration_s, batch=batch, seed=seed, worker=worker, workers=workers,
        realism=realism, traffic=traffic, **overrides,
    )  # fmt: skip
    start_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
    pps = rate / SynthConfig.mean_frames if rate else None
    made: list[Synth] = []
    source = reads(
        seed, worker, workers, count, batch, start_ms, passages_per_second=pps, realism=realism, traffic=traffic,
        synth_out=made, **overrides,
    )  # fmt: skip
    curve = made[0].curve if rate and made[0].curve is not None else None
    # Starts empty: the first batch waits its share too, so short runs report an honest rate.
    bucket = TokenBucket(rate, burst=batch, clock=clock, sleep=sleep, initial=0) if rate else None
    sent = batches = 0
    if on_ready is not None:
        on_ready()
    t0 = clock()
    for table in source:
        if duration_s is not None and clock() - t0 >= duration_s:
            break
        if bucket is not None:
            if curve is not None:
                first = table["captured_at"][0].value
                bucket.set_rate(rate * float(curve.factor(first)))
            bucket.take(table.num_rows)
        sink(table)
        sent += table.num_rows
        batches += 1
        if progress is not None:
            progress(sent)
    close = getattr(sink, "close", None)
    stats = dict(close() or {}) if callable(close) else {}
    seconds = clock() - t0
    synth = made[0]
    return {
        "reads": sent,
        "batches": batches,
        "seconds": seconds,
        "rate": sent / seconds if seconds > 0 else 0.0,
        "errors": int(stats.pop("errors", 0)),
        **stats,
        "vehicles": synth.cfg.vehicles,
        "overlapping_trips": synth.overlaps,
        "event_time": {"first_ms": start_ms, "last_ms": int(synth.t_ms)},
        "parameters": params,
    }


class KafkaSink:
    """Arrow IPC batches to ``reads.batch``, partitioned by camera. Delivery errors are counted, not raised."""

    def __init__(self, settings: Any, max_queued: int = 10_000):
        from streams.kafka.producer import make_producer

        self.settings = settings
        self.max_queued = max_queued
        self.messages = self.delivered = self.errors = 0
        self.producer = make_producer(settings, on_delivery=self._delivered)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors += 1
        else:
            self.delivered += 1

    def __call__(self, table: pa.Table) -> None:
        from streams.kafka.producer import send_reads

        while len(self.producer) > self.max_queued:  # back-pressure instead of BufferError
            self.producer.poll(0.05)
        if "raw" in table.column_names:
            self.messages += self._send_json(table)
        else:
            self.messages += send_reads(self.producer, self.settings, table, self.settings.partitions)

    def _send_json(self, table: pa.Table) -> int:
        """Recorded JSON events, byte for byte, to ``reads.json``: by camera like the gateway does, else any."""
        from streams.kafka.producer import partition_of
        from streams.kafka.topics import topic_name

        topic = topic_name(self.settings, "reads.json")
        cams = table["camera_id"]
        parts = partition_of(cams, self.settings.partitions).tolist()
        known = pc.is_valid(cams).to_pylist()
        for raw, p, has_camera in zip(table["raw"].to_pylist(), parts, known, strict=True):
            if has_camera:
                self.producer.produce(topic, raw, partition=p)
            else:
                self.producer.produce(topic, raw)
            self.producer.poll(0)
        return table.num_rows

    def close(self) -> dict[str, int]:
        left = self.producer.flush(120)
        return {"errors": self.errors + left, "messages": self.messages, "delivered": self.delivered}


def kafka_sink(settings: Any) -> KafkaSink:
    return KafkaSink(settings)


class ParquetSink:
    """Parquet files by hour of ``captured_at``: ``out_dir/hour=YYYY-MM-DDTHH/part-<worker>-<n>.parquet``.

    One open writer per hour (a row group per batch); writers of hours no longer seen are closed, and a file is
    rolled after ``rows_per_file`` rows, so memory and open files stay bounded.
    """

    def __init__(self, out_dir: str | Path, worker: int = 0, rows_per_file: int = 5_000_000, max_open: int = 8):
        self.out = Path(out_dir)
        self.worker = worker
        self.rows_per_file = rows_per_file
        self.max_open = max_open
        self.n = 0
        self.files: list[str] = []
        self.writers: OrderedDict[int, list[Any]] = OrderedDict()  # hour -> [writer, rows]

    def _writer(self, hour: int) -> list[Any]:
        w = self.writers.get(hour)
        if w is not None and w[1] >= self.rows_per_file:
            w[0].close()
            del self.writers[hour]
            w = None
        if w is None:
            name = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H")
            path = self.out / f"hour={name}" / f"part-{self.worker}-{self.n}.parquet"
            self.n += 1
            path.parent.mkdir(parents=True, exist_ok=True)
            w = [pq.ParquetWriter(path, READ_SCHEMA, compression="zstd"), 0]
            self.writers[hour] = w
            self.files.append(str(path))
        self.writers.move_to_end(hour)
        return w

    def __call__(self, table: pa.Table) -> None:
        hours = pc.divide(table["captured_at"].cast(pa.int64()), HOUR_MS).to_numpy()
        seen = np.unique(hours)
        for h in seen:
            w = self._writer(int(h))
            part = table if len(seen) == 1 else table.filter(pa.array(hours == h))
            w[0].write_table(part)
            w[1] += part.num_rows
        for h in [h for h in self.writers if h not in set(seen.tolist())][: max(0, len(self.writers) - self.max_open)]:
            self.writers.pop(h)[0].close()

    def close(self) -> dict[str, Any]:
        for w, _ in self.writers.values():
            w.close()
        self.writers.clear()
        return {"errors": 0, "files": len(self.files)}


def parquet_sink(out_dir: str | Path, worker: int = 0) -> ParquetSink:
    return ParquetSink(out_dir, worker)


# -- replay ---------------------------------------------------------------------------------------------------

JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
# A chunk of recorded JSON events: the line as it was, its camera and its event time (ms).
RAW_SCHEMA = pa.schema([("raw", pa.binary()), ("camera_id", pa.string()), ("captured_at", pa.int64())])
# Where each JSON event keeps its time (the first present wins), and what moves with it on --retime.
_TIME_KEYS = ("epoch_start", "captured_at", "timestamp", "epoch_time")
_ALSO_SHIFTED = ("epoch_end",)


class ReplayError(ValueError):
    """Inputs the replay cannot take (no files, mixed kinds, a Parquet file that is not reads)."""


def replay_inputs(paths: Iterable[str | Path]) -> tuple[str, list[list[Path]]]:
    """The kind of input (``parquet`` or ``json``) and its files in groups, in replay order.

    Folders are searched for ``*.parquet`` and JSON lines files. Parquet files in one folder are merged by
    ``captured_at`` (each file in time order, as ``load run --to parquet`` writes them); folders follow each other
    in name order, so ``hour=...`` partitions replay hour by hour. JSON lines files replay one after another.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in JSON_SUFFIXES | {".parquet"})
        elif p.exists():
            files.append(p)
        else:
            raise ReplayError(f"{p} does not exist")
    kinds = {"json" if f.suffix.lower() in JSON_SUFFIXES else "parquet" if f.suffix.lower() == ".parquet" else "?"
             for f in files}  # fmt: skip
    if not files:
        raise ReplayError("no .parquet or JSON lines files found")
    if "?" in kinds:
        raise ReplayError("inputs must be .parquet or JSON lines (.jsonl, .ndjson, .json)")
    if len(kinds) > 1:
        raise ReplayError("give Parquet or JSON lines inputs, not both")
    kind = kinds.pop()
    if kind == "json":
        return kind, [[f] for f in files]
    groups: dict[Path, list[Path]] = {}
    for f in files:
        groups.setdefault(f.parent, []).append(f)
    return kind, [sorted(groups[d]) for d in sorted(groups)]


def count_rows(kind: str, groups: list[list[Path]]) -> int | None:
    """Rows to replay when the files say so cheaply (Parquet footers); None for JSON lines."""
    if kind != "parquet":
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for g in groups for f in g)


def _conformed(batch: pa.RecordBatch, name: str) -> pa.Table:
    from streams.ingest.decode import SchemaMismatch, conform

    try:
        return conform(pa.Table.from_batches([batch]))
    except SchemaMismatch as exc:
        raise ReplayError(f"{name}: {exc}") from None


def _times(table: pa.Table) -> np.ndarray:
    t = table["captured_at"].cast(pa.int64())
    if t.null_count:
        raise ReplayError("a read without captured_at cannot be paced")
    return t.to_numpy()


def parquet_chunks(files: list[Path], batch: int) -> Iterator[pa.Table]:
    """Reads of several files merged by ``captured_at``, ``batch`` rows per file at a time (constant memory).

    Each round emits every buffered row up to the earliest "last time" among the files still being read, so a
    file in time order never needs more than one batch in memory."""
    readers = [(f.name, pq.ParquetFile(f).iter_batches(batch_size=batch)) for f in files]
    bufs: list[tuple[pa.Table, np.ndarray] | None] = [None] * len(readers)
    done = [False] * len(readers)
    while True:
        for i, (name, it) in enumerate(readers):
            while bufs[i] is None and not done[i]:
                b = next(it, None)
                if b is None:
                    done[i] = True
                elif b.num_rows:
                    t = _conformed(b, name)
                    bufs[i] = (t, _times(t))
        live = [i for i, b in enumerate(bufs) if b is not None]
        if not live:
            return
        open_ = [bufs[i][1].max() for i in live if not done[i]]
        bound = min(open_) if open_ else np.iinfo(np.int64).max
        parts, times = [], []
        for i in live:
            t, ts = bufs[i]
            take = ts <= bound
            if take.all():
                parts.append(t)
                times.append(ts)
                bufs[i] = None
            elif take.any():
                parts.append(t.filter(pa.array(take)))
                times.append(ts[take])
                bufs[i] = (t.filter(pa.array(~take)), ts[~take])
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        ts = np.concatenate(times)
        order = np.argsort(ts, kind="stable")
        yield table if len(parts) == 1 and (np.diff(ts) >= 0).all() else table.take(pa.array(order))


def _event_time(doc: Any) -> int | None:
    if not isinstance(doc, dict):
        return None
    for key in _TIME_KEYS:
        v = doc.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) < 2**62:
            return int(v)
    return None


def json_chunks(path: Path, lines_per_chunk: int = 20_000) -> Iterator[pa.Table]:
    """Recorded JSON events (``alpr_group``, heartbeats, the project's own reads), one per line, as RAW_SCHEMA
    chunks. Every line is kept as it was, even one that is not JSON: the pipeline dead-letters it, as it would
    from a camera. A line without a time goes with the line before it."""
    last: int | None = None

    def chunk(raws: list[bytes], cams: list[str | None], times: list[int | None]) -> pa.Table:
        return pa.Table.from_arrays([pa.array(raws, pa.binary()), pa.array(cams, pa.string()),
                                     pa.array(times, pa.int64())], schema=RAW_SCHEMA)  # fmt: skip

    raws: list[bytes] = []
    cams: list[str | None] = []
    times: list[int | None] = []
    with path.open("rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):
                doc = None
            t = _event_time(doc)
            if t is None:
                t = last  # None before the first timed line: it goes with that one
            last = t if t is not None else last
            cam = doc.get("camera_id") if isinstance(doc, dict) else None
            raws.append(line)
            cams.append(None if cam is None or isinstance(cam, dict | list) else str(cam)[:64])
            times.append(t)
            if len(raws) >= lines_per_chunk and last is not None:
                first = next(x for x in times if x is not None)
                yield chunk(raws, cams, [first if x is None else x for x in times])
                raws, cams, times = [], [], []
    if raws:
        if last is None:
            raise ReplayError(f"{path.name}: no line has a time ({', '.join(_TIME_KEYS)})")
        first = next(x for x in times if x is not None)
        yield chunk(raws, cams, [first if x is None else x for x in times])


def _retime_json(raw: bytes, shift_ms: int) -> bytes:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    if not isinstance(doc, dict) or _event_time(doc) is None:
        return raw
    for key in (*_TIME_KEYS, *_ALSO_SHIFTED):
        v = doc.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            doc[key] = int(v) + shift_ms
    return json.dumps(doc, separators=(",", ":")).encode()


def retimed(table: pa.Table, new_ms: np.ndarray) -> pa.Table:
    """The same reads (or JSON events) with their event time set to ``new_ms``."""
    old = _times(table)
    i = table.column_names.index("captured_at")
    field = table.schema.field(i)
    if "raw" in table.column_names:
        shifts = (new_ms - old).tolist()
        raws = [_retime_json(r, s) for r, s in zip(table["raw"].to_pylist(), shifts, strict=True)]
        table = table.set_column(0, "raw", pa.array(raws, pa.binary()))
        return table.set_column(i, field, pa.array(new_ms, pa.int64()))
    return table.set_column(i, field, pa.array(new_ms, pa.int64()).cast(field.type))


def _schedule(times: np.ndarray, clock_ms: int, sched: float, max_gap_ms: float) -> tuple[np.ndarray, int, float, int]:
    """Each read's place on the replay schedule (recorded ms since the first read), vectorised between jumps.

    The recording's clock is the latest ``captured_at`` so far; the schedule advances as it does. A read behind the
    clock (frames of one passage arrive interleaved) goes at the clock's time. A read more than ``max_gap_ms``
    ahead of or behind the clock is a jump: the schedule does not advance and the clock restarts there. Returns
    (places, clock, schedule, jumps)."""
    at = np.empty(len(times), np.float64)
    i, jumps, n = 0, 0, len(times)
    while i < n:  # one round per jump (rare)
        seg = times[i:]
        run = np.maximum.accumulate(np.concatenate([[clock_ms], seg]))
        off = np.abs(seg - run[:-1]) > max_gap_ms
        k = int(off.argmax()) if off.any() else len(seg)
        if k:
            at[i : i + k] = sched + np.cumsum(np.diff(run[: k + 1]))
            sched, clock_ms = float(at[i + k - 1]), int(run[k])
        if k < len(seg):
            at[i + k] = sched
            clock_ms = int(seg[k])
            jumps += 1
        i += k + 1
    return at, clock_ms, sched, jumps


def replay(
    chunks: Iterable[pa.Table],
    sink: Callable[[pa.Table], Any],
    *,
    speedup: float | None,
    retime: bool = False,
    max_gap_s: float = 600.0,
    max_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_ms: Callable[[], float] = lambda: time.time() * 1000,
) -> dict[str, Any]:
    """Send recorded reads paced by their ``captured_at``: a read ``d`` ms after the one before goes ``d / speedup``
    ms after it (``speedup=None``: as fast as the sink takes them). Two cases are not waited for: a read earlier
    than the one before (it goes at once: never back in time) and a jump of more than ``max_gap_s`` (a quiet night,
    or a camera whose clock is years ahead: the replay does not sleep through it).

    With ``retime`` each read's ``captured_at`` becomes the moment it is due, so a live worker sees current reads
    (as fast as possible: the schedule of the recorded speed, starting now).

    Returns reads, messages/errors (from the sink's ``close()``), seconds, rate, the recording's span, the gaps not
    waited for, and how far behind its schedule the replay fell at worst (the sink or the machine was too slow)."""
    if speedup is not None and speedup <= 0:
        raise ValueError("speedup must be positive")
    max_gap_ms = max_gap_s * 1000.0
    sent = gaps = 0
    behind = 0.0
    t_first: int | None = None
    t_last = clock_ms = 0  # the recording's clock: the latest captured_at so far (reset by a jump)
    sched = 0.0  # ms of recorded time the schedule has advanced (jumps left out)
    start = wall0 = 0.0
    for table in chunks:
        n = table.num_rows
        if not n:
            continue
        times = _times(table)
        if t_first is None:
            t_first = t_last = clock_ms = int(times[0])
            start, wall0 = clock(), wall_ms()
        at, clock_ms, sched, jumps = _schedule(times, clock_ms, sched, max_gap_ms)
        gaps += jumps
        t_last = max(t_last, int(times.max()))
        due = at / 1000.0 / (speedup or 1.0)
        i = 0
        while i < n:
            if speedup is None:
                j = min(n, i + max_rows)
            else:
                now = clock() - start
                if due[i] > now:
                    sleep(due[i] - now)
                    continue
                behind = max(behind, now - due[i])
                j = min(int(np.searchsorted(due, now, side="right")), i + max_rows)
            part = table.slice(i, j - i)
            if retime:
                part = retimed(part, np.round(wall0 + due[i:j] * 1000.0).astype(np.int64))
            sink(part)
            sent += j - i
            i = j
            if progress is not None:
                progress(sent)
    close = getattr(sink, "close", None)
    stats = dict(close() or {}) if callable(close) else {}
    seconds = clock() - start if t_first is not None else 0.0
    return {
        "reads": sent,
        "seconds": seconds,
        "rate": sent / seconds if seconds > 0 else 0.0,
        "errors": int(stats.pop("errors", 0)),
        **stats,
        "recorded_seconds": (t_last - t_first) / 1000.0 if t_first is not None else 0.0,
        "gaps_not_waited": gaps,
        "max_behind_seconds": float(behind),
        "parameters": {"speedup": speedup, "retime": retime, "max_gap_s": max_gap_s, "max_rows": max_rows},
    }
