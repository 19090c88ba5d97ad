"""The auditor's review and the records staff's discovery bundle through the real API: allowed for their roles
only, audited, and the bundle checks out offline (and fails with one byte changed)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from streams.store.discovery import verify_bundle
from tests.api.helpers import ApiServer, last_seq, records_since
from tests.support.issuer import TokenIssuer


def test_the_review_is_the_auditors_and_is_audited(api: ApiServer, issuer: TokenIssuer) -> None:
    before = last_seq(api, issuer)
    r = api.call("GET", "/v1/audit/review", issuer.token("aud-1", roles=["auditor"]))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["records"] > 0 and isinstance(doc["flags"], list)
    assert all({"rule", "records", "summary"} <= set(f) for f in doc["flags"])
    denied = api.call("GET", "/v1/audit/review", issuer.token("ivy", roles=["investigator"]))
    assert (denied.status_code, denied.json()["rule"]) == (403, "role_lacks_audit.read")
    mine = [x for x in records_since(api, issuer, before) if x["action"] == "audit.read"]
    assert [(x["actor"], x["decision"]) for x in mine] == [("aud-1@metro-pd", "allowed"), ("ivy@metro-pd", "refused")]


def test_a_case_bundle_from_the_api_verifies_offline(api: ApiServer, issuer: TokenIssuer, tmp_path: Path) -> None:
    records = issuer.token("rec-9", roles=["records"])
    r = api.call("POST", "/v1/audit/export", records, json={"case_number": "CR-1"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    folder = tmp_path / "bundle"
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "bundle.json", "hits.csv", "holds.csv", "records.csv", "verifications.csv"
    ]  # fmt: skip
    assert verify_bundle(folder) == []
    holds = folder / "holds.csv"
    holds.write_bytes(holds.read_bytes().replace(b"CR-1", b"CR-2", 1))
    assert verify_bundle(folder) == ["holds.csv was changed: its SHA-256 is not the one in the manifest"]
    assert api.call("POST", "/v1/audit/export", records, json={"case_number": "CR-none"}).status_code == 404
    denied = api.call("POST", "/v1/audit/export", issuer.token("ivy", roles=["investigator"]),
                      json={"case_number": "CR-1"})  # fmt: skip
    assert (denied.status_code, denied.json()["rule"]) == (403, "role_lacks_records.discover")
