"""The JSON path end to end: one ``alpr_group`` per Kafka message, as cameras send them, through a real broker.

    .venv/bin/python load_tests/bench_json.py                          # 300,000 events, worker + Faust baseline
    .venv/bin/python load_tests/bench_json.py --peers faust,quix --quix-python /tmp/quix-venv/bin/python

The events are queued before the worker starts; the worker works through the backlog at its own pace (one
process, ``--partitions`` partitions), then each peer gets the same events on its own topic. Results go to
``out/bench/json.json`` (``--out docs/bench`` for the published figures).
Logic: ``streams/loadtest/bench/json_path.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.loadtest.bench.json_path import run_json_bench  # noqa: E402
from streams.loadtest.bench.options import REPO, BenchOptions  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--bootstrap", default=None, help="a running broker instead of deploy/local/kafka.sh")
    ap.add_argument("--peers", default="faust", help="comma-separated: faust, quix (empty: the worker only)")
    ap.add_argument("--quix-python", default=None, help="the Python that has quixstreams installed")
    ap.add_argument(
        "--take",
        type=int,
        default=None,
        help="PLATESTREAM_WORKER_BATCH: events per take (default: the setting, 50000)",
    )
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    ap.add_argument("--name", default="json")
    ap.add_argument("--keep-logs", action="store_true")
    a = ap.parse_args()
    opts = BenchOptions(
        levels=[1.0],
        partitions=a.partitions,
        bootstrap=a.bootstrap,
        profile=not a.no_profile,
        keep_logs=a.keep_logs,
        worker_env={"PLATESTREAM_WORKER_BATCH": str(a.take)} if a.take else {},
        command=shlex.join([".venv/bin/python", "load_tests/bench_json.py", *sys.argv[1:]]),
    )
    peers = [p for p in a.peers.split(",") if p]
    res = run_json_bench(opts, a.events, peers, timeout=a.timeout, quix_python=a.quix_python)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"load average {os.getloadavg()[0]:.2f} (start {res['machine']['loadavg_start'][0]})")
    for who in ["worker", *peers]:
        r = res.get(who, {})
        print(f"{who:>8}: {r.get('reads_per_s')} reads/s, {r.get('cpu_s_per_million_reads')} CPU s per million reads")
    print("ratios:", res["ratios"])
    complete = all(res.get(w, {}).get("complete") for w in ["worker", *peers])
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
