"""The JSON-path benchmark (``load_tests/bench_json.py``) on the session broker, small: the worker, the plain Faust
peer and the Quix Streams peer each count every ``alpr_group`` event sent, and the figures it reports are there."""

from __future__ import annotations

import os
import subprocess

import pytest

from streams.loadtest.bench.json_path import run_json_bench
from streams.loadtest.bench.options import QUIX_SCRIPT, BenchOptions

pytestmark = pytest.mark.integration

EVENTS = 3000


@pytest.fixture(scope="module")
def quix_python() -> str:
    """The Quix Streams venv, made by the repo's own script (pip from PyPI on a clean machine)."""
    proc = subprocess.run([str(QUIX_SCRIPT)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"{QUIX_SCRIPT.name} failed:\n{proc.stderr[-3000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


def test_json_bench_counts_every_event(kafka_bootstrap, tmp_path, monkeypatch, quix_python):
    for k in [k for k in os.environ if k.startswith("PLATESTREAM_")]:
        monkeypatch.delenv(k)
    opts = BenchOptions(levels=[1.0], partitions=2, bootstrap=kafka_bootstrap, profile=False, out=tmp_path)
    res = run_json_bench(opts, EVENTS, ["faust", "quix"], timeout=240, quix_python=quix_python)
    w = res["worker"]
    assert w["complete"] and w["counted"] == EVENTS
    # every event is a good read or a dead letter with its reason (the generator's 0.02 % bad reads)
    assert w["good_reads"] + w["dead_letters"] == EVENTS and w["good_reads"] > 0.99 * EVENTS
    assert 0 < w["duplicates"] < w["good_reads"]
    assert w["reads_per_s"] > 0 and w["cpu_s_per_million_reads"] > 0
    faust, quix = res["faust"]["counters"], res["quix"]["counters"]
    assert res["faust"]["complete"] and faust["messages"] == EVENTS
    assert faust["reads"] + faust["dead"] == EVENTS
    assert res["quix"]["complete"] and quix["messages"] == EVENTS
    assert quix["reads"] + quix["dead"] == EVENTS
    # the same job: the same events give the same good reads, duplicates, hot-list hits and (hour, camera) cells
    for k in ("reads", "dead", "duplicates", "hits", "cells", "hotlist_plates"):
        assert quix[k] == faust[k], k
    assert quix["duplicates"] > 0 and quix["hotlist_plates"] > 0
    for peer in ("faust", "quix"):
        r = res[peer]
        assert r["reads_per_s"] > 0 and r["cpu_s_per_million_reads"] > 0 and r["peak_rss_mb"] > 0
        assert res["ratios"][peer] > 0 and res["cpu_ratios"][peer] > 0
    assert res["machine"]["cpus"] >= 1
