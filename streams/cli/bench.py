"""`platestream load bench`: the end-to-end benchmark on the local stack (the logic is in `streams.loadtest.bench`).

Registered on the ``load`` group by ``streams.cli.load``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from streams.errors import PlatestreamError
from streams.loadtest.bench import BenchOptions, parse_ramp, run_bench, summary_lines, table_rows

# Never the published figures by default: publishing them takes an explicit `--out docs/bench`.
DEFAULT_OUT = Path("out/bench")


def load_bench(
    rate: Annotated[float | None, typer.Option("--rate", min=1, help="one load level, reads/s")] = None,
    ramp: Annotated[
        str | None, typer.Option("--ramp", help="levels START:STOP:STEP in reads/s, e.g. 100000:1000000:100000")
    ] = None,
    step_seconds: Annotated[float, typer.Option("--step-seconds", min=1, help="how long each level holds")] = 30.0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="platestream worker processes")] = 1,
    partitions: Annotated[
        int | None, typer.Option("--partitions", min=1, help="partitions of the reads topics (default 2 per worker)")
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="use this broker (else start deploy/local/kafka.sh)")
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=100, help="reads per generated batch (one message per partition)")
    ] = 50_000,
    probes: Annotated[
        int, typer.Option("--probes", min=0, help="hot-list reads per batch stamped at send (latency probes)")
    ] = 25,
    lag_tolerance: Annotated[
        float, typer.Option("--lag-tolerance", min=0, help="a level is sustained if lag grows < this many s of input")
    ] = 1.0,
    clear_entries: Annotated[
        int, typer.Option("--clear-entries", min=0, help="extra hot-list entries to clear during the load (0: none)")
    ] = 10_000,
    baseline_reads: Annotated[
        int, typer.Option("--baseline-reads", min=0, help="reads through the plain-Faust baseline (0: skip)")
    ] = 200_000,
    profile: Annotated[bool, typer.Option("--profile/--no-profile", help="py-spy samples of worker 0")] = True,
    stop_after: Annotated[
        int, typer.Option("--stop-after", min=0, help="levels measured after the first unsustained one")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the synthetic camera networks")] = 7,
    out: Annotated[Path, typer.Option("--out", help="folder for NAME.json and NAME.png")] = DEFAULT_OUT,
    name: Annotated[str, typer.Option("--name", help="file name of the results, without suffix")] = "e2e",
    keep_logs: Annotated[bool, typer.Option("--keep-logs", help="keep the workers' logs and state")] = False,
) -> None:
    """Run the local stack (broker, workers, embedded ClickHouse) under --rate or --ramp; write JSON and a plot."""
    if (rate is None) == (ramp is None):
        raise PlatestreamError("give exactly one of --rate R and --ramp START:STOP:STEP")
    opts = BenchOptions(
        levels=[rate] if rate is not None else parse_ramp(ramp or ""),
        step_seconds=step_seconds,
        workers=workers,
        partitions=partitions,
        bootstrap=bootstrap,
        batch=batch,
        probes_per_batch=probes,
        lag_tolerance_s=lag_tolerance,
        clear_entries=clear_entries,
        baseline_reads=baseline_reads,
        profile=profile,
        stop_after_unsustained=stop_after,
        seed=seed,
        out=out,
        name=name,
        command=shlex.join(["platestream", *sys.argv[1:]]),
        keep_logs=keep_logs,
    )
    result = run_bench(opts)
    rows = table_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    typer.echo("")
    for line in summary_lines(result):
        typer.echo(line)
    typer.echo("wrote " + " and ".join(result.get("_files", [])))
