"""`platestream load`: synthetic reads at a target rate, to Kafka or Parquet, from one or more processes; and
replays of recorded reads (Parquet, alpr_group JSON lines) to Kafka at recorded speed, faster or as fast as possible."""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import time
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from streams.cli.bench import load_bench
from streams.cli.options import ConfigOpt, err
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.loadtest.generator import run
from streams.loadtest.replay import ReplayError, count_rows, json_chunks, parquet_chunks, replay, replay_inputs
from streams.loadtest.sinks import kafka_sink, parquet_sink

load_app = typer.Typer(no_args_is_help=True, help="Load generator: synthetic reads at a target rate, and replays.")


class Target(StrEnum):
    kafka = "kafka"
    parquet = "parquet"


class Traffic(StrEnum):
    flat = "flat"
    daily = "daily"


def _share(total: int | None, workers: int, i: int) -> int | None:
    if total is None:
        return None
    return total // workers + (1 if i < total % workers else 0)


def _work(job: dict[str, Any], q: Any, start: Any = None) -> None:
    """One worker process (or the only one, in-process). ``start``, a barrier shared by the workers, makes them all
    begin sending together, once each has built its generator: the run's rate is then over a common span."""
    i = job["worker"]
    try:
        if job["to"] == "kafka":
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
            realism=job["realism"],
            traffic=job["traffic"],
            on_ready=start.wait if start is not None else None,
        )
        q.put(("progress", i, res["reads"]))
        q.put(("done", i, res))
    except PlatestreamError as exc:  # a setting or a broker to fix: one sentence, no traceback
        q.put(("error", i, f"error: {exc}"))
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
    traffic: Annotated[
        Traffic, typer.Option("--traffic", help="daily: event time and --rate follow the time of day (rate = mean)")
    ] = Traffic.flat,
    realism: Annotated[
        bool, typer.Option("--realism/--classic", help="camera map, routes and camera noise, or the classic mix")
    ] = True,
    config: ConfigOpt = None,
) -> None:
    """Send --count reads and/or for --duration seconds, at --rate reads/s (else as fast as possible)."""
    if count is None and duration is None:
        raise PlatestreamError("give --count or --duration (or both)")
    if to is Target.parquet and out is None:
        raise PlatestreamError("--to parquet needs --out DIR")
    if count is not None and count < workers:
        workers = count
    if to is Target.kafka:  # before the bar and the worker processes: an unreachable broker is one sentence
        kafka_sink(load_settings(config)).close()
    start_ms = now_ms()
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
            "realism": realism,
            "traffic": traffic.value,
        }
        for i in range(workers)
    ]
    sent = [0] * workers
    results: dict[int, dict] = {}
    errors: dict[int, str] = {}
    t0 = time.monotonic()
    # With --duration alone the bar runs on time (seconds of the duration), so it can say how long is left.
    by_time = count is None and duration is not None
    with Progress(*_columns("load", by_time), console=err, transient=False) as bar:
        task = bar.add_task("load", total=duration if by_time else count, rate=0.0, reads=0)
        first: list[float] = []  # when the first progress came, and the reads it counted

        def handle(msg: tuple) -> None:
            kind, i, payload = msg
            if kind == "progress":
                sent[i] = payload
            elif kind == "done":
                results[i] = payload
            else:
                errors[i] = payload
            if not first:
                first.extend([time.monotonic(), sum(sent)])  # the rate shown leaves out process start-up
            elapsed = time.monotonic() - first[0]
            rate_now = (sum(sent) - first[1]) / elapsed if elapsed > 0 else 0.0
            done = min(time.monotonic() - t0, duration) if by_time and duration is not None else sum(sent)
            bar.update(task, completed=done, rate=rate_now, reads=sum(sent))

        if workers == 1:
            _work(jobs[0], _Direct(handle))
        else:
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            start = ctx.Barrier(workers, timeout=300)
            procs = [ctx.Process(target=_work, args=(job, q, start), daemon=True) for job in jobs]
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
                if errors:
                    start.abort()  # the others stop waiting at the start and report the broken barrier
            for p in procs:
                p.join(timeout=30)
        done_s = max((r["seconds"] for r in results.values()), default=0.0)
        if done_s > 0:  # the achieved rate, as the result file has it
            bar.update(task, rate=sum(r["reads"] for r in results.values()) / done_s)
        if by_time and not errors:
            bar.update(task, completed=duration, reads=sum(r["reads"] for r in results.values()))
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
            "realism": realism,
            "traffic": traffic.value,
        },
        "overlapping_trips": sum(r.get("overlapping_trips", 0) for r in results.values()),
        "workers": [results.get(i, {"error": errors.get(i)}) for i in range(workers)],
    }
    _write_result(result, summary)
    typer.echo(json.dumps({k: summary[k] for k in ("reads", "seconds", "rate", "errors", "messages")}, sort_keys=True))
    if errors:
        for i, tb in sorted(errors.items()):
            err.print(f"[red]worker {i} failed:[/red]\n{tb}")
        raise typer.Exit(1)


