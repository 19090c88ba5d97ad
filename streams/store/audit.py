"""The audit log in ``audit_log``: one ordered sequence per store, each record signed by its writer and linked to
the one before it (streams/core/audit_log.py), and the reads that verify it.

The process that appends is the store's one audit writer (an embedded store is open in one process; on a server
the API is the sequencer). Its signing key comes from ``configure`` at start-up (``audit_signing_key_file``);
the database never holds it, so an edit made with database rights alone shows in ``verify_log``.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.core.audit_log import FIELDS, GENESIS, AuditSigner, AuditVerifier, LogRow, digest, link, record_fields
from streams.errors import StoreError
from streams.metrics import AUDIT_RECORDS
from streams.model.audit import AuditEntry
from streams.store.clickhouse import Store
from streams.store.sql import sql_literal, ts_sql

__all__ = [
    "AUDIT_WRITER",
    "AuditSink",
    "append_signed",
    "audit",
    "configure",
    "last_details_mentioning",
    "log_rows",
    "signer",
    "verifier",
]

# Which process wrote a record (informational: the order is the log's seq, the proof is the signature).
AUDIT_WRITER = uuid.uuid4().hex[:16]
COLUMNS = [c for c in FIELDS if c != "at_ms"]

# Replaced by configure() at start-up; until then records are signed by a key of this process only.
_state: dict[str, Any] = {"signer": AuditSigner(Ed25519PrivateKey.generate()), "trusted": [], "sink": None}


class AuditSink(Protocol):
    """Where a process sends its records when it is not the store's one writer: the Kafka sequencer
    (streams.kafka.audit_log). ``append`` returns the record's seq once the log has it."""

    def append(self, signed: bytes) -> int: ...


_lock = threading.Lock()


def configure(
    audit_signer: AuditSigner, trusted: list[Ed25519PublicKey] | None = None, sink: AuditSink | None = None
) -> None:
    """Sign this process's audit records with ``audit_signer`` (from ``audit_signing_key_file``); ``trusted``:
    other writers' public keys (``audit_keys_file``), accepted by ``verifier``. With a ``sink`` the records go
    to the deployment's sequencer instead of straight into the store."""
    _state["signer"] = audit_signer
    _state["trusted"] = list(trusted or [])
    _state["sink"] = sink


def signer() -> AuditSigner:
    return _state["signer"]


def verifier() -> AuditVerifier:
    """Accepts records signed by this process's key and by the trusted writers' keys."""
    return AuditVerifier([signer().private.public_key(), *_state["trusted"]])


def _head(store: Store) -> tuple[int, str]:
    # Read every time, not cached: the store is the one place the log's head is (and a cache would follow a
    # Store object into another database).
    last = store.query_arrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").to_pylist()
    return (int(last[0]["seq"]), last[0]["hash"]) if last else (0, GENESIS)


def audit(store: Store, entry: AuditEntry) -> int:
    """Append ``entry`` to the audit log, signed and linked; its seq. Raises StoreError when it cannot be
    written: the caller then fails what it was doing (no answer without its record).

    Straight into ``store`` when this process is its one writer; through the configured sink (the deployment's
    sequencer) otherwise, returning once the sequencer's log has it."""
    sink: AuditSink | None = _state["sink"]
    if sink is not None:
        seq = sink.append(signer().sign_record(None, AUDIT_WRITER, entry))
    else:
        with _lock:
            head, prev = _head(store)
            seq = head + 1
            _insert(store, seq, prev, signer().sign_record(seq, AUDIT_WRITER, entry), AUDIT_WRITER)
    AUDIT_RECORDS.set(seq)
    return seq


def append_signed(store: Store, seq: int, signed: bytes) -> bool:
    """The sequencer's write: record ``seq`` as its writer signed it, linked to the store's head. False (nothing
    written) when the store has it already, as after a restart; StoreError when ``seq`` would leave a gap."""
    with _lock:
        head, prev = _head(store)
        if seq <= head:
            return False
        if head and seq != head + 1:
            raise StoreError(f"audit sequencer: record {seq} would follow record {head}: records are missing")
        _insert(store, seq, prev, signed, json.loads(signed).get("writer", ""))
    return True


def _insert(store: Store, seq: int, prev: str, signed: bytes, writer: str) -> None:
    """Write record ``seq``, linked to ``prev`` (the hash of the record before it)."""
    record = record_fields(signed)
    values = ", ".join(str(int(record[c])) if c == "rows" else sql_literal(record[c]) for c in COLUMNS)
    store.command(
        f"INSERT INTO audit_log (at, {', '.join(COLUMNS)}, writer, seq, prev_hash, hash, signed) "
        f"SELECT {ts_sql(int(record['at_ms']))}, {values}, {sql_literal(writer)}, {seq}, "
        f"{sql_literal(prev)}, {sql_literal(link(prev, digest(signed)))}, {sql_literal(signed.decode())}"
    )


def log_rows(store: Store, since_seq: int = 0) -> list[LogRow]:
    """The stored log from ``since_seq`` on, ordered by seq, as ``verify_log`` takes it."""
    rows = store.query_arrow(
        f"SELECT seq, prev_hash, hash, signed, toUnixTimestamp64Milli(at) AS at_ms, {', '.join(COLUMNS)} "
        f"FROM audit_log WHERE seq > {int(since_seq)} ORDER BY seq"
    ).to_pylist()
    return [
        LogRow(int(r["seq"]), {k: r[k] for k in FIELDS}, r["signed"].encode(), r["prev_hash"], r["hash"]) for r in rows
    ]


def last_details_mentioning(
    store: Store, action: str, needles: tuple[str, ...], decisions: tuple[str, ...]
) -> list[str]:
    """The detail of the latest record of ``action`` with one of ``decisions`` whose detail holds every needle (at
    most one): what the API asks of its own trail, such as whether an entry id was ever added."""
    has = " ".join(f"AND position(detail, {sql_literal(n)}) > 0" for n in needles)
    rows = store.query_arrow(
        f"SELECT detail FROM audit_log WHERE action = {sql_literal(action)} "
        f"AND decision IN ({', '.join(sql_literal(d) for d in decisions)}) {has} ORDER BY seq DESC LIMIT 1"
    )
    return rows["detail"].to_pylist()
