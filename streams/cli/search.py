"""`platestream search`: the gated read of the read store, through the API (`POST /v1/search`). Who asks is the
logged-in principal; the API audits the search before it answers."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from streams.cli.client import ApiClient
from streams.cli.options import Case, ConfigOpt, Plates, ReadIds, Reason, When, when_ms
from streams.config.settings import load_settings


def search(
    reason: Reason,
    case: Case = "",
    plate: Plates = None,
    read_id: ReadIds = None,
    region: Annotated[str | None, typer.Option(help="only reads of this region")] = None,
    captured_from: When = None,
    captured_to: When = None,
    config: ConfigOpt = None,
) -> None:
    """Reads of plates or read ids still within their limit or under a hold; audited. One JSON row per line."""
    body = {
        "reason": reason,
        "case_number": case,
        "plates": list(plate or []),
        "read_ids": list(read_id or []),
        "region": region,
        "from": when_ms(captured_from, 0),
        "to": when_ms(captured_to, 2**62),
    }
    rows = ApiClient(load_settings(config)).call("POST", "/v1/search", body).get("rows", [])
    for row in rows:
        typer.echo(json.dumps(row, default=str))
    typer.echo(f"{len(rows)} read(s)", err=True)
