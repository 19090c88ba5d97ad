"""`platestream load bench`: the pipeline end to end on the local stack, at one load level or a ramp of them.

One run: a real broker (deploy/local/kafka.sh, or ``--bootstrap``), declared topics, ``--workers`` real workers
(``platestream worker``, embedded chDB each) holding a hot list; then, level by level, synthetic reads at a
token-bucket rate (``streams.loadtest.generator``) as Arrow IPC messages to ``reads.batch``. Per level it reports
the achieved input rate, the processed rate (the workers' own counters on ``/metrics``), the consumer group's lag
(end offsets minus committed offsets, sampled) and its growth, capture-to-hit latency (HDR histogram of probe reads)
and CPU per million reads. Alongside: hot-list clear propagation (clear events published during the load; time
until every worker's ``/readyz`` shows them applied), peak RSS per worker, a py-spy profile of one worker, and the
same reads as one JSON read per message through a plain Faust agent (``streams/loadtest/baseline.py``) for the ratio.

The benchmark talks to the workers only through their CLI, topics, ``/metrics`` and ``/readyz``.

The modules, in the order a run uses them: ``options`` (what is asked), ``hotlist``, ``stack`` (broker, topics,
workers) and ``procs`` (processes, /proc, HTTP), ``sampler`` (rates, lag, CPU), ``probes`` (capture-to-hit
latency), ``clears`` (clear propagation), ``profile`` (py-spy), ``levels`` (the load), ``versus_baseline``,
``verdict`` (sustained, goals, ratio), ``report`` and ``plot`` (the files), ``run`` (all of it).
"""

from streams.loadtest.bench.hotlist import random_entries
from streams.loadtest.bench.options import BenchOptions, parse_ramp
from streams.loadtest.bench.probes import percentiles_ms
from streams.loadtest.bench.profile import profile_summary
from streams.loadtest.bench.report import markdown, summary_lines, table_rows
from streams.loadtest.bench.run import run_bench
from streams.loadtest.bench.verdict import goals, judge_level, ratio

__all__ = [
    "BenchOptions",
    "goals",
    "judge_level",
    "markdown",
    "parse_ramp",
    "percentiles_ms",
    "profile_summary",
    "random_entries",
    "ratio",
    "run_bench",
    "summary_lines",
    "table_rows",
]
