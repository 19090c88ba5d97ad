"""`platestream hold ...`: preservation holds, the gated way to keep named reads past their limit, through the
API (which signs them for the workers). Placing and releasing need the supervisor or records role."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from streams.cli.client import ApiClient
from streams.cli.options import Case, ConfigOpt, Plates, ReadIds, Reason, When, when_ms
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError

hold_app = typer.Typer(no_args_is_help=True, help="Preservation holds: keep named reads past their limit.")


@hold_app.command("place")
def hold_place(
    requested_by: Annotated[str, typer.Option("--requested-by", help="who asked for the hold (e.g. defence counsel)")],
    order_ref: Annotated[str, typer.Option("--order-ref", help="the preservation request or court order")],
    case: Case,
    reason: Reason,
    plate: Plates = None,
    read_id: ReadIds = None,
    captured_from: When = None,
    captured_to: When = None,
    days: Annotated[float, typer.Option(help="the hold expires this many days from now, unless released")] = 90,
    config: ConfigOpt = None,
) -> None:
    """Hold the reads of plates or read ids captured in a time range that has already passed (default: until now)."""
    if not plate and not read_id:
        raise PlatestreamError("a hold names --plate or --read-id: a hold on everything is not a hold")
    body = {
        "requested_by": requested_by,
        "order_ref": order_ref,
        "case_number": case,
        "reason": reason,
        "plates": list(plate or []),
        "read_ids": list(read_id or []),
        "from": when_ms(captured_from, 0),
        "to": when_ms(captured_to, now_ms()),
        "days": days,
    }
    typer.echo(ApiClient(load_settings(config)).call("POST", "/v1/holds", body)["hold_id"])


@hold_app.command("release")
def hold_release(hold_id: Annotated[str, typer.Argument()], reason: Reason, config: ConfigOpt = None) -> None:
    """Release a hold: the reads it kept are deleted by the next purge if they are past their limit."""
    ApiClient(load_settings(config)).call("POST", f"/v1/holds/{hold_id}/release", {"reason": reason})
    typer.echo(f"release of {hold_id} sent to the workers")


@hold_app.command("list")
def hold_list(config: ConfigOpt = None) -> None:
    """Holds in the store, with the reads each keeps."""
    for row in ApiClient(load_settings(config)).call("GET", "/v1/holds").get("holds", []):
        typer.echo(json.dumps(row, default=str))
