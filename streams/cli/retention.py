"""`platestream retention ...`: show the retention policy in force, and verify the stores against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import ConfigOpt
from streams.config.retention import DATA_CLASSES, RetentionPolicy, kafka_limit_configs, kafka_topic_limits
from streams.config.settings import Settings, load_policy, load_settings
from streams.run.retention_verify import verify as verify_stores
from streams.store.clickhouse import ServerStore, open_store
from streams.store.deletions import deletions_per_day
from streams.store.purge import purge as purge_store
from streams.store.schema import prepare_schema

retention_app = typer.Typer(no_args_is_help=True, help="Retention policy: show it, verify the stores against it.")

RetentionOpt = Annotated[
    str | None, typer.Option("--retention", help="preset name or policy YAML (else the `retention` setting)")
]


def _settings_and_policy(config: Path | None, retention: str | None) -> tuple[Settings, RetentionPolicy]:
    settings = load_settings(config, retention=retention)
    return settings, settings.retention_policy()


@retention_app.command("show")
def show(retention: RetentionOpt = None, config: ConfigOpt = None) -> None:
    """The limits of the policy in force, and what each store is set to."""
    settings, policy = _settings_and_policy(config, retention)
    typer.echo(f"policy: {policy.name}")
    typer.echo(f"source: {policy.source}")
    for c in DATA_CLASSES:
        typer.echo(f"  {c}: {getattr(policy, c)} s")
    for topic, (cls, limit) in kafka_topic_limits(policy).items():
        configs = " ".join(f"{k}={v}" for k, v in kafka_limit_configs(limit).items())
        typer.echo(f"kafka {topic} ({cls}): {configs}")
    typer.echo(f"clickhouse read store: {settings.keep_reads()} reads; purge every {settings.purge_every_s():g} s")
    cfg = settings.processor_config(load_policy(settings.policy_path))
    hold = min(cfg.dedup_window_ms, cfg.nonhit_state_ms)
    typer.echo(f"processor state: a read is held until {hold / 1000:g} s after its capture time, to the next 5 s tick")


@retention_app.command("verify")
def verify(
    worker: Annotated[
        list[str] | None, typer.Option("--worker", help="a worker's base URL, e.g. http://127.0.0.1:6066 (repeatable)")
    ] = None,
    kafka: Annotated[bool, typer.Option("--kafka/--no-kafka", help="check the Kafka topics")] = True,
    retention: RetentionOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Check every store against the policy; exits 1 if any check fails.

    Kafka topics, each worker's processor state and embedded store (through --worker), and a ClickHouse server
    (CLICKHOUSE_URL) when one is configured.
    """
    settings, policy = _settings_and_policy(config, retention)
    store = ServerStore(settings.clickhouse_url) if settings.clickhouse_url else None
    try:
        findings = verify_stores(settings, policy, list(worker or []), kafka=kafka, store=store)
    finally:
        if store is not None:
            store.close()
    for f in findings:
        typer.echo(f.line())
    failed = sum(f.failed for f in findings)
    unchecked = sum(f.level == "warn" for f in findings)
    verdict = f"FAIL: {failed} check(s) failed" if failed else "all checks passed"
    if unchecked and not failed:
        verdict += f", but {unchecked} store(s) not checked (WARN above)"
    typer.echo(f"{verdict} (policy {policy.name})")
    raise typer.Exit(1 if failed else 0)


@retention_app.command("purge")
def purge(config: ConfigOpt = None, retention: RetentionOpt = None) -> None:
    """Run the purge job once on the configured store (a scheduled job for a ClickHouse server; workers purge
    their embedded stores themselves)."""
    settings, policy = _settings_and_policy(config, retention)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        prepare_schema(store, settings)  # migrated (ON CLUSTER when configured), or checked with maintenance off
        done = purge_store(store, policy, bucket_ms=settings.bucket_s * 1000)
    finally:
        store.close()
    for (table, cls), n in sorted(done.deleted.items()):
        typer.echo(f"deleted {n} from {table} ({cls})")
    typer.echo(f"{done.total} row(s) deleted, {done.held} read(s) newly kept by holds (policy {policy.name})")


@retention_app.command("deletions")
def deletions(config: ConfigOpt = None) -> None:
    """Records deleted per day, store and data class (processor state, ClickHouse, Kafka), from the store."""
    settings, _ = _settings_and_policy(config, None)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        rows = deletions_per_day(store).to_pylist()
    finally:
        store.close()
    typer.echo(f"{'day':<12}{'store':<18}{'data class':<16}{'deleted':>12}")
    for r in rows:
        typer.echo(f"{str(r['day']):<12}{r['store']:<18}{r['data_class']:<16}{r['deleted']:>12}")
