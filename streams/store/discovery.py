"""Discovery bundles: everything that touched a case, in one folder a defence can check without the system.

``export_case`` writes, under ``out``:

- ``records.csv``, ``hits.csv``, ``verifications.csv``, ``holds.csv``: the case's audit records (searches, holds,
  exports...), the hits of the reads its holds keep or its records name (with their evidence and the entry as it
  stood), their verifications (who decided what), and its holds;
- ``bundle.json`` (canonical JSON): the files' SHA-256 (the manifest), every audit record of the case as its writer
  signed it, the export's own audit record, the chain of record digests from the first of them to a signed
  checkpoint, that checkpoint, and the log's public keys.

The export is itself an audit record whose detail holds the manifest's hash, and a checkpoint is written after
it: a byte changed anywhere in the folder breaks a hash, a signature or the chain, and ``verify_bundle`` says
which. Verify with the public key published in the transparency report (``--key``), not only the bundle's own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from streams.core.audit_log import FIELDS, AuditSigner, AuditVerifier, Checkpoint, LogRow, digest, link, verify_log
from streams.core.signing import canonical
from streams.errors import PlatestreamError
from streams.model.audit import AuditEntry
from streams.store.audit import audit, log_rows
from streams.store.audit_checkpoints import read_checkpoints, write_checkpoint
from streams.store.clickhouse import Store
from streams.store.hits import HIT_COLUMNS
from streams.store.sql import sql_literal

__all__ = ["BundleSummary", "export_case", "verify_bundle"]

DATA_FILES = ("records.csv", "hits.csv", "verifications.csv", "holds.csv")


@dataclass(frozen=True)
class BundleSummary:
    case: str
    records: int
    hits: int
    verifications: int
    holds: int
    checkpoint_seq: int


def _detail(row: LogRow) -> dict[str, Any]:
    try:
        doc = json.loads(row.fields.get("detail") or "{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _ids(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in r.items()})
    return buf.getvalue().encode()


def _case_data(store: Store, case: str, rows: list[LogRow]) -> tuple[list[LogRow], list[dict], list[dict], list[dict]]:
    """The case's audit records, hits, verifications and holds."""
    holds = store.query_arrow(
        f"SELECT * FROM holds FINAL WHERE case_number = {sql_literal(case)} ORDER BY placed_at"
    ).to_pylist()
    hold_ids = {h["hold_id"] for h in holds}
    own = [r for r in rows if r.fields.get("case_number") == case]
    hit_ids = set().union(*(_ids(_detail(r).get("hit_id")) for r in own)) if own else set()
    if hold_ids:
        held = store.query_arrow(
            "SELECT DISTINCT h.hit_id AS hit_id FROM hits AS h INNER JOIN held_reads AS r ON h.read_id = r.read_id "
            f"WHERE r.hold_id IN ({', '.join(sql_literal(h) for h in hold_ids)})"
        )
        hit_ids |= set(held["hit_id"].to_pylist())
    named = [
        r
        for r in rows
        if r not in own and (_ids(_detail(r).get("hold_id")) & hold_ids or _ids(_detail(r).get("hit_id")) & hit_ids)
    ]
    records = sorted(own + named, key=lambda r: r.seq)
    hits, verifications = [], []
    if hit_ids:
        id_list = ", ".join(sql_literal(h) for h in sorted(hit_ids))
        hits = store.query_arrow(
            f"SELECT {', '.join(HIT_COLUMNS)} FROM hits FINAL WHERE hit_id IN ({id_list}) ORDER BY read_time, hit_id"
        ).to_pylist()
        verifications = store.query_arrow(
            f"SELECT * FROM verifications FINAL WHERE hit_id IN ({id_list}) ORDER BY decided_at, hit_id"
        ).to_pylist()
    return records, hits, verifications, holds


