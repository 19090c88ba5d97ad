"""The Arrow batch path end to end: Arrow IPC messages on ``reads.batch``, through a real broker, to the workers.

    .venv/bin/python load_tests/bench_arrow.py                              # 1,000,000 reads, one worker
    .venv/bin/python load_tests/bench_arrow.py --workers 2 --partitions 4   # several worker processes
    .venv/bin/python load_tests/bench_arrow.py --compare /work/main --rounds 2   # this tree vs another, alternating

The reads are queued before the workers start (messages of ``--batch`` reads, each on its camera's partition);
the workers work through the backlog at their own pace, counted from the first read to the last, with their CPU
from /proc and a py-spy profile of the first worker. Results go to ``out/bench/arrow.json``.
Logic: ``streams/loadtest/bench/arrow_path.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.loadtest.bench.arrow_path import alternate, run_arrow_bench  # noqa: E402
from streams.loadtest.bench.options import REPO, BenchOptions  # noqa: E402


def stage_lines(runs: list[dict]) -> list[str]:
    """The profile's stage shares side by side, one column per run."""
    stages: list[str] = []
    for r in runs:
        stages += [s for s in r["worker"].get("profile", {}).get("stage_share", {}) if s not in stages]
    head = f"{'stage (share of wall time)':<40}" + "".join(f"{r['name'] + ' r' + str(r['round']):>12}" for r in runs)
    rows = [head]
    for s in stages:
        cells = "".join(f"{r['worker'].get('profile', {}).get('stage_share', {}).get(s, 0):>12.3f}" for r in runs)
        rows.append(f"{s:<40}{cells}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=50_000, help="reads per Arrow IPC message")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--partitions", type=int, default=None, help="default: 2 per worker")
    ap.add_argument("--bootstrap", default=None, help="a running broker instead of deploy/local/kafka.sh")
    ap.add_argument("--tree", type=Path, default=None, help="run the workers from this checkout (PYTHONPATH)")
    ap.add_argument("--compare", type=Path, default=None, help="alternate rounds: this tree ('after') vs COMPARE")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--kafka-compression", default=None, help="the queuing producer's compression.type")
    ap.add_argument("--compare-kafka-compression", default=None, help="the same, for the --compare tree's runs")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    ap.add_argument("--name", default="arrow")
    ap.add_argument("--keep-logs", action="store_true")
    a = ap.parse_args()
    opts = BenchOptions(
        levels=[1.0],
        workers=a.workers,
        partitions=a.partitions,
        bootstrap=a.bootstrap,
        batch=a.batch,
        profile=not a.no_profile,
        keep_logs=a.keep_logs,
        command=shlex.join([".venv/bin/python", "load_tests/bench_arrow.py", *sys.argv[1:]]),
    )
    if a.compare is not None:
        trees = {"before": a.compare, "after": a.tree}
        comp = {"before_compression": a.compare_kafka_compression, "after_compression": a.kafka_compression}
        runs = alternate(opts, a.reads, trees, a.rounds, a.timeout, **comp)
    else:
        runs = [{"name": "run", "round": 0} | run_arrow_bench(opts, a.reads, a.timeout, a.tree, a.kafka_compression)]
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.json").write_text(json.dumps(runs, indent=2) + "\n")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    for r in runs:
        w = r["worker"]
        print(
            f"{r['name']} r{r['round']}: {w.get('reads_per_s')} reads/s, {w.get('cpu_s_per_million_reads')} CPU s per "
            f"million reads, {w.get('cores')} cores; load {r['machine']['loadavg_start'][0]} -> "
            f"{r['machine']['loadavg_end'][0]}"
        )
    print("\n".join(stage_lines(runs)))
    return 0 if all(r["worker"].get("complete") for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
