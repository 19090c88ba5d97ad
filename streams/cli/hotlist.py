"""`platestream hotlist ...`: hot-list events (add, clear, sync) published to every worker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import ConfigOpt
from streams.cli.publish import publish
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.hotlist_events import CLEAR_REASONS, add_event, clear_event, sync_event

hotlist_app = typer.Typer(no_args_is_help=True, help="Publish hot-list events (add, clear, sync) to every worker.")


@hotlist_app.command("add")
def hotlist_add(
    csv: Annotated[Path, typer.Argument(help="hot-list CSV extract (see docs/hotlists.md)")],
    config: ConfigOpt = None,
) -> None:
    """Publish every row of a CSV extract as an add event (workers admit or refuse each by policy)."""
    entries, refused = read_hotlist_csv(csv)
    now = now_ms()
    items = []
    for row in entries.to_pylist():
        for k in ("valid_from", "expires_at"):
            row[k] = int(row[k].timestamp() * 1000) if row[k] is not None else None
        items.append((row["entry_id"], add_event(row, now)))
    publish(load_settings(config), "hotlist.events", items)
    typer.echo(f"published {len(items)} add event(s); {refused.num_rows} row(s) with unreadable dates not sent")


@hotlist_app.command("clear")
def hotlist_clear(
    entry_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="recovered, warrant_served, cancelled, expired, entered_in_error, other")],
    by: Annotated[str, typer.Option(help="who clears it")],
    config: ConfigOpt = None,
) -> None:
    """Vehicle recovered, warrant served: every worker stops matching the entry."""
    if reason not in CLEAR_REASONS:
        raise PlatestreamError(f"--reason must be one of {', '.join(CLEAR_REASONS)}")
    publish(load_settings(config), "hotlist.events", [(entry_id, clear_event(entry_id, reason, by, now_ms()))])
    typer.echo(f"cleared {entry_id}")


@hotlist_app.command("sync")
def hotlist_sync(source: Annotated[str, typer.Argument()], config: ConfigOpt = None) -> None:
    """Mark a source as freshly synced (its freshness clock restarts)."""
    publish(load_settings(config), "hotlist.events", [(f"sync:{source}", sync_event(source, now_ms()))])
    typer.echo(f"synced {source}")
