"""A run's result for people: the per-level table and summary lines printed, the markdown of
docs/performance.md, and the files written (JSON, markdown, plot)."""

from __future__ import annotations

import json

from streams.loadtest.bench.options import BenchOptions
from streams.loadtest.bench.plot import plot


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
