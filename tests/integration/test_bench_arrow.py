"""The Arrow-path benchmark (``load_tests/bench_arrow.py``) on the session broker, small: every read queued on
``reads.batch`` is counted by the workers (one, then two processes sharing the partitions), and the figures it
reports are there."""

from __future__ import annotations

import os

import pytest

from streams.loadtest.bench.arrow_path import run_arrow_bench
from streams.loadtest.bench.options import BenchOptions

pytestmark = pytest.mark.integration

READS = 6000


@pytest.mark.parametrize("workers", [1, 2])
def test_arrow_bench_counts_every_read(kafka_bootstrap, tmp_path, monkeypatch, workers):
    for k in [k for k in os.environ if k.startswith("PLATESTREAM_")]:
        monkeypatch.delenv(k)
    opts = BenchOptions(
        levels=[1.0], workers=workers, bootstrap=kafka_bootstrap, batch=1000, profile=False, out=tmp_path
    )
    res = run_arrow_bench(opts, READS, timeout=240)
    assert res["reads"] == READS and res["partitions"] == 2 * workers
    assert res["messages"] >= READS // 1000  # at most --batch reads a message, split by camera's partition
    w = res["worker"]
    assert w["complete"] and w["counted"] == READS
    # every read is a good read or a dead letter with its reason (the generator's 0.02 % bad reads)
    assert w["good_reads"] + w["dead_letters"] == READS and w["good_reads"] > 0.99 * READS
    assert 0 < w["duplicates"] < w["good_reads"]
    assert w["reads_per_s"] > 0 and w["cpu_s_per_million_reads"] > 0
    assert len(w["peak_rss_mb"]) == workers and res["machine"]["cpus"] >= 1
