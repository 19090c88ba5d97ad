"""`platestream hold ...`, `platestream search` and `platestream keys new`: the gated paths to the read store.

Holds are published to the ``holds`` topic, so every worker applies them to its store. Searches go to each
worker's ``POST /search`` (``--worker``), or straight to the store (a ClickHouse server, or an embedded store no
worker has open). Both need who asks and why, and both land in the audit trail.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from streams.errors import PlatestreamError

hold_app = typer.Typer(no_args_is_help=True, help="Preservation holds: keep named reads past their limit.")
keys_app = typer.Typer(no_args_is_help=True, help="Plate pseudonym keys.")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else $PLATESTREAM_CONFIG)")]
Actor = Annotated[str, typer.Option("--actor", help="who asks (a badge or user id)")]
Reason = Annotated[str, typer.Option("--reason", help="why: recorded with the request")]
Case = Annotated[str, typer.Option("--case", help="case number")]
Plates = Annotated[list[str] | None, typer.Option("--plate", help="a plate (repeatable)")]
ReadIds = Annotated[list[str] | None, typer.Option("--read-id", help="a read id (repeatable)")]
When = Annotated[str | None, typer.Option(help="ISO 8601 time, UTC if no zone given")]


def _ms(text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise PlatestreamError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-28T09:00:00Z)") from None
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)


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
    from streams.cli.app import _publish
    from streams.config.settings import load_settings
    from streams.ingest.holds import PlaceHold, place_event
    from streams.model.hold import Hold
    from streams.model.search import SearchRefused
    from streams.store.read_store import plate_pseudonyms

    settings = load_settings(config)
    now = int(time.time() * 1000)
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
        captured_from_ms=_ms(captured_from, 0),
        captured_to_ms=_ms(captured_to, now),
        expires_at_ms=now + int(days * 86_400_000),
        placed_at_ms=now,
    )
    event = place_event(hold)
    PlaceHold.model_validate(event)  # the same check the workers make, before anything is published
    _publish(settings, "holds", [(hold.hold_id, event)])
    typer.echo(hold.hold_id)


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[str, typer.Argument()],
    released_by: Annotated[str, typer.Option("--released-by")],
    reason: Reason,
    config: ConfigOpt = None,
) -> None:
    """Release a hold: the reads it kept are deleted by the next purge if they are past their limit."""
    from streams.cli.app import _publish
    from streams.config.settings import load_settings

    event = {"op": "release", "hold_id": hold_id, "released_by": released_by, "reason": reason}
    _publish(load_settings(config), "holds", [(hold_id, {**event, "at": int(time.time() * 1000)})])
    typer.echo(f"released {hold_id}")


@hold_app.command("list")
def hold_list(config: ConfigOpt = None) -> None:
    """Holds in the store (a ClickHouse server, or an embedded store no worker has open), with reads kept."""
    from streams.config.settings import load_settings
    from streams.store.clickhouse import open_store
    from streams.store.read_store import list_holds

    settings = load_settings(config)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        for row in list_holds(store).to_pylist():
            typer.echo(json.dumps(row, default=str))
    finally:
        store.close()


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
        "from": _ms(captured_from, 0),
        "to": _ms(captured_to, 2**62),
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
    from streams.config.settings import load_settings
    from streams.ingest.search import json_rows, search_request
    from streams.model.search import SearchRefused
    from streams.store.clickhouse import open_store
    from streams.store.read_store import search as do_search

    settings = load_settings(config)
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        req = search_request(json.dumps(body).encode())
        return json_rows(do_search(store, settings.load_plate_keys(), settings.retention_policy(), req))
    except SearchRefused as exc:
        raise PlatestreamError(str(exc)) from None
    finally:
        store.close()


@keys_app.command("new")
def keys_new(key_id: Annotated[str, typer.Argument(help="the new key's id, e.g. k2")]) -> None:
    """Print a fresh key as id:hex. To rotate, put it first in PLATESTREAM_PLATE_KEYS and keep the old ones."""
    from streams.core.pseudonym import PlateKeys

    try:
        typer.echo(PlateKeys.new_spec(key_id))
    except ValueError as exc:
        raise PlatestreamError(str(exc)) from None
