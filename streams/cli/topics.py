"""`platestream topics ...`: the Kafka topics as declared in streams/kafka/topics.py, created, applied, checked, or
written out as Strimzi ``KafkaTopic`` resources."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
import yaml

from streams.cli.options import ConfigOpt
from streams.config.settings import load_settings
from streams.kafka.admin import apply_configs, check_topics, create_topics
from streams.kafka.topics import declared, kafka_topic_manifests

topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics as declared in streams/kafka/topics.py.")


@topics_app.command("create")
def topics_create(config: ConfigOpt = None) -> None:
    """Create every declared topic that does not exist yet."""
    for name, state in sorted(create_topics(load_settings(config)).items()):
        typer.echo(f"{name}: {state}")


@topics_app.command("apply")
def topics_apply(config: ConfigOpt = None) -> None:
    """Bring existing topics' configs in line with the declarations (after a retention policy change)."""
    changes = apply_configs(load_settings(config))
    for c in changes:
        typer.echo(c)
    typer.echo(f"{len(changes)} config(s) changed")


@topics_app.command("check")
def topics_check(config: ConfigOpt = None) -> None:
    """Compare the broker with the declarations; exits 1 on any difference."""
    settings = load_settings(config)
    problems = check_topics(settings)
    for p in problems:
        typer.echo(p)
    specs = declared(settings)
    configs = sum(len(t.configs) for t in specs)
    if problems:
        typer.echo(f"{len(problems)} difference(s) from the declarations: `platestream topics apply` sets the configs")
        raise typer.Exit(1)
    typer.echo(f"{len(specs)} topic(s) and {configs} config(s) match their declarations at {settings.kafka_bootstrap}")


@topics_app.command("manifest")
def topics_manifest(
    cluster: Annotated[str, typer.Option("--cluster", help="the Strimzi Kafka cluster (label strimzi.io/cluster)")],
    replicas: Annotated[
        int | None, typer.Option("--replicas", min=1, help="replication factor (else the broker's default)")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="namespace of the resources")] = None,
    output: Annotated[
        Literal["yaml", "json"], typer.Option("--output", help="yaml: documents for kubectl; json: a list for helm")
    ] = "yaml",
    config: ConfigOpt = None,
) -> None:
    """Print the declared topics as Strimzi KafkaTopic resources: `platestream topics manifest --cluster C | kubectl
    apply -f -`, or `--output json` for the chart's `strimzi.topics.manifest` value (helm --set-file)."""
    manifests = kafka_topic_manifests(load_settings(config), cluster, replicas, namespace)
    if output == "json":
        typer.echo(json.dumps(manifests, indent=2))
    else:
        typer.echo(yaml.safe_dump_all(manifests, sort_keys=False, explicit_start=True), nl=False)
