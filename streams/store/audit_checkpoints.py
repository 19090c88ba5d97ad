"""The audit log's checkpoints outside the database, and its verification against them.

A checkpoint is a small signed JSON file (``<seq>.json`` in ``audit_checkpoint_dir``): the log's length, its head
hash and the time. Copies go wherever the database's administrators cannot reach them — an object store with
retention lock, the transparency report — so that a log rewritten inside the database no longer matches.
"""

from __future__ import annotations

import json
from pathlib import Path

from streams.core.audit_log import AuditSigner, AuditVerifier, Checkpoint, verify_log
from streams.errors import PlatestreamError
from streams.store.audit import log_rows
from streams.store.clickhouse import Store

__all__ = ["read_checkpoints", "verify_audit", "write_checkpoint"]


def read_checkpoints(folder: Path) -> list[Checkpoint]:
    """Every checkpoint file in ``folder``, oldest first; PlatestreamError naming a file that is not one."""
    if not folder.exists():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(Checkpoint.from_json(json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            raise PlatestreamError(f"checkpoint {path} cannot be read: {exc}") from None
    return sorted(out, key=lambda c: c.seq)


def write_checkpoint(
    store: Store, signer: AuditSigner, verifier: AuditVerifier, folder: Path, now_ms: int
) -> Checkpoint | None:
    """Sign and write a checkpoint of the log as it is now; None when the log is empty.

    The log since the last checkpoint is verified first: a checkpoint never vouches for a log already broken.
    """
    rows = log_rows(store)
    if not rows:
        return None
    problems = verify_log(rows, verifier, read_checkpoints(folder))
    if problems:
        raise PlatestreamError(f"the audit log does not verify, no checkpoint written: {problems[0]}")
    head = rows[-1]
    cp = signer.sign_checkpoint(head.seq, head.hash, now_ms, int(head.fields["at_ms"]))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{cp.seq:012d}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(cp.to_json(), indent=2) + "\n")
    tmp.replace(target)  # a reader never sees half a checkpoint
    return cp


def verify_audit(store: Store, verifier: AuditVerifier, folder: Path, kept_since_ms: int) -> tuple[int, list[str]]:
    """(records checked, problems) of the stored log against the checkpoints in ``folder``."""
    rows = log_rows(store)
    return len(rows), verify_log(rows, verifier, read_checkpoints(folder), kept_since_ms=kept_since_ms)