def _columns(name: str, by_time: bool = False) -> list[Any]:
    return [
        TextColumn(f"[bold]{name}[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[reads]:>14,} reads") if by_time else MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>12,.0f} reads/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]


def _write_result(path: Path | None, summary: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


@load_app.command("replay")
def load_replay(
    inputs: Annotated[list[Path], typer.Argument(help="Parquet files/folders (e.g. a load run --out) or JSON lines")],
    speedup: Annotated[
        float | None, typer.Option("--speedup", min=0.001, help="send this many times faster than recorded")
    ] = None,
    recorded: Annotated[bool, typer.Option("--recorded", help="at recorded speed (the default)")] = False,
    asap: Annotated[bool, typer.Option("--asap", help="as fast as possible")] = False,
    retime: Annotated[
        bool,
        typer.Option(
            "--retime",
            help="move each batch to when it is sent (as if live); reads keep their offsets: bad clocks stay",
        ),
    ] = False,
    max_gap: Annotated[
        float, typer.Option("--max-gap", min=0, help="seconds: a longer jump in captured_at is not waited for")
    ] = 600.0,
    batch: Annotated[int, typer.Option("--batch", min=1, help="rows read per file at a time, and per send")] = 50_000,
    result: Annotated[Path | None, typer.Option("--result", help="write the result as JSON here")] = None,
    config: ConfigOpt = None,
) -> None:
    """Replay recorded reads to Kafka, paced by captured_at: Parquet as Arrow batches to reads.batch, JSON lines
    (alpr_group, heartbeats, reads) byte for byte to reads.json."""
    if sum([speedup is not None, recorded, asap]) > 1:
        raise PlatestreamError("give one of --speedup X, --recorded, --asap")
    pace = None if asap else (speedup or 1.0)
    try:
        kind, groups = replay_inputs(inputs)
        total = count_rows(kind, groups)
    except (ReplayError, OSError, pa.ArrowException) as exc:
        raise PlatestreamError(f"cannot replay: {exc}") from None

    def chunks() -> Any:
        for g in groups:
            if kind == "parquet":
                yield from parquet_chunks(g, batch)
            else:
                yield from json_chunks(g[0])

    sink = kafka_sink(load_settings(config))
    t0 = time.monotonic()
    with Progress(*_columns("replay"), console=err, transient=False) as bar:
        task = bar.add_task("replay", total=total, rate=0.0)
        last = [0.0]

        def progress(sent: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                bar.update(task, completed=sent, rate=sent / (now - t0) if now > t0 else 0.0)

        try:
            res = replay(
                chunks(), sink, speedup=pace, retime=retime, max_gap_s=max_gap, max_rows=batch, progress=progress
            )
        except (ReplayError, OSError, pa.ArrowException) as exc:
            sink.close()
            raise PlatestreamError(f"cannot replay: {exc}") from None
        bar.update(task, completed=res["reads"], rate=res["rate"])
    res["parameters"].update(inputs=[str(p) for p in inputs], kind=kind, batch=batch, asap=asap)
    _write_result(result, res)
    typer.echo(json.dumps({k: res[k] for k in ("reads", "seconds", "rate", "errors", "messages")}, sort_keys=True))
    if res["errors"]:
        raise typer.Exit(1)


class _Direct:
    """A queue stand-in for the in-process worker: messages are handled at once."""

    def __init__(self, handle: Any):
        self.handle = handle

    def put(self, msg: tuple) -> None:
        self.handle(msg)


load_app.command("bench")(load_bench)  # `platestream load bench`, in its own module
