"""`platestream hotlist ...`: hot-list changes (add, clear, sync) through the API, which signs them for every
worker. Adding and clearing need the admin role; who made a change is the logged-in principal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams import clock
from streams.cli.client import ApiClient
from streams.cli.options import ConfigOpt
from streams.config.extract_policy import load_extract_policy
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.ingest.extracts.formats import FORMATS, read_extract
from streams.ingest.hotlist_events import CLEAR_REASONS, entry_documents

hotlist_app = typer.Typer(no_args_is_help=True, help="Hot-list changes (add, clear, sync), through the API.")
BATCH = 10_000  # entries per request (the API's limit)


@hotlist_app.command("add")
def hotlist_add(
    path: Annotated[Path, typer.Argument(help="hot-list extract (see docs/hotlists.md)")],
    fmt: Annotated[str, typer.Option("--format", help=f"one of {', '.join(FORMATS)}")] = "csv",
    source: Annotated[str, typer.Option(help="the source the extract comes from")] = "ncic_extract",
    snapshot: Annotated[bool, typer.Option(help="the file is a full snapshot: clear the source's other entries")] = (
        False
    ),
    confirm_shrink: Annotated[bool, typer.Option(help="send a snapshot much smaller than the last one")] = False,
    extract_policy: Annotated[
        Path | None, typer.Option(help="extract policy YAML (default: PLATESTREAM_EXTRACT_POLICY_PATH, else packaged)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Send the entries of an extract; say what was refused here (by line), what the API's policy expects the
    workers to admit, cap or refuse, and, for a snapshot, how many entries it lists."""
    settings = load_settings(config)
    policy = load_extract_policy(extract_policy or settings.extract_policy_path)
    extract = read_extract(path, fmt, policy, source, clock.now_ms())
    for row in extract.refused.to_pylist():
        typer.echo(f"line {row['line']}: not sent ({row['rule']})")
    client = ApiClient(settings)
    if snapshot:
        ids = extract.entries["entry_id"].to_pylist()
        body = {"source": source, "entry_ids": ids, "confirm_shrink": confirm_shrink}
        snap = client.call("POST", "/v1/hotlist/snapshot", body)
        typer.echo(
            f"snapshot {snap['snapshot']} of {source}: {snap['entries']} entries (last one: {snap['previous']}); "
            "the workers clear the entries of this source it does not list"
        )
    docs = entry_documents(extract.entries)
    sent, admitted, capped, refused = 0, 0, 0, {}
    for i in range(0, len(docs), BATCH):
        answer = client.call("POST", "/v1/hotlist/entries:batch", {"entries": docs[i : i + BATCH]})
        sent += answer.get("published", 0)
        expected = answer.get("expected", {})
        admitted += expected.get("admitted", 0)
        capped += expected.get("expiry_capped", 0)
        for rule, n in expected.get("refused_by_rule", {}).items():
            refused[rule] = refused.get(rule, 0) + n
    typer.echo(f"sent {sent} entr(y/ies); {extract.refused.num_rows} row(s) not sent")
    typer.echo(f"by the API's admission policy: {admitted} admitted ({capped} with their expiry capped)")
    for rule, n in sorted(refused.items()):
        typer.echo(f"  refused {n}: {rule}")
    typer.echo(
        "the workers decide by their own policy file when the events arrive: each decision is in the audit trail "
        "(hotlist.add) and in platestream_hotlist_refused_total"
    )


@hotlist_app.command("clear")
def hotlist_clear(
    entry_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="recovered, warrant_served, cancelled, expired, entered_in_error, other")],
    config: ConfigOpt = None,
) -> None:
    """Vehicle recovered, warrant served: every worker stops matching the entry (an unknown id is refused)."""
    if reason not in CLEAR_REASONS:
        raise PlatestreamError(f"--reason must be one of {', '.join(CLEAR_REASONS)}")
    ApiClient(load_settings(config)).call("POST", f"/v1/hotlist/entries/{entry_id}/clear", {"reason": reason})
    typer.echo(f"clear of {entry_id} sent to the workers")


@hotlist_app.command("sync")
def hotlist_sync(source: Annotated[str, typer.Argument()], config: ConfigOpt = None) -> None:
    """Mark a source as freshly synced (its freshness clock restarts)."""
    ApiClient(load_settings(config)).call("POST", "/v1/hotlist/sync", {"source": source})
    typer.echo(f"sync of {source} sent to the workers")
