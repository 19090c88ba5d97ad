"""`platestream load`: synthetic reads at a target rate, to Kafka or Parquet, from one or more processes."""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import time
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from streams.errors import PlatestreamError

load_app = typer.Typer(no_args_is_help=True, help="Load generator: synthetic reads at a target rate.")
err = Console(stderr=True)


class Target(StrEnum):
    kafka = "kafka"
    parquet = "parquet"


def _share(total: int | None, workers: int, i: int) -> int | None:
    if total is None:
        return None
    return total // workers + (1 if i < total % workers else 0)


def _work(job: dict[str, Any], q: Any) -> None:
    """One worker process (or the only one, in-process)."""
    from streams.loadgen import kafka_sink, parquet_sink, run

    i = job["worker"]
    try:
        if job["to"] == "kafka":
            from streams.config import load_settings

            sink = kafka_sink(load_settings(job["config"]))
        else:
            sink = parquet_sink(job["out"], worker=i)
        last = [0.0]

        def progress(sent: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                q.put(("progress", i, sent))

        res = run(
            sink,
            rate=job["rate"],
            count=job["count"],
            duration_s=job["duration"],
            batch=job["batch"],
            seed=job["seed"],
            worker=i,
            workers=job["workers"],
            progress=progress,
            start_ms=job["start_ms"],
        )
        q.put(("progress", i, res["reads"]))
        q.put(("done", i, res))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the command
        q.put(("error", i, traceback.format_exc()))


@load_app.command("run")
def load_run(
    rate: Annotated[float | None, typer.Option("--rate", min=1, help="target reads/s over all workers")] = None,
    count: Annotated[int | None, typer.Option("--count", min=1, help="reads to send over all workers")] = None,
    duration: Annotated[float | None, typer.Option("--duration", min=0, help="stop after this many seconds")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="reads per batch")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the synthetic camera network")] = 7,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes, each with its own share")] = 1,
    to: Annotated[Target, typer.Option("--to", help="where reads go")] = Target.kafka,
    out: Annotated[Path | None, typer.Option("--out", help="output folder (--to parquet)")] = None,
    result: Annotated[Path | None, typer.Option("--result", help="write the result as JSON here")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML settings file (else $PLATESTREAM_CONFIG)")
    ] = None,
) -> None:
    """Send --count reads and/or for --duration seconds, at --rate reads/s (else as fast as possible)."""
    if count is None and duration is None:
        raise PlatestreamError("give --count or --duration (or both)")
    if to is Target.parquet and out is None:
        raise PlatestreamError("--to parquet needs --out DIR")
    if count is not None and count < workers:
        workers = count
    start_ms = int(time.time() * 1000)
    jobs = [
        {
            "worker": i,
            "workers": workers,
            "rate": rate / workers if rate else None,
            "count": _share(count, workers, i),
            "duration": duration,
            "batch": batch,
            "seed": seed,
            "to": to.value,
            "out": str(out) if out else None,
            "config": str(config) if config else None,
            "start_ms": start_ms,
        }
        for i in range(workers)
    ]
    sent = [0] * workers
    results: dict[int, dict] = {}
    errors: dict[int, str] = {}
    t0 = time.monotonic()
    columns = [
        TextColumn("[bold]load[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>12,.0f} reads/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("load", total=count, rate=0.0)
        first: list[float | None] = [None]

        def handle(msg: tuple) -> None:
            kind, i, payload = msg
            if kind == "progress":
                sent[i] = payload
            elif kind == "done":
                results[i] = payload
            else:
                errors[i] = payload
            if first[0] is None:
                first[0] = time.monotonic()  # the rate shown leaves out process start-up
            elapsed = time.monotonic() - first[0]
            bar.update(task, completed=sum(sent), rate=sum(sent) / elapsed if elapsed > 0 else 0.0)

        if workers == 1:
            _work(jobs[0], _Direct(handle))
        else:
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            procs = [ctx.Process(target=_work, args=(job, q), daemon=True) for job in jobs]
            for p in procs:
                p.start()
            while len(results) + len(errors) < workers:
                try:
                    handle(q.get(timeout=0.2))
                except queue.Empty:
                    dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in results and i not in errors]
                    for i in dead:
                        if procs[i].exitcode not in (0, None):
                            errors[i] = f"worker exited with code {procs[i].exitcode}"
            for p in procs:
                p.join(timeout=30)
    wall = time.monotonic() - t0
    total = sum(r["reads"] for r in results.values())
    seconds = max((r["seconds"] for r in results.values()), default=0.0)  # sending time, without process start
    summary = {
        "reads": total,
        "seconds": seconds,
        "wall_seconds": wall,
        "rate": total / seconds if seconds > 0 else 0.0,
        "errors": sum(r["errors"] for r in results.values()) + len(errors),
        "messages": sum(r.get("messages", 0) for r in results.values()),
        "parameters": {
            "rate": rate,
            "count": count,
            "duration": duration,
            "batch": batch,
            "seed": seed,
            "workers": workers,
            "to": to.value,
            "out": str(out) if out else None,
            "start_ms": start_ms,
        },
        "workers": [results.get(i, {"error": errors.get(i)}) for i in range(workers)],
    }
    if result is not None:
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    typer.echo(json.dumps({k: summary[k] for k in ("reads", "seconds", "rate", "errors", "messages")}, sort_keys=True))
    if errors:
        for i, tb in sorted(errors.items()):
            err.print(f"[red]worker {i} failed:[/red]\n{tb}")
        raise typer.Exit(1)


class _Direct:
    """A queue stand-in for the in-process worker: messages are handled at once."""

    def __init__(self, handle: Any):
        self.handle = handle

    def put(self, msg: tuple) -> None:
        self.handle(msg)


from streams.cli_bench import load_bench  # noqa: E402 - `platestream load bench`, kept in its own module

load_app.command("bench")(load_bench)
