"""`platestream search KIND`: the gated searches of the read store, through the API (`POST /v1/search/<kind>`).
Each cites a legal-process record (`--process`) and stays inside its scope; who asks is the logged-in principal,
and the API audits the search before it answers. One JSON row per line on stdout, the count on stderr."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from streams.cli.client import ApiClient
from streams.cli.options import ConfigOpt, Plates, Reason, when_ms
from streams.clock import now_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError

search_app = typer.Typer(no_args_is_help=True, help="Searches under a legal-process record, through the API.")

Process = Annotated[str, typer.Option("--process", help="the legal-process record the search cites (lp-...)")]
Purpose = Annotated[str, typer.Option("--purpose", help="the declared purpose (required of outside agencies)")]
Region = Annotated[str | None, typer.Option(help="only reads of this region")]
From = Annotated[str, typer.Option("--from", help="ISO 8601 start of the capture window, UTC if no zone given")]
To = Annotated[str | None, typer.Option("--to", help="ISO 8601 end of the capture window (default: now)")]


def run(kind: str, body: dict[str, Any], config: ConfigOpt) -> None:
    answer = ApiClient(load_settings(config)).call("POST", f"/v1/search/{kind}", body)
    rows = answer.get("rows")
    if rows is None:  # a hit trail: one document
        typer.echo(json.dumps(answer, default=str))
        return
    for row in rows:
        typer.echo(json.dumps(row, default=str))
    typer.echo(f"{len(rows)} read(s)", err=True)


def common(process: str, reason: str, purpose: str) -> dict[str, Any]:
    return {"process_id": process, "reason": reason, "purpose": purpose}


@search_app.command("plate-history")
def plate_history(
    process: Process, reason: Reason, plate: Plates, captured_from: From, captured_to: To = None,
    region: Region = None, purpose: Purpose = "", config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Reads of one plate or a few over a time range."""
    if not plate:
        raise PlatestreamError("name at least one --plate")
    window = {"from": when_ms(captured_from, 0), "to": when_ms(captured_to, now_ms())}
    run("plate_history", {**common(process, reason, purpose), "plates": plate, "region": region, **window}, config)


@search_app.command("near-scene")
def near_scene(
    process: Process, reason: Reason, captured_from: From, captured_to: To = None,
    lat: Annotated[float | None, typer.Option(help="centre latitude")] = None,
    lon: Annotated[float | None, typer.Option(help="centre longitude")] = None,
    radius_m: Annotated[float | None, typer.Option("--radius-m", help="radius in metres")] = None,
    camera: Annotated[list[str] | None, typer.Option("--camera", help="a camera id (repeatable)")] = None,
    purpose: Purpose = "", config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Every read at cameras within an area (a centre and radius, or named cameras) during a window."""
    area = None
    if (lat, lon, radius_m) != (None, None, None):
        if None in (lat, lon, radius_m):
            raise PlatestreamError("an area needs all of --lat, --lon and --radius-m")
        area = {"lat": lat, "lon": lon, "radius_m": radius_m}
    if area is None and not camera:
        raise PlatestreamError("name an area (--lat --lon --radius-m) or --camera")
    window = {"from": when_ms(captured_from, 0), "to": when_ms(captured_to, now_ms())}
    body = {**common(process, reason, purpose), "area": area, "cameras": list(camera or []), **window}
    run("near_scene", body, config)


@search_app.command("hit-trail")
def hit_trail(
    hit_id: Annotated[str, typer.Argument()], process: Process, reason: Reason, purpose: Purpose = "",
    config: ConfigOpt = None,
) -> None:  # fmt: skip
    """A hit with its evidence, the entry as it stood at match time, and its verifications."""
    run("hit_trail", {**common(process, reason, purpose), "hit_id": hit_id}, config)


@search_app.command("retroactive-match")
def retroactive_match(
    process: Process, reason: Reason,
    entry_id: Annotated[str, typer.Option("--entry-id", help="the newly added hot-list entry")],
    plate: Annotated[str, typer.Option("--plate", help="its plate")], captured_from: From, captured_to: To = None,
    region: Region = None, purpose: Purpose = "", config: ConfigOpt = None,
) -> None:  # fmt: skip
    """A newly added entry checked against reads still within retention."""
    window = {"from": when_ms(captured_from, 0), "to": when_ms(captured_to, now_ms())}
    body = {**common(process, reason, purpose), "entry_id": entry_id, "plate": plate, "region": region, **window}
    run("retroactive_match", body, config)
