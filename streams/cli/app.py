"""The `platestream` command: run, replay, worker, topics, migrate, produce, hold, search, retention, dlq, load."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streams.cli.dlq import dlq_app
from streams.cli.holds import hold_app, keys_app, search
from streams.cli.load import load_app
from streams.cli.retention import retention_app
from streams.config.settings import load_settings
from streams.errors import PlatestreamError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics as declared in streams/kafka/topics.py.")
app.add_typer(topics_app, name="topics")
hotlist_app = typer.Typer(no_args_is_help=True, help="Publish hot-list events (add, clear, sync) to every worker.")
app.add_typer(hotlist_app, name="hotlist")
app.add_typer(retention_app, name="retention")
app.add_typer(dlq_app, name="dlq")
app.add_typer(load_app, name="load")
app.add_typer(hold_app, name="hold")
app.add_typer(keys_app, name="keys")
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
    from streams.kafka.admin import check_topics
    from streams.worker.app import create_app

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
    from streams.kafka.admin import create_topics

    for name, state in sorted(create_topics(load_settings(config)).items()):
        typer.echo(f"{name}: {state}")


@topics_app.command("apply")
def topics_apply(config: ConfigOpt = None) -> None:
    """Bring existing topics' configs in line with the declarations (after a retention policy change)."""
    from streams.kafka.admin import apply_configs

    changes = apply_configs(load_settings(config))
    for c in changes:
        typer.echo(c)
    typer.echo(f"{len(changes)} config(s) changed")


@topics_app.command("check")
def topics_check(config: ConfigOpt = None) -> None:
    """Compare the broker with the declarations; exits 1 on any difference."""
    from streams.kafka.admin import check_topics

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

    from streams.kafka.producer import make_producer, send_reads
    from streams.loadtest.synth import Synth, SynthConfig

    s = load_settings(config)
    synth = Synth(SynthConfig(seed=seed, start_ms=int(time.time() * 1000) - 3_600_000))
    if hotlist_out:
        import pyarrow.csv as pacsv

        pacsv.write_csv(synth.hotlist(), hotlist_out)
    producer = make_producer(s)
    sent = sum(send_reads(producer, s, b, s.partitions) for b in synth.batches(reads, batch))
    producer.flush(60)
    typer.echo(f"sent {reads:,} reads in {sent} messages")


def _publish(settings, topic: str, items: list[tuple[str, dict]]) -> None:  # noqa: ANN001
    import json as _json

    from streams.kafka.producer import make_producer
    from streams.kafka.topics import topic_name

    producer = make_producer(settings, **{"linger.ms": 0})
    for key, value in items:
        producer.produce(topic_name(settings, topic), _json.dumps(value).encode(), key=key.encode())
    if producer.flush(30):
        raise PlatestreamError(f"could not deliver to {topic_name(settings, topic)}")


@hotlist_app.command("add")
def hotlist_add(
    csv: Annotated[Path, typer.Argument(help="hot-list CSV extract (see docs/hotlists.md)")],
    config: ConfigOpt = None,
) -> None:
    """Publish every row of a CSV extract as an add event (workers admit or refuse each by policy)."""
    import time

    from streams.ingest.hotlist_csv import read_hotlist_csv
    from streams.ingest.hotlist_events import add_event

    entries, refused = read_hotlist_csv(csv)
    now = int(time.time() * 1000)
    items = []
    for row in entries.to_pylist():
        for k in ("valid_from", "expires_at"):
            row[k] = int(row[k].timestamp() * 1000) if row[k] is not None else None
        items.append((row["entry_id"], add_event(row, now)))
    _publish(load_settings(config), "hotlist.events", items)
    typer.echo(f"published {len(items)} add event(s); {refused.num_rows} row(s) with unreadable dates not sent")


@hotlist_app.command("clear")
def hotlist_clear(
    entry_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="recovered, warrant_served, cancelled, expired, entered_in_error, other")],
    by: Annotated[str, typer.Option(help="who clears it")],
    config: ConfigOpt = None,
) -> None:
    """Vehicle recovered, warrant served: every worker stops matching the entry."""
    import time

    from streams.ingest.hotlist_events import CLEAR_REASONS, clear_event

    if reason not in CLEAR_REASONS:
        raise PlatestreamError(f"--reason must be one of {', '.join(CLEAR_REASONS)}")
    _publish(
        load_settings(config),
        "hotlist.events",
        [(entry_id, clear_event(entry_id, reason, by, int(time.time() * 1000)))],
    )
    typer.echo(f"cleared {entry_id}")


@hotlist_app.command("sync")
def hotlist_sync(source: Annotated[str, typer.Argument()], config: ConfigOpt = None) -> None:
    """Mark a source as freshly synced (its freshness clock restarts)."""
    import time

    from streams.ingest.hotlist_events import sync_event

    _publish(load_settings(config), "hotlist.events", [(f"sync:{source}", sync_event(source, int(time.time() * 1000)))])
    typer.echo(f"synced {source}")


@app.command()
def verify(
    hit_id: Annotated[str, typer.Argument()],
    operator: Annotated[str, typer.Option(help="who checked the hit")],
    confirm: Annotated[
        bool, typer.Option("--confirm", help="plate, region and entry were all checked and match")
    ] = False,
    reject: Annotated[
        str | None, typer.Option(help="reject with a reason: misread, wrong_state, entry_cleared, ...")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Record an operator's decision on a hit (published to the verifications topic)."""
    import time

    from streams.ingest.verifications import REJECT_REASONS, verification_event

    if confirm == bool(reject):
        raise PlatestreamError("give exactly one of --confirm or --reject REASON")
    if reject and reject not in REJECT_REASONS:
        raise PlatestreamError(f"--reject must be one of {', '.join(REJECT_REASONS)}")
    event = verification_event(hit_id, operator, int(time.time() * 1000), reject)
    _publish(load_settings(config), "verifications", [(hit_id, event)])
    typer.echo(f"{event['decision']} {hit_id}")


app.command("search")(search)  # registered last: after the pipeline's own commands in --help


def main() -> None:
    try:
        app()
    except PlatestreamError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
