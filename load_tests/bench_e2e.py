"""End-to-end benchmark through a real broker: a thin wrapper of ``platestream load bench``.

    .venv/bin/python load_tests/bench_e2e.py                 # the published run (see docs/performance.md)
    .venv/bin/python load_tests/bench_e2e.py --rate 100000   # any `platestream load bench` options instead

The logic lives in ``streams/loadtest/bench/`` (the command works from any installed checkout); this file keeps the
benchmark next to the other load tests and pins the options of the run published in docs/performance.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.cli.app import app  # noqa: E402

# The run in docs/performance.md: a ramp until the lag grows, 20 s per level, the baseline on 200,000 reads.
# It writes the published figures, so it says so: `load bench` alone writes to out/bench.
PUBLISHED = ["--ramp", "50000:1000000:50000", "--step-seconds", "20", "--baseline-reads", "200000"]
PUBLISHED += ["--out", "docs/bench"]

if __name__ == "__main__":
    sys.argv = ["platestream", "load", "bench", *(sys.argv[1:] or PUBLISHED)]  # recorded as the command
    app(sys.argv[1:], prog_name="platestream")
