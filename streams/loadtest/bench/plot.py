"""The run as a picture: processed vs offered rate with the lag verdict, latency percentiles vs offered rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot(result: dict, path: Path) -> bool:
    """Processed vs offered rate (with the lag verdict), and latency percentiles vs offered rate."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    levels = result["levels"]
    x = np.array([lv["offered_reads_per_s"] for lv in levels], float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    proc = np.array([lv["processed_reads_per_s"] for lv in levels], float)
    sent = np.array([lv["achieved_input_reads_per_s"] for lv in levels], float)
    ok = np.array([lv["sustained"] for lv in levels])
    top = max(x.max(), proc.max(), 1.0) * 1.1
    a.plot([0, top], [0, top], color="#cbd5e0", lw=1, ls=":", label="processed = offered")
    a.plot(x, sent, color="#a0aec0", marker=".", label="sent (generator)")
    a.plot(x, proc, color="#2b6cb0", label="processed (workers)")
    a.scatter(x[ok], proc[ok], color="#2f855a", zorder=3, label="lag steady")
    a.scatter(x[~ok], proc[~ok], color="#c53030", marker="x", zorder=3, label="lag growing")
    base = (result.get("baseline") or {}).get("reads_per_s")
    if base:
        a.axhline(base, color="#718096", ls="--", lw=1, label=f"baseline (plain Faust): {base:,} reads/s")
    a.set_xlabel("offered reads/s")
    a.set_ylabel("reads/s")
    a.set_title(f"Throughput, {result['setup']['workers']} worker(s), {result['setup']['partitions']} partitions")
    a.legend(fontsize=8)
    for key, style in (("p50", "-"), ("p99", "--"), ("p99.9", ":")):
        ys = [lv["capture_to_hit_ms"].get(key, np.nan) for lv in levels]
        b.plot(x, ys, ls=style, marker="o", label=key)
    b.axhline(1000, color="#c53030", lw=1, ls="--")
    b.text(x.min(), 1000, " 1 s", color="#c53030", va="bottom")
    b.set_yscale("log")
    b.set_xlabel("offered reads/s")
    b.set_ylabel("capture-to-hit latency (ms, log)")
    b.set_title("Capture-to-hit latency (HDR percentiles per level)")
    b.legend(fontsize=8)
    m = result["machine"]
    shared = f", SHARED MACHINE (load average {m['loadavg_start'][0]})" if m.get("shared") else ""
    fig.suptitle(f"platestream load bench, {m['date']}, {m['cpus']} cores{shared}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
