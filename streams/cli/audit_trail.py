"""`platestream audit verify` and `audit checkpoint`: the audit log checked against its signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import ConfigOpt
from streams.clock import now_ms
from streams.config.settings import Settings, load_settings
from streams.core.audit_log import AuditVerifier
from streams.errors import PlatestreamError
from streams.run.audit import verify_audit, write_checkpoint
from streams.store.clickhouse import open_store

__all__ = ["audit_checkpoint", "audit_verify"]

CheckpointDir = Annotated[
    Path | None, typer.Option("--checkpoints", help="folder of checkpoint files (else audit_checkpoint_dir)")
]


def verifier_of(settings: Settings) -> AuditVerifier:
    """Trusts the deployment's audit key (its .pub beside the private key, or the key itself) and audit_keys_file."""
    signer = settings.audit_signer()
    return AuditVerifier([signer.private.public_key(), *settings.audit_trusted_keys()])


def audit_verify(checkpoints: CheckpointDir = None, config: ConfigOpt = None) -> None:
    """Recompute the audit log against the latest checkpoints: the first broken link, or that it is intact."""
    settings = load_settings(config)
    folder = checkpoints or settings.audit_checkpoint_dir
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        kept_since = now_ms() - settings.retention_policy().limit_ms("audit")
        n, problems = verify_audit(store, verifier_of(settings), folder, kept_since)
    finally:
        store.close()
    if problems:
        for p in problems:
            typer.echo(p)
        raise PlatestreamError(f"the audit log does not verify: {len(problems)} problem(s), the first: {problems[0]}")
    typer.echo(f"the audit log verifies: {n} record(s), signed and linked, against the checkpoints in {folder}")


def audit_checkpoint(checkpoints: CheckpointDir = None, config: ConfigOpt = None) -> None:
    """Sign and write a checkpoint of the log as it is now (after verifying it since the last one)."""
    settings = load_settings(config)
    folder = checkpoints or settings.audit_checkpoint_dir
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        cp = write_checkpoint(store, settings.audit_signer(), verifier_of(settings), folder, now_ms())
    finally:
        store.close()
    if cp is None:
        raise PlatestreamError("the audit log is empty: no checkpoint written")
    typer.echo(f"checkpoint at record {cp.seq} (head {cp.head[:16]}…) written to {folder}")
