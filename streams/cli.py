"""The `platestream` command: run, replay, worker, topics, migrate, produce."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streams.config import load_settings
from streams.errors import PlatestreamError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics as declared in streams/transport/topics.py.")
app.add_typer(topics_app, name="topics")
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else $PLATESTREAM_CONFIG)")]


@app.command()
def run(
    reads: Annotated[int, typer.Option(help="synthetic reads to generate")] = 3_000_000,
    batch: Annotated[int, typer.Option(help="reads per batch")] = 250_000,
    seed: Annotated[int, typer.Option(help="seed of the synthetic camera network")] = 7,
    chdb_path: Annotated[Path, typer.Option(help="embedded ClickHouse folder (recreated)")] = Path(".local/run/chdb"),
    config: ConfigOpt = None,
) -> None:
    """The main job on the embedded default: synthetic cameras -> core -> embedded ClickHouse, then a summary."""
    from streams.run.embedded import print_summary, run_embedded

    settings = load_settings(config, chdb_path=chdb_path)
    print_summary(run_embedded(settings, reads=reads, batch=batch, seed=seed, console=err))


@app.command()
def replay(
    inputs: Annotated[list[Path], typer.Argument(help="JSON lines, Arrow IPC streams or Parquet files")],
    hotlist: Annotated[Path | None, typer.Option(help="hot-list CSV extract")] = None,
    policy: Annotated[Path | None, typer.Option(help="admission policy YAML")] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("out"),
    config: ConfigOpt = None,
) -> None:
    """Recorded input through the embedded pipeline: hits.jsonl, dead_letters.jsonl, summary.json under --out."""
    from streams.run.replay import replay as do_replay

    for p in inputs:
        if not p.exists():
            raise PlatestreamError(f"input {p} does not exist")
    res = do_replay(inputs, load_settings(config), out, hotlist=hotlist, policy_path=policy)
    typer.echo(json.dumps(res.summary, indent=2, sort_keys=True))


@app.command()
def worker(
    web_port: Annotated[int | None, typer.Option(help="port of /metrics and /health")] = None,
    loglevel: Annotated[str, typer.Option(help="log level")] = "info",
    config: ConfigOpt = None,
) -> None:
    """A Faust stream worker on the Kafka topics; aggregates into ClickHouse ($CLICKHOUSE_URL or embedded)."""
    from streams.transport.admin import check_topics
    from streams.transport.worker import create_app

    settings = load_settings(config, web_port=web_port)
    problems = check_topics(settings)
    if problems:
        raise PlatestreamError("topics do not match their declarations:\n  " + "\n  ".join(problems))
    faust_app = create_app(settings)
    sys.argv = [
        "platestream-worker",
        "worker",
        "--loglevel",
        loglevel,
        "--web-port",
        str(settings.web_port),
        "--web-host",
        settings.web_host,
    ]
    faust_app.main()


@topics_app.command("create")
def topics_create(config: ConfigOpt = None) -> None:
    """Create every declared topic that does not exist yet."""
    from streams.transport.admin import create_topics

    for name, state in sorted(create_topics(load_settings(config)).items()):
        typer.echo(f"{name}: {state}")


@topics_app.command("check")
def topics_check(config: ConfigOpt = None) -> None:
    """Compare the broker with the declarations; exits 1 on any difference."""
    from streams.transport.admin import check_topics

    problems = check_topics(load_settings(config))
    for p in problems:
        typer.echo(p)
    raise typer.Exit(1 if problems else 0)


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Apply schemas/clickhouse/*.sql to $CLICKHOUSE_URL, or to the embedded store."""
    from streams.store.clickhouse import migrate as do_migrate
    from streams.store.clickhouse import open_store

    s = load_settings(config)
    store = open_store(s.clickhouse_url, s.chdb_path)
    applied = do_migrate(store, s.aggregate_ttl_days)
    typer.echo(f"{store.name}: applied {len(applied)} file(s) {', '.join(applied)}")


@app.command()
def produce(
    reads: Annotated[int, typer.Option(help="synthetic reads to send")] = 100_000,
    batch: Annotated[int, typer.Option(help="reads per generated batch")] = 50_000,
    seed: Annotated[int, typer.Option()] = 7,
    hotlist_out: Annotated[Path | None, typer.Option(help="also write the synthetic hot list as CSV")] = None,
    config: ConfigOpt = None,
) -> None:
    """Camera gateway stand-in: synthetic reads to `reads.batch` as Arrow IPC, partitioned by camera."""
    import time

    from streams.synth import Synth, SynthConfig
    from streams.transport.producer import make_producer, send_reads

    s = load_settings(config)
    synth = Synth(SynthConfig(seed=seed, start_ms=int(time.time() * 1000) - 3_600_000))
    if hotlist_out:
        import pyarrow.csv as pacsv

        pacsv.write_csv(synth.hotlist(), hotlist_out)
    producer = make_producer(s)
    sent = sum(send_reads(producer, s, b, s.partitions) for b in synth.batches(reads, batch))
    producer.flush(60)
    typer.echo(f"sent {reads:,} reads in {sent} messages")


def main() -> None:
    try:
        app()
    except PlatestreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
