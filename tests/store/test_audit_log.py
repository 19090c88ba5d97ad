"""The audit log against someone with database rights: each edit, made with real ALTER statements on a real chDB
store, is found by `verify_log` against the signed checkpoints, and the first broken link is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.core.audit_log import GENESIS, AuditSigner, AuditVerifier, digest, link, verify_log
from streams.model.audit import AuditEntry
from streams.store import audit as audit_store
from streams.store.audit import audit, log_rows
from streams.store.audit_checkpoints import read_checkpoints, verify_audit, write_checkpoint
from streams.store.clickhouse import Store, migrate
from streams.store.sql import sql_literal

T0 = 1_780_000_000_000
KEY = AuditSigner(Ed25519PrivateKey.generate())
TRUSTED = AuditVerifier([KEY.private.public_key()])


@pytest.fixture
def db(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    migrate(store)
    monkeypatch.setitem(audit_store._state, "signer", KEY)
    return store


def entry(i: int, **kw: object) -> AuditEntry:
    base = {"at_ms": T0 + i * 1000, "action": "search", "actor": f"u{i % 3}@metro-pd", "agency": "metro-pd",
            "role": "investigator", "client": "10.0.0.7", "reason": f"case review {i}", "case_number": f"CR-{i}",
            "detail": json.dumps({"kind": "plate_history", "n": i}), "rows": i}  # fmt: skip
    return AuditEntry(**{**base, **kw})  # type: ignore[arg-type]


def fill(
    db: Store, n: int, writers: tuple[str, ...] = ("api-1",), monkeypatch: pytest.MonkeyPatch | None = None
) -> None:
    for i in range(1, n + 1):
        if monkeypatch is not None:
            monkeypatch.setattr(audit_store, "AUDIT_WRITER", writers[i % len(writers)])
        audit(db, entry(i))


def alter(db: Store, sql: str) -> None:
    db.command(f"ALTER TABLE audit_log {sql} SETTINGS mutations_sync = 1")


def check(db: Store, folder: Path) -> list[str]:
    return verify_audit(db, TRUSTED, folder, kept_since_ms=0)[1]


def test_an_untouched_log_verifies_against_its_checkpoints(db: Store, tmp_path: Path) -> None:
    fill(db, 6)
    assert [r.seq for r in log_rows(db)] == [1, 2, 3, 4, 5, 6]
    cp = write_checkpoint(db, KEY, TRUSTED, tmp_path, T0 + 10_000)
    assert cp is not None and (cp.seq, cp.head) == (6, log_rows(db)[-1].hash)
    fill(db, 2)
    assert check(db, tmp_path) == []
    assert [c.seq for c in read_checkpoints(tmp_path)] == [6]


def test_a_changed_record_is_found(db: Store, tmp_path: Path) -> None:
    fill(db, 6)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)
    alter(db, "UPDATE reason = 'routine', actor = 'nobody@metro-pd' WHERE seq = 3")
    assert check(db, tmp_path) == ["record 3: column(s) actor, reason differ from what was signed"]


def test_a_record_deleted_in_the_middle_is_found(db: Store, tmp_path: Path) -> None:
    fill(db, 6)
    alter(db, "DELETE WHERE seq = 4")
    problems = check(db, tmp_path)
    assert problems[0] == "records 4..4 are missing (deleted from the middle)"
    assert problems[1:] == ["record 5: its link does not follow from record 4"]


def test_records_deleted_at_the_tail_are_found_by_the_checkpoint(db: Store, tmp_path: Path) -> None:
    fill(db, 6)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)
    alter(db, "DELETE WHERE seq >= 5")
    assert verify_log(log_rows(db), TRUSTED) == []  # nothing inside the log shows it...
    assert check(db, tmp_path) == ["checkpoint at record 6: the log ends at record 4 (deleted at the tail)"]


def test_a_whole_writers_records_removed_are_found(db: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One sequence for the deployment: the API's and the workers' records interleave in it.
    writers = ("api-1", "worker-1", "worker-2")
    fill(db, 1, writers, monkeypatch)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)  # at record 1 (a worker-1 record)
    for i in range(2, 10):
        monkeypatch.setattr(audit_store, "AUDIT_WRITER", writers[i % 3])
        audit(db, entry(i))
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0 + 10_000)  # at record 9
    assert check(db, tmp_path) == []
    alter(db, "DELETE WHERE writer = 'worker-1'")  # records 1, 4 and 7
    assert check(db, tmp_path) == [
        "records 4..4 are missing (deleted from the middle)",
        "record 5: its link does not follow from record 4",
        "records 7..7 are missing (deleted from the middle)",
        "record 8: its link does not follow from record 7",
        "checkpoint at record 1: records up to 1 are gone before their audit limit",
        "checkpoint at record 9: the log's head there does not match (log rewritten)",
    ]


def test_the_oldest_records_deleted_before_their_limit_are_found(db: Store, tmp_path: Path) -> None:
    fill(db, 6)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0 + 3_000)  # at record 6
    fill(db, 3)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0 + 20_000)  # at record 9
    alter(db, "DELETE WHERE seq <= 6")
    # Records 1..6 were written at T0+1 s .. T0+6 s: gone early if the audit limit keeps records since T0.
    early = verify_audit(db, TRUSTED, tmp_path, kept_since_ms=T0)[1]
    assert early == ["checkpoint at record 6: records up to 6 are gone before their audit limit"]
    assert verify_audit(db, TRUSTED, tmp_path, kept_since_ms=T0 + 7_000)[1] == []  # past their limit: purged


def rewrite(db: Store, change_seq: int, signer: AuditSigner | None) -> None:
    """What an administrator would do: edit a record, then recompute every later hash so the links hold again
    (re-signing with a key of their own when given one: they do not have the writers' key)."""
    rows = log_rows(db)
    prev = rows[0].prev_hash if rows[0].seq != 1 else GENESIS
    for row in rows:
        signed = row.signed
        if row.seq == change_seq:
            doc = json.loads(signed)
            doc["record"]["reason"] = "nothing to see"
            if signer is not None:
                fields = doc["record"]
                signed = signer.sign_record(row.seq, doc["writer"], AuditEntry(**fields))
            else:
                signed = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            alter(
                db, f"UPDATE reason = 'nothing to see', signed = {sql_literal(signed.decode())} WHERE seq = {row.seq}"
            )
        elif signer is not None:
            doc = json.loads(signed)
            signed = signer.sign_record(row.seq, doc["writer"], AuditEntry(**doc["record"]))
            alter(db, f"UPDATE signed = {sql_literal(signed.decode())} WHERE seq = {row.seq}")
        h = link(prev, digest(signed))
        alter(db, f"UPDATE prev_hash = '{prev}', hash = '{h}' WHERE seq = {row.seq}")
        prev = h


def test_a_rewrite_with_recomputed_hashes_is_found(db: Store, tmp_path: Path) -> None:
    fill(db, 5)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)
    rewrite(db, 2, signer=None)
    assert verify_log(log_rows(db), None) == []  # the links hold again...
    problems = check(db, tmp_path)
    assert problems[0].startswith("record 2: its signature does not verify")  # ...the signature does not
    assert problems[-1] == "checkpoint at record 5: the log's head there does not match (log rewritten)"


