"""`platestream report`: a transparency report of one fixed period (docs/transparency.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import ConfigOpt
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.core.report_period import PeriodError
from streams.errors import ConfigError
from streams.run.report import build_report, check_not_overlapping, report_period
from streams.store.clickhouse import open_store

__all__ = ["report"]


def report(
    period: Annotated[str | None, typer.Option(help="a fixed period: 2026-H2, 2026-Q3 or 2026-11")] = None,
    first: Annotated[str | None, typer.Option("--from", help="first whole day, YYYY-MM-DD (with --to)")] = None,
    last: Annotated[str | None, typer.Option("--to", help="last whole day, YYYY-MM-DD (included)")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: out/reports/<period>)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write report.html, report.json and one CSV per table for a period, from the aggregates only."""
    try:
        chosen = report_period(period, first, last)
    except PeriodError as exc:
        raise ConfigError(str(exc)) from None
    target = out or Path("out/reports") / chosen.name
    try:
        check_not_overlapping(chosen, target)
    except PeriodError as exc:
        raise ConfigError(str(exc)) from None
    # Here, not at the top: rendering loads matplotlib, which costs every other command about 0.5 s.
    from streams.run.report_render import write_report

    settings = load_settings(config)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        html = write_report(build_report(store, settings, chosen, now_ms()), target)
    finally:
        store.close()
    typer.echo(str(html))
