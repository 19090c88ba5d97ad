"""The JSON-path benchmark (``load_tests/bench_json.py``) on the session broker, small: the worker and the plain
Faust peer each count every ``alpr_group`` event sent, and the figures it reports are there."""

from __future__ import annotations

import os

import pytest

from streams.loadtest.bench.json_path import run_json_bench
from streams.loadtest.bench.options import BenchOptions

pytestmark = pytest.mark.integration

EVENTS = 3000


def test_json_bench_counts_every_event(kafka_bootstrap, tmp_path, monkeypatch):
    for k in [k for k in os.environ if k.startswith("PLATESTREAM_")]:
        monkeypatch.delenv(k)
    opts = BenchOptions(levels=[1.0], partitions=2, bootstrap=kafka_bootstrap, profile=False, out=tmp_path)
    res = run_json_bench(opts, EVENTS, ["faust"], timeout=240)
    w = res["worker"]
    assert w["complete"] and w["counted"] == EVENTS
    # every event is a good read or a dead letter with its reason (the generator's 0.02 % bad reads)
    assert w["good_reads"] + w["dead_letters"] == EVENTS and w["good_reads"] > 0.99 * EVENTS
    assert 0 < w["duplicates"] < w["good_reads"]
    assert w["reads_per_s"] > 0 and w["cpu_s_per_million_reads"] > 0
    faust = res["faust"]
    assert faust["complete"] and faust["counters"]["messages"] == EVENTS
    assert faust["counters"]["reads"] + faust["counters"]["dead"] == EVENTS
    assert res["ratios"]["faust"] > 0 and res["machine"]["cpus"] >= 1
