"""One bench run from start to finish: the stack up, the warm-up, the levels with every measurement thread, the
baseline, and the result assembled, written, and the stack stopped whatever happens."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from streams.clock import now_ms
from streams.errors import PlatestreamError
from streams.loadtest.bench.clears import ClearWatcher
from streams.loadtest.bench.hotlist import admitted_plates, network_hotlist, random_entries, write_hotlist_csv
from streams.loadtest.bench.levels import LoadState, drain_to, drive_levels, warm_up
from streams.loadtest.bench.options import REPO, BenchOptions
from streams.loadtest.bench.probes import PROBE_PREFIX, HitWatcher, percentiles_ms
from streams.loadtest.bench.procs import cpu_seconds, prom_sum, status_kb
from streams.loadtest.bench.profile import start_profile, stop_profile
from streams.loadtest.bench.report import write_result
from streams.loadtest.bench.sampler import Sampler
from streams.loadtest.bench.stack import Stack
from streams.loadtest.bench.verdict import goals, ratio
from streams.loadtest.bench.versus_baseline import run_baseline_after

BUSY_LOADAVG = 1.5  # above this at the start, the run says its figures are not the machine's own


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
    now = now_ms()
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
        drain = drain_to(sampler, state.processed_before + state.sent, opts.drain_timeout_s)
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
        result["ratio"] = ratio(peak, baseline, workers[0])
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
