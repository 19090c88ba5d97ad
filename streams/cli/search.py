"""`platestream search`: the gated read of the read store. It goes to each worker's ``POST /search``
(``--worker``), or straight to the store (a ClickHouse server, or an embedded store no worker has open); it needs
who asks and why, and lands in the audit trail."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import Actor, Case, ConfigOpt, Plates, ReadIds, Reason, When, when_ms
from streams.config.settings import load_settings
from streams.errors import PlatestreamError
from streams.ingest.search import json_rows, search_request
from streams.model.search import SearchRefused
from streams.store.clickhouse import open_store
from streams.store.search import search as search_store


def search(
    actor: Actor,
    reason: Reason,
    case: Case = "",
    plate: Plates = None,
    read_id: ReadIds = None,
    region: Annotated[str | None, typer.Option(help="only reads of this region")] = None,
    captured_from: When = None,
    captured_to: When = None,
    worker: Annotated[list[str] | None, typer.Option("--worker", help="a worker's base URL (repeatable)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Reads of plates or read ids still within their limit or under a hold; audited. One JSON row per line."""
    body = {
        "actor": actor,
        "reason": reason,
        "case_number": case,
        "plates": list(plate or []),
        "read_ids": list(read_id or []),
        "region": region,
        "from": when_ms(captured_from, 0),
        "to": when_ms(captured_to, 2**62),
    }
    rows = _search_workers(worker, body) if worker else _search_store(body, config)
    for row in rows:
        typer.echo(json.dumps(row, default=str))
    typer.echo(f"{len(rows)} read(s)", err=True)


def _search_workers(urls: list[str], body: dict) -> list[dict]:
    rows: list[dict] = []
    for url in urls:
        req = urllib.request.Request(
            url.rstrip("/") + "/search", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                rows += json.loads(r.read())["rows"]
        except urllib.error.HTTPError as exc:
            raise PlatestreamError(f"{url}: {json.loads(exc.read()).get('error', exc.reason)}") from None
        except OSError as exc:
            raise PlatestreamError(f"cannot reach {url}: {exc}") from None
    return rows


def _search_store(body: dict, config: Path | None) -> list[dict]:
    settings = load_settings(config)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        req = search_request(json.dumps(body).encode())
        return json_rows(search_store(store, settings.load_plate_keys(), settings.retention_policy(), req))
    except SearchRefused as exc:
        raise PlatestreamError(str(exc)) from None
    finally:
        store.close()
