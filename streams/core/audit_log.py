"""The audit log as one ordered, signed, hash-linked sequence, and the checks that find any edit of it.

- **Records** are signed (Ed25519, ``AuditSigner``) by the process that makes them, over their fields and their
  sequence number; the database never holds that key. A record's *digest* is the SHA-256 of its signed bytes.
- **Links.** ``hash[n] = SHA-256(hash[n-1] || digest[n])`` from ``GENESIS``: each record commits to every record
  before it, so one head hash stands for the whole log up to it.
- **Checkpoints** (``seq``, ``head``, time), signed and kept outside the database (files, the transparency
  report), pin the log: records deleted at the tail, or the whole log rewritten with freshly computed hashes,
  no longer reach a published head.

``verify_log`` recomputes a log against its checkpoints and names the first broken link. No I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.core.signing import canonical, key_id
from streams.model.audit import AuditEntry

__all__ = [
    "GENESIS",
    "AuditSigner",
    "AuditVerifier",
    "Checkpoint",
    "LogRow",
    "digest",
    "link",
    "record_fields",
    "record_problems",
    "verify_log",
]

GENESIS = "0" * 64  # the link before the first record
FIELDS = tuple(AuditEntry.__dataclass_fields__)


def digest(signed: bytes) -> str:
    return hashlib.sha256(signed).hexdigest()


def link(prev_hash: str, record_digest: str) -> str:
    """The hash of a record: its digest chained to the hash of the record before it."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + bytes.fromhex(record_digest)).hexdigest()


def _b64(sig: bytes) -> str:
    return base64.urlsafe_b64encode(sig).decode("ascii")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that at ``at_ms`` the log had ``seq`` records, with head ``head``; ``head_at_ms`` is the
    time of record ``seq`` (while it is within the audit limit, that record must still be there)."""

    seq: int
    head: str
    at_ms: int
    head_at_ms: int
    kid: str = ""
    sig: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "type": "audit_checkpoint",
            "seq": self.seq,
            "head": self.head,
            "at_ms": self.at_ms,
            "head_at_ms": self.head_at_ms,
            "kid": self.kid,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Any) -> Checkpoint:
        if not isinstance(doc, dict):
            raise ValueError("a checkpoint is a JSON object")
        try:
            return cls(
                int(doc["seq"]), str(doc["head"]), int(doc["at_ms"]), int(doc["head_at_ms"]), str(doc["kid"]),
                str(doc["sig"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            raise ValueError("a checkpoint needs seq, head, at_ms, head_at_ms, kid and sig") from None


class AuditSigner:
    """Signs audit records and checkpoints with one Ed25519 key (never given to the database)."""

    def __init__(self, private: Ed25519PrivateKey):
        self.private = private
        self.kid = key_id(private.public_key())

    def sign_record(self, seq: int | None, writer: str, entry: AuditEntry) -> bytes:
        """The signed bytes of a record: its fields, its writer, a unique id, and its place in the log when the
        writer knows it (``seq``; None when a sequencer places it, the chain then proves its place)."""
        body = {
            "type": "audit_record",
            "seq": seq,
            "rid": uuid.uuid4().hex,
            "writer": writer,
            "kid": self.kid,
            "record": asdict(entry),
        }
        return canonical({**body, "sig": _b64(self.private.sign(canonical(body)))})

    def sign_checkpoint(self, seq: int, head: str, at_ms: int, head_at_ms: int) -> Checkpoint:
        cp = Checkpoint(seq, head, at_ms, head_at_ms, self.kid)
        return Checkpoint(seq, head, at_ms, head_at_ms, self.kid, _b64(self.private.sign(canonical(cp.body()))))


class AuditVerifier:
    """Checks record and checkpoint signatures against the public keys of the log's writers."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey]):
        self.keys = {key_id(k): k for k in public_keys}

    def _verify(self, kid: Any, sig: Any, body: dict[str, Any]) -> bool:
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None or not isinstance(sig, str):
            return False
        try:
            key.verify(base64.urlsafe_b64decode(sig), canonical(body))
        except (InvalidSignature, ValueError):
            return False
        return True

    def record(self, signed: bytes) -> dict[str, Any] | None:
        """The signed document of a record whose signature verifies, else None."""
        try:
            doc = json.loads(signed)
        except (ValueError, RecursionError):
            return None
        if not isinstance(doc, dict) or doc.get("type") != "audit_record" or not isinstance(doc.get("record"), dict):
            return None
        sig = doc.pop("sig", None)
        return doc if self._verify(doc.get("kid"), sig, doc) else None

    def checkpoint(self, cp: Checkpoint) -> bool:
        return self._verify(cp.kid, cp.sig, cp.body())


