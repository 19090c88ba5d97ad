"""`platestream audit ...`: the auditor's commands. `review` flags patterns of misuse in the audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.audit_trail import audit_checkpoint, audit_export, audit_sequence, audit_verify
from streams.cli.options import ConfigOpt, When, when_ms
from streams.clock import now_ms
from streams.config.review_policy import load_review_policy, load_sharing
from streams.config.settings import load_settings
from streams.core.review import Flag, review
from streams.store.clickhouse import open_store
from streams.store.review import audit_rows, process_rows
from streams.store.sharing import shared_agencies

audit_app = typer.Typer(
    no_args_is_help=True, help="The audit log: verify it, checkpoint it, export a case, review it for misuse."
)
audit_app.command("verify")(audit_verify)
audit_app.command("checkpoint")(audit_checkpoint)
audit_app.command("export")(audit_export)
audit_app.command("sequence")(audit_sequence)


def _line(flag: Flag) -> str:
    refs = ", ".join(str(r.seq) if r.seq is not None else f"{r.at_ms}/{r.actor}" for r in flag.records[:20])
    more = f" (+{len(flag.records) - 20} more)" if len(flag.records) > 20 else ""
    process = f"  process {', '.join(flag.process_ids)}" if flag.process_ids else ""
    return f"{flag.rule:<24} {flag.subject:<28} {flag.summary}{process}\n{'':<24} records: {refs}{more}"


@audit_app.command("review")
def review_command(
    since: When = None,
    until: When = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="review policy YAML (else the packaged one)")] = None,
    sharing: Annotated[
        Path | None,
        typer.Option("--sharing", help="sharing allow-list YAML (else the store's sharing list, PUT /v1/sharing)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per flag, per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """Flag patterns of misuse in the audit records of a period (default: everything up to now); exits 1 when
    anything is flagged. Reads $CLICKHOUSE_URL, or the embedded store."""
    s = load_settings(config)
    review_policy = load_review_policy(policy, s.search_policy_path)
    start, end = when_ms(since, 0), when_ms(until, now_ms())
    store = open_store(s.clickhouse_url, s.chdb_path)
    try:
        audit, process = audit_rows(store, start, end), process_rows(store)
        allowed = load_sharing(sharing) if sharing else shared_agencies(store)
    finally:
        store.close()
    flags = review(audit, process, review_policy, allowed, since_ms=start, until_ms=end)
    for f in flags:
        typer.echo(json.dumps(f.to_json(), sort_keys=True) if as_json else _line(f))
    if not as_json:
        note = "" if process is not None else " (no legal_process table: no process record covers anything)"
        typer.echo(f"{len(flags)} flag(s) over {audit.num_rows} audit record(s){note}")
    raise typer.Exit(1 if flags else 0)
