"""The load generator: deterministic, disjoint workers, exact batches, a rate that holds, hourly Parquet."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from streams.loadgen import HOUR_MS, TokenBucket, parquet_sink, reads, run
from streams.schema import READ_SCHEMA

START = 1_790_000_000_000


def _all(seed: int, worker: int, workers: int = 2, count: int = 25_000, batch: int = 10_000) -> list[pa.Table]:
    return list(reads(seed, worker, workers, count, batch, START))


def test_same_seed_and_worker_give_identical_tables():
    a, b = _all(3, 1), _all(3, 1)
    assert len(a) == len(b) == 3
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert all(x.schema.equals(READ_SCHEMA) for x in a)


def test_workers_are_disjoint():
    w0 = pa.concat_tables(_all(3, 0))
    w1 = pa.concat_tables(_all(3, 1))
    ids0, ids1 = set(w0["read_id"].to_pylist()), set(w1["read_id"].to_pylist())
    assert len(ids0) == w0.num_rows and len(ids1) == w1.num_rows  # unique within a worker too
    assert not ids0 & ids1
    assert all(i.startswith("0000-") for i in list(ids0)[:10]) and all(i.startswith("0001-") for i in list(ids1)[:10])
    assert w0["plate"].to_pylist()[:1000] != w1["plate"].to_pylist()[:1000]


def test_exact_batches_and_count():
    sizes = [t.num_rows for t in reads(7, 0, 1, 123_457, 10_000, START)]
    assert sizes == [10_000] * 12 + [3_457]
    endless = reads(7, 0, 1, None, 5_000, START)
    assert [next(endless).num_rows for _ in range(5)] == [5_000] * 5


def test_worker_out_of_range_is_refused():
    with pytest.raises(ValueError):
        reads(7, 2, 2, 10, 10, START)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_token_bucket_holds_the_rate_on_a_fake_clock():
    clock = FakeClock()
    bucket = TokenBucket(10_000, burst=1_000, clock=clock, sleep=clock.sleep)
    bucket.take(1_000)  # the full bucket: no wait
    assert clock.t == 100.0
    t0 = clock.t
    for _ in range(10):
        bucket.take(1_000)
    assert clock.t - t0 == pytest.approx(1.0, rel=0.02)


def test_token_bucket_takes_more_than_burst_proportionally():
    clock = FakeClock()
    bucket = TokenBucket(1_000, burst=100, clock=clock, sleep=clock.sleep, initial=0)
    bucket.take(5_000)
    assert clock.t - 100.0 == pytest.approx(5.0, rel=0.02)
    clock.t += 60  # idle: refills to burst only
    t0 = clock.t
    bucket.take(100)
    assert clock.t == t0
    bucket.take(1_000)
    assert clock.t - t0 == pytest.approx(1.0, rel=0.02)


def test_run_with_fake_clock_counts_and_rate():
    clock = FakeClock()
    got: list[int] = []
    res = run(
        lambda t: got.append(t.num_rows),
        rate=10_000,
        count=10_000,
        duration_s=None,
        batch=1_000,
        seed=1,
        progress=None,
        start_ms=START,
        clock=clock,
        sleep=clock.sleep,
    )
    assert got == [1_000] * 10
    assert res["reads"] == 10_000 and res["errors"] == 0
    assert res["seconds"] == pytest.approx(1.0, rel=0.02)
    assert res["rate"] == pytest.approx(10_000, rel=0.02)
    assert res["parameters"]["rate"] == 10_000


def test_run_stops_at_duration():
    clock = FakeClock()
    res = run(
        lambda t: None,
        rate=10_000,
        count=None,
        duration_s=0.5,
        batch=1_000,
        seed=1,
        progress=None,
        start_ms=START,
        clock=clock,
        sleep=clock.sleep,
    )
    assert res["reads"] == pytest.approx(5_000, abs=1_000)


def test_real_time_rate_with_parquet_sink(tmp_path):
    sink = parquet_sink(tmp_path / "out")
    seen: list[int] = []
    t0 = time.monotonic()
    res = run(
        sink,
        rate=200_000,
        count=300_000,
        duration_s=None,
        batch=10_000,
        seed=5,
        progress=seen.append,
        start_ms=START,
    )
    elapsed = time.monotonic() - t0
    assert res["reads"] == 300_000 and res["errors"] == 0
    assert res["seconds"] == pytest.approx(1.5, rel=0.15)
    assert elapsed == pytest.approx(1.5, rel=0.15)
    assert res["rate"] == pytest.approx(200_000, rel=0.15)
    assert seen[-1] == 300_000 and len(seen) == 30
    assert ds.dataset(tmp_path / "out", format="parquet").count_rows() == 300_000


def test_parquet_files_are_partitioned_by_hour(tmp_path):
    boundary = (START // HOUR_MS + 1) * HOUR_MS
    sink = parquet_sink(tmp_path, worker=3)
    total = 0
    for t in reads(9, 3, 4, 100_000, 10_000, boundary - 20_000):  # ~31 s of event time: spans the hour
        sink(t)
        total += t.num_rows
    assert sink.close()["errors"] == 0
    files = sorted(tmp_path.rglob("*.parquet"))
    hours = {f.parent.name for f in files}
    assert {"hour=2026-09-21T14", "hour=2026-09-21T15"} <= hours
    assert all(f.name.startswith("part-3-") for f in files)
    rows = 0
    for f in files:
        t = pq.read_table(f)
        assert t.schema.equals(READ_SCHEMA)
        h = t["captured_at"].cast(pa.int64()).to_numpy() // HOUR_MS
        assert len(np.unique(h)) == 1
        name = f.parent.name.removeprefix("hour=")
        assert np.datetime_as_string(np.datetime64(int(h[0]) * HOUR_MS, "ms"), unit="h") == name
        rows += t.num_rows
    assert rows == total == 100_000
