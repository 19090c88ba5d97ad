"""The `platestream` command: run, replay, worker, topics, migrate, produce, hold, search, retention, dlq, load."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import typer
from rich.markup import escape

from streams.cli.api import api
from streams.cli.audit import audit_app
from streams.cli.client import ApiClient
from streams.cli.dlq import dlq_app
from streams.cli.gateway import gateway_app
from streams.cli.holds import hold_app
from streams.cli.hotlist import hotlist_app
from streams.cli.keys import keys_app
from streams.cli.load import load_app
from streams.cli.login import login
from streams.cli.options import ConfigOpt, err
from streams.cli.report import report
from streams.cli.retention import retention_app
from streams.cli.search import search_app
from streams.cli.topics import topics_app
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.ingest.verifications import CONFIRM_CHECKS
from streams.kafka.admin import check_topics
from streams.kafka.producer import make_producer, send_reads
from streams.loadtest.synth import Synth, SynthConfig
from streams.model.disposition import CONFIRMED, OUTCOMES, REJECTIONS
from streams.run.embedded import print_summary, run_embedded
from streams.run.replay import REPLAY_SUFFIXES
from streams.run.replay import replay as replay_files
from streams.store.clickhouse import migrate as migrate_store
from streams.store.clickhouse import open_store
from streams.store.grants import apply_grants

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(topics_app, name="topics")
app.add_typer(hotlist_app, name="hotlist")
app.add_typer(retention_app, name="retention")
app.add_typer(dlq_app, name="dlq")
app.add_typer(load_app, name="load")
app.add_typer(hold_app, name="hold")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(gateway_app, name="gateway")


@app.command()
def run(
    reads: Annotated[int, typer.Option(help="synthetic reads to generate")] = 3_000_000,
    batch: Annotated[int, typer.Option(help="reads per batch")] = 250_000,
    seed: Annotated[int, typer.Option(help="seed of the synthetic camera network")] = 7,
    chdb_path: Annotated[Path, typer.Option(help="embedded ClickHouse folder (recreated)")] = Path(".local/run/chdb"),
    config: ConfigOpt = None,
) -> None:
    """The main job on the embedded default: synthetic cameras -> core -> embedded ClickHouse, then a summary."""
    settings = load_settings(config, chdb_path=chdb_path)
    print_summary(run_embedded(settings, reads=reads, batch=batch, seed=seed, console=err))


@app.command()
def replay(
    inputs: Annotated[list[Path], typer.Argument(help="JSON lines, Arrow IPC or Parquet files, or folders of them")],
    hotlist: Annotated[Path | None, typer.Option(help="hot-list CSV extract")] = None,
    policy: Annotated[Path | None, typer.Option(help="admission policy YAML")] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("out"),
    config: ConfigOpt = None,
) -> None:
    """Recorded input through the embedded pipeline: hits.jsonl, dead_letters.jsonl, summary.json under --out."""
    files: list[Path] = []
    for p in inputs:
        if not p.exists():
            raise PlatestreamError(f"input {p} does not exist")
        # A folder (as `load run --to parquet` writes one, by hour): the input files below it, in name order.
        files += sorted(f for f in p.rglob("*") if f.suffix.lower() in REPLAY_SUFFIXES) if p.is_dir() else [p]
    if not files:
        raise PlatestreamError(
            f"no input files ({', '.join(sorted(REPLAY_SUFFIXES))}) in {', '.join(map(str, inputs))}"
        )
    res = replay_files(files, load_settings(config), out, hotlist=hotlist, policy_path=policy)
    typer.echo(json.dumps(res.summary, indent=2, sort_keys=True))


@app.command()
def worker(
    web_port: Annotated[int | None, typer.Option(help="port of /metrics, /livez and /readyz")] = None,
    loglevel: Annotated[str, typer.Option(help="log level")] = "info",
    config: ConfigOpt = None,
) -> None:
    """A Faust stream worker on the Kafka topics; aggregates into ClickHouse ($CLICKHOUSE_URL or embedded)."""
    settings = load_settings(config, web_port=web_port)
    # Before Faust starts its agents: a store another process holds is one line here, not crashing agents.
    open_store(settings.clickhouse_url, settings.chdb_path).close()
    problems = check_topics(settings)
    if problems:
        raise PlatestreamError(
            "topics do not match their declarations (`platestream topics create` makes missing ones, "
            "`platestream topics apply` sets their configs):\n  " + "\n  ".join(problems)
        )
    # Here, not at the top: the worker app (Faust, the matching core) costs every other command about 1 s.
    from streams.worker.app import create_app

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
        "--web-bind",
        settings.web_host,
    ]
    faust_app.main()


@app.command()
def migrate(
    grants: Annotated[
        bool, typer.Option("--grants", help="also create the ClickHouse roles of docs/security.md (server only)")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Apply schemas/clickhouse/*.sql to $CLICKHOUSE_URL, or to the embedded store."""
    s = load_settings(config)
    store = open_store(s.clickhouse_url, s.chdb_path)
    try:
        applied = migrate_store(store, s.aggregate_ttl_days, s.clickhouse_cluster)
        typer.echo(f"{store.name}: applied {len(applied)} file(s) {', '.join(applied)}")
        if grants:
            typer.echo(f"{store.name}: granted roles {', '.join(apply_grants(store))}")
    finally:
        store.close()


