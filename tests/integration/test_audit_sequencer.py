"""One ordered audit log for a deployment with several writers: two processes send signed records to the
`audit` topic, `platestream audit sequence` writes them to the store in the broker's order, and the log verifies
as one sequence. Restarted, the sequencer writes nothing twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streams.config.settings import Settings
from streams.core.audit_log import verify_log
from streams.store import audit as audit_store
from streams.store.audit import log_rows
from streams.store.clickhouse import open_store
from tests.integration.helpers import cli

pytestmark = pytest.mark.integration

WRITER = textwrap.dedent(
    """
    import sys
    from streams.config.settings import load_settings
    from streams.kafka.audit_log import KafkaAuditSink
    from streams.model.audit import AuditEntry
    from streams.store import audit
    s = load_settings()
    audit.configure(s.audit_signer(), sink=KafkaAuditSink(s))
    who = sys.argv[1]
    seqs = [audit.audit(None, AuditEntry(1_780_000_000_000 + i, "search", who, reason=f"r{i}")) for i in range(5)]
    print(" ".join(map(str, seqs)))
    """
)


def test_two_writers_one_sequence(worker_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **worker_env,
        "PLATESTREAM_AUDIT_SIGNING_KEY_FILE": str(tmp_path / "audit.key"),
        "PLATESTREAM_AUDIT_VIA_KAFKA": "true",
        "PLATESTREAM_AUDIT_CHECKPOINT_DIR": str(tmp_path / "cps"),
    }
    assert cli(env, "topics", "create").returncode == 0
    seqs: list[int] = []
    for who in ("api-1@metro-pd", "worker-1@metro-pd"):
        done = subprocess.run([sys.executable, "-c", WRITER, who], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        seqs += [int(x) for x in done.stdout.split()]
    assert sorted(seqs) == list(range(1, 11))  # the broker gave every record its place, none twice

    done = cli(env, "audit", "sequence", "--until-idle", "3", timeout=120)
    assert done.returncode == 0 and "wrote 10 record(s); the log ends at record 10" in done.stdout, done.stderr
    assert "checkpoint at record 10" in done.stdout
    again = cli(env, "audit", "sequence", "--until-idle", "2", timeout=120)
    assert again.returncode == 0 and "wrote 0 record(s)" in again.stdout, again.stderr

    settings = Settings(audit_signing_key_file=tmp_path / "audit.key")
    audit_store.configure(settings.audit_signer())
    store = open_store(None, env["PLATESTREAM_CHDB_PATH"])
    try:
        rows = log_rows(store)
    finally:
        store.close()
    assert [r.seq for r in rows] == list(range(1, 11))
    assert [r.fields["actor"] for r in rows] == ["api-1@metro-pd"] * 5 + ["worker-1@metro-pd"] * 5
    assert verify_log(rows, audit_store.verifier()) == []
    assert cli(env, "audit", "verify").returncode == 0