@dataclass(frozen=True)
class LogRow:
    """One stored record: its columns as the database holds them, and the signed bytes."""

    seq: int
    fields: dict[str, Any]  # the AuditEntry columns as stored (at_ms, action, actor, ...)
    signed: bytes
    prev_hash: str
    hash: str


def _record_id(signed: bytes) -> str | None:
    try:
        rid = json.loads(signed).get("rid")
    except (ValueError, AttributeError, RecursionError):
        return None
    return rid if isinstance(rid, str) else None


def record_fields(signed: bytes) -> dict[str, Any]:
    """The AuditEntry fields of a signed record (as the sequencer stores them in their columns)."""
    doc = json.loads(signed)
    record = doc["record"]
    return {k: record[k] for k in FIELDS}


def record_problems(row: LogRow, verifier: AuditVerifier) -> list[str]:
    """What is wrong with one stored record on its own: its signature, its place, its columns."""
    doc = verifier.record(row.signed)
    if doc is None:
        return [f"record {row.seq}: its signature does not verify (changed, or signed by another key)"]
    problems = []
    if doc.get("seq") is not None and doc.get("seq") != row.seq:
        problems.append(f"record {row.seq}: it was signed as record {doc.get('seq')} (moved)")
    signed = {k: doc["record"].get(k) for k in FIELDS}
    changed = sorted(k for k in FIELDS if signed[k] != row.fields.get(k))
    if changed:
        problems.append(f"record {row.seq}: column(s) {', '.join(changed)} differ from what was signed")
    return problems


def verify_log(
    rows: Sequence[LogRow],
    verifier: AuditVerifier | None,
    checkpoints: Sequence[Checkpoint] = (),
    *,
    kept_since_ms: int | None = None,
) -> list[str]:
    """Every problem with ``rows`` (ordered by seq), the first broken link first. Empty: the log is intact.

    The oldest records leave by the audit limit: the first row present anchors the chain at its stored
    ``prev_hash``. ``kept_since_ms`` (now minus the audit limit) says which records must still be there: a
    checkpoint whose head record is younger than that, but which the rows no longer reach, shows records deleted
    early. Each checkpoint must be signed, and the recomputed head at its seq must equal its head. Without a
    ``verifier`` only the links and the sequence are checked (the store's own retention check does that).
    """
    problems: list[str] = []
    heads: dict[int, str] = {}
    prev_seq: int | None = None
    prev_hash: str | None = None
    first = rows[0].seq if rows else None
    true_head: str | None = None
    seen: dict[str, int] = {}  # record id -> seq: a record copied to a second place is a replay
    for row in rows:
        if prev_seq is None:
            prev_hash = GENESIS if row.seq == 1 else row.prev_hash
        elif row.seq != prev_seq + 1:
            problems.append(f"records {prev_seq + 1}..{row.seq - 1} are missing (deleted from the middle)")
        if verifier is not None:
            problems += record_problems(row, verifier)
        rid = _record_id(row.signed)
        if rid is not None:
            if rid in seen:
                problems.append(f"record {row.seq} repeats record {seen[rid]} (replayed)")
            seen.setdefault(rid, row.seq)
        record_digest = digest(row.signed)
        consistent = link(row.prev_hash, record_digest) == row.hash
        if row.prev_hash != prev_hash or not consistent:
            problems.append(f"record {row.seq}: its link does not follow from record {row.seq - 1}")
        # The true chain, from the first record present: what a checkpoint's head must equal.
        true_head = link(true_head if true_head is not None else prev_hash or GENESIS, record_digest)
        heads[row.seq] = true_head
        # Go on from the stored link when the record is consistent in itself: one edit is one problem.
        prev_seq, prev_hash = row.seq, row.hash if consistent else link(prev_hash or GENESIS, record_digest)
    last = prev_seq or 0
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if verifier is not None and not verifier.checkpoint(cp):
            problems.append(f"checkpoint at record {cp.seq}: its signature does not verify")
        elif cp.seq > last:
            problems.append(f"checkpoint at record {cp.seq}: the log ends at record {last} (deleted at the tail)")
        elif first is not None and cp.seq < first:
            if kept_since_ms is not None and cp.head_at_ms >= kept_since_ms:
                problems.append(
                    f"checkpoint at record {cp.seq}: records up to {first - 1} are gone before their audit limit"
                )
        elif cp.seq in heads and heads[cp.seq] != cp.head:
            problems.append(f"checkpoint at record {cp.seq}: the log's head there does not match (log rewritten)")
    return problems
