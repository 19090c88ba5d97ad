"""`platestream hotlist ...`: hot-list changes (add, clear, sync) through the API, which signs them for every
worker. Adding and clearing need the admin role; who made a change is the logged-in principal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.cli.client import ApiClient
from streams.cli.options import ConfigOpt
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.ingest.hotlist_events import CLEAR_REASONS

hotlist_app = typer.Typer(no_args_is_help=True, help="Hot-list changes (add, clear, sync), through the API.")


@hotlist_app.command("add")
def hotlist_add(
    csv: Annotated[Path, typer.Argument(help="hot-list CSV extract (see docs/hotlists.md)")],
    config: ConfigOpt = None,
) -> None:
    """Send every row of a CSV extract as an entry (workers admit or refuse each by policy)."""
    entries, refused = read_hotlist_csv(csv)
    rows = []
    for row in entries.to_pylist():
        for k in ("valid_from", "expires_at"):
            row[k] = int(row[k].timestamp() * 1000) if row[k] is not None else None
        row.pop("entered_by", None)  # who entered it is the principal sending it
        rows.append({k: v for k, v in row.items() if v is not None and v != ""})
    client = ApiClient(load_settings(config))
    sent = client.call("POST", "/v1/hotlist/entries:batch", {"entries": rows}).get("published", 0) if rows else 0
    typer.echo(f"sent {sent} entr(y/ies); {refused.num_rows} row(s) with unreadable dates not sent")


@hotlist_app.command("clear")
def hotlist_clear(
    entry_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="recovered, warrant_served, cancelled, expired, entered_in_error, other")],
    config: ConfigOpt = None,
) -> None:
    """Vehicle recovered, warrant served: every worker stops matching the entry."""
    if reason not in CLEAR_REASONS:
        raise PlatestreamError(f"--reason must be one of {', '.join(CLEAR_REASONS)}")
    ApiClient(load_settings(config)).call("POST", f"/v1/hotlist/entries/{entry_id}/clear", {"reason": reason})
    typer.echo(f"clear of {entry_id} sent to the workers")


@hotlist_app.command("sync")
def hotlist_sync(source: Annotated[str, typer.Argument()], config: ConfigOpt = None) -> None:
    """Mark a source as freshly synced (its freshness clock restarts)."""
    ApiClient(load_settings(config)).call("POST", "/v1/hotlist/sync", {"source": source})
    typer.echo(f"sync of {source} sent to the workers")
