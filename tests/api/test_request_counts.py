"""request_counts as a real API server writes it (uvicorn subprocess, real tokens, embedded store): one count per
audited request of a counted action, allowed, refused or failed, matching its audit record; partners, search kinds,
justifications and purposes as docs/aggregates.md says; no plate text; and a count that cannot be written loses
neither the audit record nor the answer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from streams.core.report_counts import COUNTED_ACTIONS
from streams.store.clickhouse import open_store
from tests.api.helpers import PLATE, PROCESS_ID, ApiServer, base_env, last_seq, records_since, seed, start_api
from tests.support.issuer import TokenIssuer

COLUMNS = "agency, partner, action, kind, justification, purpose, decision, rule"


def counts(chdb: Path) -> list[dict[str, Any]]:
    """request_counts of a stopped server's store, summed by every key but the hour."""
    store = open_store(None, chdb)
    try:
        return store.query_arrow(
            f"SELECT {COLUMNS}, sum(requests) AS n FROM request_counts GROUP BY ALL ORDER BY ALL"
        ).to_pylist()
    finally:
        store.close()


def searches(api: ApiServer, issuer: TokenIssuer) -> None:
    now = int(time.time() * 1000)
    body = {"process_id": PROCESS_ID, "reason": "case", "plates": [PLATE], "from": now - 3_600_000, "to": now}
    path = "/v1/search/plate_history"
    assert api.call("POST", path, issuer.token("ivy"), json=body).status_code == 200  # home, cites a warrant
    assert api.call("POST", path, json=body).status_code == 401  # no token
    outside = issuer.token("fl1", "far-pd")
    with_purpose = {**body, "purpose": f"stolen vehicle {PLATE}"}
    assert api.call("POST", path, outside, json=with_purpose).json()["rule"] == "agency_not_shared"
    admin = issuer.token("adm", roles=["admin"])
    shared = {"warrant_rules": "state law", "retention": "30 days"}
    assert api.call("PUT", "/v1/sharing/far-pd", admin, json=shared).status_code == 200
    assert api.call("POST", path, outside, json={**body, "purpose": "immigration"}).json()["rule"] == "purpose_refused"
    assert api.call("GET", "/v1/hits", issuer.token("op", roles=["operator"])).status_code == 200  # not counted


def test_every_counted_request_is_counted_once_as_its_audit_record_says(tmp_path: Path, issuer: TokenIssuer) -> None:
    seed(tmp_path / "chdb")
    api = start_api(base_env(tmp_path, issuer))
    try:
        before = last_seq(api, issuer)
        searches(api, issuer)
        records = [r for r in records_since(api, issuer, before) if r["action"] in COUNTED_ACTIONS]
    finally:
        api.stop()
    got = counts(tmp_path / "chdb")
    assert sum(r["n"] for r in got) == len(records) == 5
    assert sorted((r["agency"], r["action"], r["decision"], r["rule"]) for r in got) == sorted(
        (r["agency"], r["action"], r["decision"], r["rule"]) for r in records
    )
    search = {"action": "search", "kind": "plate_history"}
    assert got == [
        {"agency": "", "partner": 0, **search, "justification": "none", "purpose": "", "decision": "refused",
         "rule": "no_token", "n": 1},
        {"agency": "far-pd", "partner": 1, **search, "justification": "warrant", "purpose": "immigration",
         "decision": "refused", "rule": "purpose_refused", "n": 1},
        {"agency": "far-pd", "partner": 1, **search, "justification": "warrant", "purpose": "stolen vehicle #",
         "decision": "refused", "rule": "agency_not_shared", "n": 1},
        {"agency": "metro-pd", "partner": 0, **search, "justification": "warrant", "purpose": "", "decision": "allowed",
         "rule": "", "n": 1},
        {"agency": "metro-pd", "partner": 0, "action": "sharing.manage", "kind": "", "justification": "none",
         "purpose": "", "decision": "allowed", "rule": "", "n": 1},
    ]  # fmt: skip
    assert PLATE not in str(got)


def test_a_count_that_cannot_be_written_loses_neither_the_record_nor_the_answer(
    tmp_path: Path, issuer: TokenIssuer
) -> None:
    seed(tmp_path / "chdb")
    fault = tmp_path / "fault"
    api = start_api(base_env(tmp_path, issuer, PLATESTREAM_STORE_FAULT_FILE=str(fault)))
    try:
        before = last_seq(api, issuer)
        fault.write_text("INSERT INTO request_counts")  # the count's insert alone fails
        admin = issuer.token("adm", roles=["admin"])
        r = api.call("PUT", "/v1/sharing/far-pd", admin, json={"warrant_rules": "state law", "retention": "30 days"})
        assert r.status_code == 200 and r.json()["agency"] == "far-pd"
        fault.unlink()
        [record] = [x for x in records_since(api, issuer, before) if x["action"] == "sharing.manage"]
        assert (record["decision"], record["actor"]) == ("allowed", "adm@metro-pd")
        assert "request not counted in request_counts for sharing.manage: StoreError" in api.output()
        assert api.call("DELETE", "/v1/sharing/far-pd", admin).status_code == 200  # counted again once it can be
    finally:
        api.stop()
    assert [(r["action"], r["decision"], r["n"]) for r in counts(tmp_path / "chdb")] == [
        ("sharing.manage", "allowed", 1)
    ]
