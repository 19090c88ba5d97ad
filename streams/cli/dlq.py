"""`platestream dlq`: list dead letters and replay them to the topic they came from.

Neither command prints original bytes or anything decoded from them: they may hold plate text.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from streams.cli.options import ConfigOpt
from streams.config.settings import load_settings
from streams.kafka.dlq import list_dead_letters
from streams.kafka.dlq import replay as replay_dead_letters

dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: list them (no original bytes shown), replay them.")

ReasonOpt = Annotated[str | None, typer.Option("--reason", help="only this reason code (e.g. missing_plate)")]
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="only this source: reads.batch, reads.json, verifications, ...")
]


@dlq_app.command("list")
def dlq_list(
    reason: ReasonOpt = None,
    source: SourceOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="show at most this many")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """Dead letters from the beginning of the topic to its current end, with reason, origin and size."""
    letters = list_dead_letters(load_settings(config), reason=reason, source=source, limit=limit)
    if as_json:
        for d in letters:
            typer.echo(json.dumps(d, sort_keys=True))
        return
    typer.echo(f"{'partition':>9} {'offset':>8}  {'reason':<16} {'source':<14} {'row':>5} {'bytes':>8}  origin  detail")
    for d in letters:
        row = "-" if d["row"] is None else str(d["row"])
        size = "-" if d["size"] is None else str(d["size"])
        typer.echo(
            f"{d['partition']:>9} {d['offset']:>8}  {d['reason']:<16} {d['source']:<14} {row:>5} {size:>8}  "
            f"{d['origin']}  {d['detail']}"
        )
    typer.echo(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(
    reason: ReasonOpt = None,
    source: SourceOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="select and count only; publish nothing")] = False,
    config: ConfigOpt = None,
) -> None:
    """Re-publish the original bytes of the selected dead letters to the topic they came from (after a fix).

    A single bad row of a batch goes to reads.json as its JSON. Prints the counts as JSON.
    """
    result = replay_dead_letters(load_settings(config), reason=reason, source=source, dry_run=dry_run)
    typer.echo(json.dumps(result.as_dict(), sort_keys=True))
