"""The verdicts of a run, from its figures alone: is a level sustained, are the issue's goals met, and the
ratio to the plain-Faust baseline."""

from __future__ import annotations

import numpy as np

from streams.loadtest.bench.options import BenchOptions


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


def ratio(peak: float, baseline: dict | None, worker0: dict) -> dict:
    """Platestream against the baseline: peak processed reads/s over the baseline's, and its CPU per read over
    worker 0's (None where the baseline did not run or measured nothing)."""
    b_rate = (baseline or {}).get("reads_per_s")
    return {
        "peak_processed_over_baseline": round(peak / b_rate, 1) if b_rate else None,
        "baseline_cpu_over_platestream_cpu_per_million": (
            round(baseline["cpu_s_per_million_reads"] / worker0["cpu_s_per_million_reads"], 1)
            if b_rate and worker0["cpu_s_per_million_reads"]
            else None
        ),
    }