def test_a_rewrite_resigned_with_another_key_is_found(db: Store, tmp_path: Path) -> None:
    fill(db, 5)
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)
    rewrite(db, 3, signer=AuditSigner(Ed25519PrivateKey.generate()))
    problems = check(db, tmp_path)
    assert [p for p in problems if "signature" in p] == [
        f"record {i}: its signature does not verify (changed, or signed by another key)" for i in range(1, 6)
    ]
    assert problems[-1] == "checkpoint at record 5: the log's head there does not match (log rewritten)"


def test_a_checkpoint_that_does_not_match_is_found(db: Store, tmp_path: Path) -> None:
    fill(db, 4)
    cp_path = tmp_path / f"{4:012d}.json"
    write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)
    doc = json.loads(cp_path.read_text())
    cp_path.write_text(json.dumps({**doc, "head": "ab" * 32}))  # edited: its signature no longer holds
    assert check(db, tmp_path) == ["checkpoint at record 4: its signature does not verify"]
    forged = AuditSigner(Ed25519PrivateKey.generate()).sign_checkpoint(4, "ab" * 32, T0, T0)
    cp_path.write_text(json.dumps(forged.to_json()))
    assert check(db, tmp_path) == ["checkpoint at record 4: its signature does not verify"]
    honest_but_wrong = KEY.sign_checkpoint(4, "cd" * 32, T0, T0)  # signed with the right key, another head
    cp_path.write_text(json.dumps(honest_but_wrong.to_json()))
    assert check(db, tmp_path) == ["checkpoint at record 4: the log's head there does not match (log rewritten)"]


def test_no_checkpoint_is_written_over_a_broken_log(db: Store, tmp_path: Path) -> None:
    fill(db, 3)
    alter(db, "UPDATE rows = 99 WHERE seq = 2")
    with pytest.raises(Exception, match="does not verify, no checkpoint written"):
        write_checkpoint(db, KEY, TRUSTED, tmp_path, T0)
    assert read_checkpoints(tmp_path) == []