@app.command()
def produce(
    reads: Annotated[int, typer.Option(help="synthetic reads to send")] = 100_000,
    batch: Annotated[int, typer.Option(help="reads per generated batch")] = 50_000,
    seed: Annotated[int, typer.Option()] = 7,
    hotlist_out: Annotated[Path | None, typer.Option(help="also write the synthetic hot list as CSV")] = None,
    config: ConfigOpt = None,
) -> None:
    """Camera gateway stand-in: synthetic reads to `reads.batch` as Arrow IPC, partitioned by camera."""
    s = load_settings(config)
    synth = Synth(SynthConfig(seed=seed, start_ms=now_ms() - 3_600_000))
    if hotlist_out:
        pacsv.write_csv(synth.hotlist(), hotlist_out)
    failed: list[str] = []
    producer = make_producer(
        s,
        **{
            "message.timeout.ms": 20_000,  # a broker that is not there is an answer in 20 s, not a hang
            "log_level": 2,  # librdkafka's own connection retries stay off the terminal; the error below says it
            "on_delivery": lambda err, _msg: failed.append(str(err)) if err is not None else None,
        },
    )
    messages = rows = 0
    for b in synth.batches(reads, batch):
        messages += send_reads(producer, s, b, s.partitions)
        rows += b.num_rows  # what was sent, which the generator may round up from --reads
    left = producer.flush(30)
    if left or failed:
        raise PlatestreamError(
            f"{left + len(failed)} of {messages} message(s) not delivered to Kafka at {s.kafka_bootstrap}: "
            "check PLATESTREAM_KAFKA_BOOTSTRAP and that the broker is up"
        )
    typer.echo(f"sent {rows:,} reads in {messages} messages, all delivered")


@app.command()
def verify(
    hit_id: Annotated[str, typer.Argument()],
    confirm: Annotated[
        bool, typer.Option("--confirm", help="plate, region and entry were all checked and match")
    ] = False,
    reject: Annotated[str | None, typer.Option(help=f"reject with what you found: {', '.join(REJECTIONS)}")] = None,
    note: Annotated[str | None, typer.Option(help="what you found, in words (needed with --reject other)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record what checking a hit found, through the API (the operator role); you are the operator on record."""
    if confirm == bool(reject):
        raise PlatestreamError("give exactly one of --confirm or --reject DISPOSITION")
    if reject and reject not in REJECTIONS:
        raise PlatestreamError(f"--reject must be one of {', '.join(REJECTIONS)}")
    disposition = reject or CONFIRMED
    body: dict = {"disposition": disposition}
    if note:
        body["note"] = note
    if disposition == CONFIRMED:
        body["checks"] = dict.fromkeys(CONFIRM_CHECKS, True)
    ApiClient(load_settings(config)).call("POST", f"/v1/hits/{hit_id}/verification", body)
    typer.echo(f"{disposition} {hit_id}: accepted by the API, applied when a worker reads it")


@app.command()
def outcome(
    hit_id: Annotated[str, typer.Argument()],
    what: Annotated[str, typer.Argument(metavar="OUTCOME", help=f"one of {', '.join(OUTCOMES)}")],
    note: Annotated[str | None, typer.Option(help="what happened, in words")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record what came of a confirmed hit, through the API (operator or supervisor); you are on record."""
    if what not in OUTCOMES:
        raise PlatestreamError(f"OUTCOME must be one of {', '.join(OUTCOMES)}")
    body: dict = {"outcome": what} | ({"note": note} if note else {})
    ApiClient(load_settings(config)).call("POST", f"/v1/hits/{hit_id}/outcome", body)
    typer.echo(f"{what} on {hit_id}: accepted by the API, applied when a worker reads it")


app.add_typer(search_app, name="search")  # registered last: after the pipeline's own commands in --help
app.command("login")(login)
app.command("api")(api)
app.command("report")(report)


def main() -> None:
    try:
        app()
    except PlatestreamError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")  # a message with [brackets] is text, not markup
        sys.exit(2)


if __name__ == "__main__":
    main()
