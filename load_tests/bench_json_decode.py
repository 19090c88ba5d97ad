"""Where a JSON take's decoding time goes: the worker's decoder stage by stage, beside simpler parsers. Not a test.

    .venv/bin/python load_tests/bench_json_decode.py                  # one take of 20,000 alpr_group events
    .venv/bin/python load_tests/bench_json_decode.py --events 50000 --rounds 9

No broker: the events of ``load_tests/bench_json.py`` are decoded in this process only. Results go to stdout and,
as JSON, to ``out/bench/json-decode.json`` (``--out docs/bench`` for the published figures).
Logic: ``streams/loadtest/bench/json_decode.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.loadtest.bench.json_decode import BUDGET_US, decode_stages  # noqa: E402
from streams.loadtest.bench.json_path import make_events  # noqa: E402
from streams.loadtest.bench.options import REPO, BenchOptions  # noqa: E402
from streams.loadtest.bench.run import machine  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000, help="events in the take (default: the worker's take)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    ap.add_argument("--name", default="json-decode")
    a = ap.parse_args()
    loadavg0 = os.getloadavg()
    payloads = [value for _key, value in make_events(BenchOptions(levels=[1.0]), a.events)]
    res = decode_stages(payloads, a.rounds)
    res["command"] = shlex.join([".venv/bin/python", "load_tests/bench_json_decode.py", *sys.argv[1:]])
    res["machine"] = machine(loadavg0)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"{res['events']:,} events of {res['bytes_per_event']:.0f} bytes, best of {res['rounds']} rounds")
    print("| stage | us/event | events/s | vs per-event decoder |\n|---|---:|---:|---:|")
    for stage, us in res["us_per_event"].items():
        print(f"| {stage} | {us:.2f} | {res['events_per_s'][stage]:,} | {res['vs_per_event_decoder'][stage]}x |")
    print(f"budget per event at 250,000 reads/s on one worker: {BUDGET_US:.1f} us, all stages together")
    print(f"load average {os.getloadavg()[0]:.2f} (start {loadavg0[0]:.2f})")
    if not res["agree"]:
        print("MISMATCH: the worker's decoder and the per-event decoder disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
