"""`platestream topics ...`: the Kafka topics as declared in streams/kafka/topics.py, created, applied, checked."""

from __future__ import annotations

import typer

from streams.cli.options import ConfigOpt
from streams.config.settings import load_settings
from streams.kafka.admin import apply_configs, check_topics, create_topics
from streams.kafka.topics import declared

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
