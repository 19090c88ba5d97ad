"""Load generator: synthetic reads at a target rate, batch by batch in constant memory, to Kafka or Parquet.

Each worker (a process of ``platestream load run``) draws from its own deterministic camera network: the seed is
derived from (seed, worker) and every ``read_id`` carries the worker as a prefix, so workers never send the same
read. A token bucket counted in reads holds the rate.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streams.schema import READ_SCHEMA
from streams.synth import Synth, SynthConfig

HOUR_MS = 3_600_000
_READ_ID = READ_SCHEMA.field("read_id")


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

    def take(self, n: float) -> None:
        self._refill()
        self.tokens -= n
        while self.tokens < 0 and -self.tokens / self.rate > 1e-6:  # a short sleep wakes early: sleep again
            self.sleep(-self.tokens / self.rate)
            self._refill()


def worker_seed(seed: int, worker: int) -> int:
    return seed * 1_000_003 + worker


def reads(
    seed: int,
    worker: int,
    workers: int,
    count: int | None,
    batch: int,
    start_ms: int,
    passages_per_second: float | None = None,
) -> Iterator[pa.Table]:
    """Exactly ``count`` reads (endless if None) in tables of exactly ``batch`` rows (the last may be shorter).

    Deterministic for (seed, worker, workers); disjoint across workers. The camera network is built here, before
    the first batch is asked for, so a caller's clock need not include it.
    """
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cfg = SynthConfig(seed=worker_seed(seed, worker), start_ms=int(start_ms))
    if passages_per_second is not None:
        cfg = SynthConfig(seed=cfg.seed, start_ms=cfg.start_ms, passages_per_second=float(passages_per_second))
    synth = Synth(cfg)
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
) -> dict[str, Any]:
    """Pull batches, hold ``rate`` (reads/s, this worker's share), hand each to ``sink``; stop at ``count`` reads or
    after ``duration_s``, whichever first. If the sink has ``close()`` it is called at the end (inside the timed
    span: a Kafka flush counts) and may return ``{"errors": ..., ...}``, merged into the result.

    Event time starts at ``start_ms`` (default: now) and, when a rate is given, advances about as fast as the wall
    clock, so a long run does not drift into the future.
    """
    if count is None and duration_s is None:
        raise ValueError("give count or duration_s (or both)")
    params = dict(rate=rate, count=count, duration_s=duration_s, batch=batch, seed=seed, worker=worker, workers=workers)
    start_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
    pps = rate / SynthConfig.mean_frames if rate else None
    source = reads(seed, worker, workers, count, batch, start_ms, passages_per_second=pps)
    # Starts empty: the first batch waits its share too, so short runs report an honest rate.
    bucket = TokenBucket(rate, burst=batch, clock=clock, sleep=sleep, initial=0) if rate else None
    sent = batches = 0
    t0 = clock()
    for table in source:
        if duration_s is not None and clock() - t0 >= duration_s:
            break
        if bucket is not None:
            bucket.take(table.num_rows)
        sink(table)
        sent += table.num_rows
        batches += 1
        if progress is not None:
            progress(sent)
    close = getattr(sink, "close", None)
    stats = dict(close() or {}) if callable(close) else {}
    seconds = clock() - t0
    return {
        "reads": sent,
        "batches": batches,
        "seconds": seconds,
        "rate": sent / seconds if seconds > 0 else 0.0,
        "errors": int(stats.pop("errors", 0)),
        **stats,
        "parameters": params,
    }


class KafkaSink:
    """Arrow IPC batches to ``reads.batch``, partitioned by camera. Delivery errors are counted, not raised."""

    def __init__(self, settings: Any, max_queued: int = 10_000):
        from streams.transport.producer import make_producer

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
        from streams.transport.producer import send_reads

        while len(self.producer) > self.max_queued:  # back-pressure instead of BufferError
            self.producer.poll(0.05)
        self.messages += send_reads(self.producer, self.settings, table, self.settings.partitions)

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
