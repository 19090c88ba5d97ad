"""`platestream hold ...`: preservation holds, the gated way to keep named reads past their limit.

Holds are published to the ``holds`` topic, so every worker applies them to its store; ``hold list`` reads the
store (a ClickHouse server, or an embedded store no worker has open). A hold needs who asks and why.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer

from streams.cli.options import Case, ConfigOpt, Plates, ReadIds, Reason, When, when_ms
from streams.cli.publish import publish
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.ingest.holds import PlaceHold, place_event
from streams.model.hold import Hold
from streams.model.search import SearchRefused
from streams.store.clickhouse import open_store
from streams.store.holds import list_holds
from streams.store.search import plate_pseudonyms

hold_app = typer.Typer(no_args_is_help=True, help="Preservation holds: keep named reads past their limit.")


@hold_app.command("place")
def hold_place(
    requested_by: Annotated[str, typer.Option("--requested-by", help="who asked for the hold")],
    case: Case,
    reason: Reason,
    plate: Plates = None,
    read_id: ReadIds = None,
    captured_from: When = None,
    captured_to: When = None,
    days: Annotated[float, typer.Option(help="the hold expires this many days from now, unless released")] = 90,
    config: ConfigOpt = None,
) -> None:
    """Place a hold on the reads of plates or read ids captured in a time range (default: any time until now)."""
    settings = load_settings(config)
    now = now_ms()
    if not plate and not read_id:
        raise PlatestreamError("a hold names --plate or --read-id: a hold on everything is not a hold")
    try:
        keys = plate_pseudonyms(list(plate or []), settings.load_plate_keys())
    except SearchRefused as exc:
        raise PlatestreamError(str(exc)) from None
    hold = Hold(
        hold_id=f"hold-{uuid.uuid4().hex[:12]}",
        requested_by=requested_by,
        case_number=case,
        reason=reason,
        plate_keys=tuple(keys),
        read_ids=tuple(read_id or []),
        captured_from_ms=when_ms(captured_from, 0),
        captured_to_ms=when_ms(captured_to, now),
        expires_at_ms=now + int(days * 86_400_000),
        placed_at_ms=now,
    )
    event = place_event(hold)
    PlaceHold.model_validate(event)  # the same check the workers make, before anything is published
    publish(settings, "holds", [(hold.hold_id, event)])
    typer.echo(hold.hold_id)


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[str, typer.Argument()],
    released_by: Annotated[str, typer.Option("--released-by")],
    reason: Reason,
    config: ConfigOpt = None,
) -> None:
    """Release a hold: the reads it kept are deleted by the next purge if they are past their limit."""
    event = {"op": "release", "hold_id": hold_id, "released_by": released_by, "reason": reason}
    publish(load_settings(config), "holds", [(hold_id, {**event, "at": now_ms()})])
    typer.echo(f"released {hold_id}")


@hold_app.command("list")
def hold_list(config: ConfigOpt = None) -> None:
    """Holds in the store (a ClickHouse server, or an embedded store no worker has open), with reads kept."""
    settings = load_settings(config)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        for row in list_holds(store).to_pylist():
            typer.echo(json.dumps(row, default=str))
    finally:
        store.close()
