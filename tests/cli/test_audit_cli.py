"""`platestream audit checkpoint` and `audit verify` as an operator runs them: on an embedded store written by
another process, a checkpoint, a clean verify, then a record deleted with ALTER and the verify that names it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

WRITE = textwrap.dedent(
    """
    import sys
    from streams.config.settings import load_settings
    from streams.model.audit import AuditEntry
    from streams.store import audit
    from streams.store.clickhouse import migrate, open_store
    s = load_settings()
    audit.configure(s.audit_signer())
    store = open_store(None, s.chdb_path)
    migrate(store)
    for i in range(1, 4):
        audit.audit(store, AuditEntry(1_780_000_000_000 + i, "search", f"u{i}@metro-pd", reason="case review"))
    if len(sys.argv) > 1:
        store.command(sys.argv[1])
    store.close()
    """
)


def test_checkpoint_then_verify_then_a_deleted_record_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_") and k != "CLICKHOUSE_URL"}
    env.update(
        PLATESTREAM_CHDB_PATH=str(tmp_path / "chdb"),
        PLATESTREAM_AUDIT_SIGNING_KEY_FILE=str(tmp_path / "audit.key"),
        PLATESTREAM_AUDIT_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)

    assert run("-c", WRITE).returncode == 0
    done = run("-m", "streams.cli", "audit", "checkpoint")
    assert done.returncode == 0 and "checkpoint at record 3" in done.stdout, done.stderr
    assert (tmp_path / "checkpoints" / f"{3:012d}.json").exists()
    done = run("-m", "streams.cli", "audit", "verify")
    assert done.returncode == 0 and "verifies: 3 record(s)" in done.stdout, done.stderr

    deleted = run("-c", WRITE.replace("range(1, 4)", "range(0)"), "ALTER TABLE audit_log DELETE WHERE seq = 3 "
                  "SETTINGS mutations_sync = 1")  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    done = run("-m", "streams.cli", "audit", "verify")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "the first: checkpoint at record 3: the log ends at record 2 (deleted at the tail)" in done.stderr
