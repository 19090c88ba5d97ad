"""A discovery bundle for a case: what it holds, that it verifies without the store, and that one changed byte
anywhere in it is found."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.config.retention import load_retention
from streams.core.audit_log import AuditSigner, AuditVerifier
from streams.core.pseudonym import PlateKeys
from streams.errors import PlatestreamError
from streams.model.audit import AuditEntry
from streams.model.batch import HIT_SCHEMA, STORED_READ_SCHEMA
from streams.model.hold import Hold
from streams.store import audit as audit_store
from streams.store.audit import audit
from streams.store.clickhouse import Store, migrate
from streams.store.discovery import export_case, verify_bundle
from streams.store.hits import write_hits
from streams.store.holds import place_hold, preserve
from streams.store.reads import write_reads

KEY = AuditSigner(Ed25519PrivateKey.generate())
TRUSTED = AuditVerifier([KEY.private.public_key()])
NOW = int(time.time() * 1000)
EXPORTER = AuditEntry(0, "records.export", "rec-1@metro-pd", agency="metro-pd", role="records")


@pytest.fixture
def case_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Reads r1 (hit h1, held for CR-7) and r2 (hit h2, another case); searches of both cases; a verification."""
    migrate(store)
    monkeypatch.setitem(audit_store._state, "signer", KEY)
    keys = PlateKeys.parse("k1:000102030405060708090a0b0c0d0e0f")
    reads = pa.table(
        {"read_id": ["r1", "r2"], "captured_at": pa.array([NOW - 9000, NOW - 8000], pa.timestamp("ms", tz="UTC")),
         "camera_id": ["cam-1", "cam-2"], "site_id": ["s", "s"], "region": ["CA", "CA"],
         "plate_code": pa.array([11, 22], pa.uint64()), "confidence": pa.array([90, 80], pa.float32()),
         "hit": [True, True]},
        schema=STORED_READ_SCHEMA,
    )  # fmt: skip
    write_reads(store, reads, keys, load_retention("default"), "t")
    hits = {n: [None, None] for n in HIT_SCHEMA.names}
    hits.update(hit_id=["h1", "h2"], read_id=["r1", "r2"], camera_id=["cam-1", "cam-2"], site_id=["s", "s"],
                read_time=[NOW - 9000, NOW - 8000], entry_id=["E1", "E2"], reason=["stolen_vehicle"] * 2,
                match_kind=["confusable", "exact"], alert=[True, True], status=["unverified"] * 2,
                verification_required=[True, False], ocr_confidence=[90.0, 80.0], differing_positions=[[2], []],
                legal_basis=["NIC-1", "NIC-2"])  # fmt: skip
    write_hits(store, pa.Table.from_pydict(hits, schema=HIT_SCHEMA), "t")
    store.command(
        "INSERT INTO verifications (hit_id, decision, reason, operator, decided_at) "
        f"VALUES ('h1', 'rejected', 'misread', 'op-3@metro-pd', fromUnixTimestamp64Milli({NOW - 5000}))"
    )
    hold = Hold("hold-7", "defence counsel", "CR-7", "own data", (), ("r1",), 0, NOW - 7000, NOW + 86_400_000,
                NOW - 7000, order_ref="subpoena 7", placed_by="rec-1@metro-pd", agency="metro-pd")  # fmt: skip
    place_hold(store, hold, version=1)
    preserve(store, load_retention("default"), NOW - 6000)
    for case, hit in (("CR-7", "h1"), ("CR-9", "h2"), ("CR-7", None)):
        detail = json.dumps({"kind": "hit_trail" if hit else "plate_history", "hit_id": hit})
        audit(store, AuditEntry(NOW - 4000, "search", "inv-2@metro-pd", case_number=case, detail=detail, rows=1))
    audit(store, AuditEntry(NOW - 3000, "verification", "op-3@metro-pd", detail=json.dumps({"hit_id": "h1"})))
    return store


def export(store: Store, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    done = export_case(store, "CR-7", KEY, TRUSTED, tmp_path / "cps", out, EXPORTER, NOW)
    assert (done.records, done.hits, done.verifications, done.holds) == (4, 1, 1, 1)
    return out


def test_the_bundle_holds_everything_that_touched_the_case_and_verifies(case_store: Store, tmp_path: Path) -> None:
    out = export(case_store, tmp_path)
    assert verify_bundle(out) == []
    assert verify_bundle(out, [KEY.private.public_key()]) == []
    hits = (out / "hits.csv").read_text()
    assert "h1" in hits and "h2" not in hits and "NIC-1" in hits  # the entry as it stood, not the other case
    assert (
        "misread" in (out / "verifications.csv").read_text()
        and "op-3@metro-pd" in (out / "verifications.csv").read_text()
    )
    records = (out / "records.csv").read_text()
    assert records.count("CR-9") == 0 and "holds.place" in records and "verification" in records
    bundle = json.loads((out / "bundle.json").read_text())
    assert [r["seq"] for r in bundle["records"]][-1] == bundle["export_seq"]  # the export is on the record


@pytest.mark.parametrize("name", ["hits.csv", "records.csv", "verifications.csv", "holds.csv", "bundle.json"])
def test_one_changed_byte_anywhere_is_found(case_store: Store, tmp_path: Path, name: str) -> None:
    out = export(case_store, tmp_path)
    path = out / name
    data = bytearray(path.read_bytes())
    at = data.index(b"h1") if b"h1" in data else len(data) // 2
    data[at] ^= 0x01  # one bit of one byte
    path.write_bytes(bytes(data))
    problems = verify_bundle(out)
    assert problems, f"a changed byte in {name} went unnoticed"


def test_a_bundle_checked_against_another_key_fails(case_store: Store, tmp_path: Path) -> None:
    out = export(case_store, tmp_path)
    other = Ed25519PrivateKey.generate().public_key()
    problems = verify_bundle(out, [other])
    assert "the checkpoint's signature does not verify with the given key(s)" in problems


def test_a_case_nothing_names_is_refused(case_store: Store, tmp_path: Path) -> None:
    with pytest.raises(PlatestreamError, match="nothing in the audit log or the holds names case"):
        export_case(case_store, "CR-404", KEY, TRUSTED, tmp_path / "cps", tmp_path / "b", EXPORTER, NOW)
