"""`platestream audit verify`, `audit checkpoint` and `audit export`: the audit log checked against its signed
checkpoints, and the discovery bundle of a case (checked with `audit verify --bundle`, without the system)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.options import ConfigOpt
from streams.clock import now_ms
from streams.config.secret_files import load_public_keys
from streams.config.settings import Settings, load_settings
from streams.core.audit_log import AuditVerifier
from streams.errors import PlatestreamError
from streams.model.audit import AuditEntry
from streams.run.audit_sequencer import AuditSequencer
from streams.store import audit
from streams.store.audit_checkpoints import verify_audit, write_checkpoint
from streams.store.clickhouse import open_store
from streams.store.discovery import export_case, verify_bundle
from streams.store.schema import prepare_schema

__all__ = ["audit_checkpoint", "audit_export", "audit_sequence", "audit_verify"]

CheckpointDir = Annotated[
    Path | None, typer.Option("--checkpoints", help="folder of checkpoint files (else audit_checkpoint_dir)")
]


def verifier_of(settings: Settings) -> AuditVerifier:
    """Trusts the deployment's audit key (its .pub beside the private key, or the key itself) and audit_keys_file."""
    signer = settings.audit_signer()
    return AuditVerifier([signer.private.public_key(), *settings.audit_trusted_keys()])


def audit_verify(
    checkpoints: CheckpointDir = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="check a discovery bundle folder instead (no store needed)")
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="the log's public key(s), PEM, from the transparency report")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Recompute the audit log against the latest checkpoints: the first broken link, or that it is intact."""
    if bundle is not None:
        problems = verify_bundle(bundle, load_public_keys(key, "key file") if key else None)
        for p in problems:
            typer.echo(p)
        if problems:
            raise PlatestreamError(f"the bundle does not verify: {len(problems)} problem(s), the first: {problems[0]}")
        source = f"the key in {key}" if key else "the bundle's own key (give --key to check it against the report)"
        typer.echo(f"the bundle in {bundle} verifies: every file, record and link, against {source}")
        return
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


def audit_export(
    case: Annotated[str, typer.Option("--case", help="the case number")],
    out: Annotated[Path, typer.Option("--out", help="the folder to write the bundle to")],
    checkpoints: CheckpointDir = None,
    config: ConfigOpt = None,
) -> None:
    """Write the discovery bundle of a case: its searches, hits, verifications and holds, with their proofs."""
    settings = load_settings(config)
    folder = checkpoints or settings.audit_checkpoint_dir
    signer = settings.audit_signer()
    audit.configure(signer, settings.audit_trusted_keys())
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    who = AuditEntry(0, "records.export", f"{getpass.getuser()}@cli", reason="discovery export", decision="allowed")
    try:
        done = export_case(store, case, signer, verifier_of(settings), folder, out, who, now_ms())
    finally:
        store.close()
    typer.echo(
        f"bundle for case {done.case} in {out}: {done.records} record(s), {done.hits} hit(s), "
        f"{done.verifications} verification(s), {done.holds} hold(s), proven against checkpoint {done.checkpoint_seq}"
    )


def audit_sequence(
    until_idle: Annotated[
        float | None, typer.Option("--until-idle", help="stop after this many seconds with nothing new")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """The deployment's one audit writer: the `audit` topic into the store, in the broker's order, with a signed
    checkpoint every audit_checkpoint_interval_s (and when it stops)."""
    settings = load_settings(config)
    audit.configure(settings.audit_signer(), settings.audit_trusted_keys())  # it signs the checkpoints
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        prepare_schema(store, settings)  # migrated (ON CLUSTER when configured), or checked with maintenance off
        sequencer = AuditSequencer(settings, store)
        written = sequencer.run(idle_exit_s=until_idle)
    finally:
        store.close()
    typer.echo(
        f"audit sequencer: wrote {written} record(s); the log ends at record {sequencer.last_seq}; "
        f"checkpoint at record {sequencer.checkpointed_seq}"
    )