def _public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def export_case(
    store: Store,
    case: str,
    signer: AuditSigner,
    verifier: AuditVerifier,
    checkpoints: Path,
    out: Path,
    who: AuditEntry,
    now_ms: int,
) -> BundleSummary:
    """Write the case's bundle to ``out`` (created; an existing bundle there is refused), audited as ``who``."""
    if (out / "bundle.json").exists():
        raise PlatestreamError(f"{out} already holds a bundle: give another --out")
    rows = log_rows(store)
    problems = verify_log(rows, verifier, read_checkpoints(checkpoints))
    if problems:
        raise PlatestreamError(f"the audit log does not verify, no bundle written: {problems[0]}")
    records, hits, verifications, holds = _case_data(store, case, rows)
    if not records and not holds:
        raise PlatestreamError(f"nothing in the audit log or the holds names case {case!r}")
    files = {
        "records.csv": _csv([{"seq": r.seq, **r.fields} for r in records], ["seq", *FIELDS]),  # fmt: skip
        "hits.csv": _csv(hits, list(HIT_COLUMNS)),
        "verifications.csv": _csv(verifications, ["hit_id", "decision", "reason", "operator", "decided_at"]),
        "holds.csv": _csv(holds, list(holds[0]) if holds else ["hold_id"]),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    manifest = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    detail = {"case": case, "manifest_sha256": hashlib.sha256(canonical(manifest)).hexdigest(), "records": len(records)}
    export_seq = audit(store, AuditEntry(**{**who.__dict__, "at_ms": now_ms, "case_number": case,
                                            "detail": json.dumps(detail), "rows": len(records)}))  # fmt: skip
    cp = write_checkpoint(store, signer, verifier, checkpoints, now_ms)
    assert cp is not None  # the log holds at least the export's own record
    chain_rows = [r for r in log_rows(store) if r.seq >= (records[0].seq if records else export_seq)]
    chain_rows = [r for r in chain_rows if r.seq <= cp.seq]
    wanted = {r.seq for r in records} | {export_seq}
    bundle = {
        "type": "platestream_discovery_bundle",
        "case": case,
        "generated_at_ms": now_ms,
        "manifest": manifest,
        "export_seq": export_seq,
        "records": [{"seq": r.seq, "signed": r.signed.decode()} for r in chain_rows if r.seq in wanted],
        "chain": {
            "from_seq": chain_rows[0].seq,
            "anchor": chain_rows[0].prev_hash,
            "digests": [digest(r.signed) for r in chain_rows],
        },  # fmt: skip
        "checkpoint": cp.to_json(),
        "public_keys": [_public_pem(k) for k in verifier.keys.values()],
    }
    (out / "bundle.json").write_bytes(canonical(bundle))
    return BundleSummary(case, len(records), len(hits), len(verifications), len(holds), cp.seq)


def verify_bundle(folder: Path, keys: list[Ed25519PublicKey] | None = None) -> list[str]:
    """What is wrong with the bundle in ``folder``; empty when every file, record and link checks out.

    ``keys``: the log's public keys from an independent source (the transparency report); else the bundle's own.
    """
    try:
        raw = (folder / "bundle.json").read_bytes()
        bundle = json.loads(raw)
    except (OSError, ValueError) as exc:
        return [f"bundle.json cannot be read: {type(exc).__name__}"]
    if not isinstance(bundle, dict) or bundle.get("type") != "platestream_discovery_bundle":
        return ["bundle.json is not a platestream discovery bundle"]
    if canonical(bundle) != raw:
        return ["bundle.json was changed: it is not the canonical JSON it was written as"]
    problems: list[str] = []
    try:
        given = keys if keys is not None else [load_pem_public_key(p.encode()) for p in bundle["public_keys"]]
        verifier = AuditVerifier(k for k in given if isinstance(k, Ed25519PublicKey))
        cp = Checkpoint.from_json(bundle["checkpoint"])
        chain, records, manifest = bundle["chain"], bundle["records"], bundle["manifest"]
        from_seq, digests = int(chain["from_seq"]), list(chain["digests"])
    except (KeyError, TypeError, ValueError) as exc:
        return [f"bundle.json lacks what a bundle holds: {type(exc).__name__} {exc}"]
    for name in DATA_FILES:
        try:
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except OSError:
            problems.append(f"{name} is missing")
            continue
        if manifest.get(name) != actual:
            problems.append(f"{name} was changed: its SHA-256 is not the one in the manifest")
    if not verifier.checkpoint(cp):
        problems.append("the checkpoint's signature does not verify with the given key(s)")
    head = chain["anchor"]
    for d in digests:
        head = link(head, d)
    if from_seq + len(digests) - 1 != cp.seq or head != cp.head:
        problems.append("the chain of record digests does not reach the checkpoint's head")
    export_ok = False
    for rec in records:
        seq, signed = int(rec["seq"]), rec["signed"].encode()
        if not from_seq <= seq < from_seq + len(digests) or digests[seq - from_seq] != digest(signed):
            problems.append(f"record {seq} is not the record the chain has at its place")
            continue
        doc = verifier.record(signed)
        if doc is None or doc.get("seq") != seq:
            problems.append(f"record {seq}: its signature does not verify")
            continue
        if seq == bundle.get("export_seq"):
            detail = json.loads(doc["record"].get("detail") or "{}")
            export_ok = detail.get("manifest_sha256") == hashlib.sha256(canonical(manifest)).hexdigest()
    if not export_ok:
        problems.append("the export's own signed record does not vouch for this manifest")
    return problems
