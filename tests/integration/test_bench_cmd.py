"""`platestream load bench` on the session broker: a tiny two-level ramp end to end, and what its JSON reports."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration.helpers import cli

pytestmark = pytest.mark.integration


def test_bench_ramp_reports_every_figure(kafka_bootstrap, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_") and k != "CLICKHOUSE_URL"}
    out = tmp_path / "bench"
    proc = cli(
        env, "load", "bench", "--bootstrap", kafka_bootstrap, "--ramp", "10000:20000:10000", "--step-seconds", "4",
        "--batch", "5000", "--probes", "4", "--clear-entries", "100", "--baseline-reads", "3000", "--no-profile",
        "--out", str(out), "--name", "tiny",
        timeout=280,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    res = json.loads((out / "tiny.json").read_text())
    assert (out / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    levels = res["levels"]
    assert [lv["offered_reads_per_s"] for lv in levels] == [10_000, 20_000]
    totals = res["totals"]
    # every read sent was counted by the worker (good reads + dead letters), from the worker's own /metrics
    assert totals["drain_after_load"]["complete"]
    assert totals["reads_processed"] == totals["reads_sent"] == sum(lv["reads_sent"] for lv in levels) > 0
    counted = totals["counters_with_warm_up"]
    assert counted["reads"] + counted["dead_letters"] == totals["reads_sent"] + totals["warm_up"]["reads"]
    assert totals["delivery_errors"] == 0
    # every probe (a hot-list read stamped at send) became a hit, and each level has its latency percentiles
    assert totals["probes_hit"] == totals["probes_sent"] == sum(lv["probes"] for lv in levels) > 0
    for lv in levels:
        assert 0 < lv["achieved_input_reads_per_s"] <= lv["offered_reads_per_s"] * 1.5
        assert lv["processed_reads_per_s"] > 0
        assert lv["lag_growth_messages"] is not None and lv["lag_messages_end"] >= 0
        lat = lv["capture_to_hit_ms"]
        assert lat["count"] == lv["probes"] == lv["probes_hit"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["p99.9"] <= lat["max"] < 120_000
        assert lv["worker_cpu_s_per_million_reads"] > 0
    # hot-list clears were published during the load and every one reached the worker
    clears = res["clear_propagation"]
    assert clears["published"] >= 1 and clears["applied_by_every_worker"] == clears["published"]
    assert 0 <= clears["applied_ms"]["p50"] <= clears["applied_ms"]["max"] < 30_000
    (worker,) = res["workers"]
    assert worker["hotlist_entries_end"] == worker["hotlist_entries_start"] - clears["published"]
    assert worker["peak_rss_mb"] >= worker["rss_idle_mb"] > 0
    assert worker["cpu_s_per_million_reads"] > 0
    # the plain-Faust baseline saw every one of its reads
    base = res["baseline"]
    assert base["complete"] and base["counters"]["messages"] == base["reads"] == 3000
    assert base["reads_per_s"] > 0 and res["ratio"]["peak_processed_over_baseline"] > 0
    assert "platestream load bench" in res["command"]
    # the table on stdout has a row per level
    assert proc.stdout.count("\n") >= 3 and "10,000" in proc.stdout and "20,000" in proc.stdout
