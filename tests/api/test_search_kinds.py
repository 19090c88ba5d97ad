"""The search kinds under legal process through the real server (docs/search-and-audit.md): each refusal rule and
each limit, each kind inside and outside its record's scope, retention and holds honoured, outside agencies
allowed and refused by the sharing allow-list, and no rows without their audit record.

Expectations are written out from the seed (tests/api/kinds_seed.py), not computed by the code under test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from streams import resources
from tests.api.helpers import ApiServer, base_env, last_seq, records_since, start_api
from tests.api.kinds_seed import CAMERAS, DAY, HOUR, IDS, P1, P2, P3, seed_kinds, write_registry
from tests.support.issuer import TokenIssuer

NOW = int(time.time() * 1000)
LAT, LON = CAMERAS["cam-a"]
CONTRACT_KEYS = {"kind", "process_id", "purpose", "plate_keys", "cameras", "area", "from_ms", "to_ms", "hit_id",
                 "entry_id", "status", "method", "route"}  # fmt: skip


@pytest.fixture(scope="module")
def kinds(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server over the seeded store, a camera registry with positions, a policy whose retroactive_match allows
    one result, and a store fault file that tests may create (every store call then fails)."""
    tmp = tmp_path_factory.mktemp("kinds")
    seed_kinds(tmp / "chdb", NOW)
    write_registry(tmp / "cameras.csv")
    policy = yaml.safe_load(resources.policy_file("search.yaml").read_text())
    policy["kinds"]["retroactive_match"]["max_results"] = 1
    (tmp / "search.yaml").write_text(yaml.safe_dump(policy))
    env = base_env(
        tmp,
        issuer,
        PLATESTREAM_API_RATE_PER_MINUTE="100000",
        PLATESTREAM_CAMERA_REGISTRY_PATH=str(tmp / "cameras.csv"),
        PLATESTREAM_SEARCH_POLICY_PATH=str(tmp / "search.yaml"),
        PLATESTREAM_STORE_FAULT_FILE=str(tmp / "store-down"),
    )
    server = start_api(env)
    yield server
    server.stop()


def search(api: ApiServer, issuer: TokenIssuer, kind: str, body: dict, sub: str = "ivy", agency: str = "metro-pd"):
    token = issuer.token(sub, agency=agency, roles=["investigator"])
    return api.call("POST", f"/v1/search/{kind}", token, json={"reason": "robbery at 5th and Main", **body})


def history(process_id: str = IDS.warrant, plates: list[str] | None = None, start: int = NOW - HOUR,
            end: int = NOW, **more: object) -> dict:  # fmt: skip
    return {"process_id": process_id, "plates": plates or [P1], "from": start, "to": end, **more}


def refused(r, status: int, rule: str) -> None:  # noqa: ANN001
    assert (r.status_code, r.json().get("rule")) == (status, rule), r.text
    assert set(r.json()) == {"error", "rule"}
    for plate in (P1, P2, P3):
        assert plate not in r.text


def test_plate_history_in_scope_honours_retention_and_holds_and_is_audited(kinds: ApiServer, issuer) -> None:
    before = last_seq(kinds, issuer)
    r = search(kinds, issuer, "plate_history", history(plates=[P1.lower()]))
    assert r.status_code == 200, r.text
    rows = {x["read_id"]: x["held"] for x in r.json()["rows"]}
    assert rows == {"r1": 0, "r2": 0, "r-held": 1}  # r-old is past its limit; r-held is kept by a hold
    [record] = records_since(kinds, issuer, before)
    detail = json.loads(record["detail"])
    assert (record["action"], record["decision"], record["rows"], record["case_number"]) == (
        "search", "allowed", 3, "CR-100"
    )  # fmt: skip
    assert CONTRACT_KEYS <= set(detail) and P1 not in record["detail"]
    assert (detail["kind"], detail["process_id"], detail["status"], detail["route"]) == (
        "plate_history", IDS.warrant, 200, "/v1/search/plate_history"
    )  # fmt: skip
    assert len(detail["plate_keys"]) == 1 and detail["plate_keys"][0].startswith("k1:")


@pytest.mark.parametrize(
    ("body", "status", "rule"),
    [
        (history(process_id="lp-ffffffffffff"), 403, "no_process"),
        (history(process_id=IDS.expired), 403, "process_expired"),
        (history(process_id=IDS.other), 403, "process_other_agency"),
        (history(process_id=IDS.overdue), 403, "process_review_overdue"),
        (history(plates=[P3]), 403, "outside_scope_plates"),
        (history(process_id=IDS.cameras), 403, "outside_scope_plates"),  # an area-only record covers no plate
        (history(start=NOW - 2 * DAY), 403, "outside_scope_time"),
        (history(end=NOW + 2 * HOUR), 403, "outside_scope_time"),
        (history(start=NOW - 91 * DAY), 400, "max_range_days"),
        (history(plates=[P1, P2, P3, "1AAA111", "2BBB222", "3CCC333"]), 400, "max_plates"),
        (history(start=NOW, end=NOW - 1), 400, "invalid_window"),
        ({"reason": "x", "plates": [P1], "from": 0, "to": 1}, 400, "invalid_request"),  # no process cited
    ],
)
def test_plate_history_refusals(kinds: ApiServer, issuer: TokenIssuer, body: dict, status: int, rule: str) -> None:
    before = last_seq(kinds, issuer)
    refused(search(kinds, issuer, "plate_history", body), status, rule)
    [record] = records_since(kinds, issuer, before)
    assert (record["action"], record["decision"], record["rule"], record["rows"]) == ("search", "refused", rule, 0)


def scene(process_id: str = IDS.warrant, radius: float = 150, start: int = NOW - HOUR, **more: object) -> dict:
    return {"process_id": process_id, "area": {"lat": LAT, "lon": LON, "radius_m": radius}, "from": start,
            "to": NOW, **more}  # fmt: skip


def test_near_scene_reads_at_the_cameras_in_the_area(kinds: ApiServer, issuer: TokenIssuer) -> None:
    before = last_seq(kinds, issuer)
    r = search(kinds, issuer, "near_scene", scene())
    assert r.status_code == 200, r.text
    assert sorted(x["read_id"] for x in r.json()["rows"]) == ["r-held", "r1", "r3"]  # cam-a and cam-b, not cam-c
    [record] = records_since(kinds, issuer, before)
    detail = json.loads(record["detail"])
    assert (detail["cameras"], detail["area"]["radius_m"], record["rows"]) == (["cam-a", "cam-b"], 150, 3)
    assert search(kinds, issuer, "near_scene", scene(radius=250)).status_code == 200  # inside the 300 m circle
    # a record of cameras covers the cameras it names
    r = search(kinds, issuer, "near_scene", {"process_id": IDS.cameras, "cameras": ["cam-b"], "from": NOW - HOUR,
                                             "to": NOW})  # fmt: skip
    assert [x["read_id"] for x in r.json()["rows"]] == ["r3"]


@pytest.mark.parametrize(
    ("body", "status", "rule"),
    [
        ({**scene(), "area": {"lat": CAMERAS["cam-c"][0], "lon": LON, "radius_m": 100}}, 403, "outside_scope_area"),
        (scene(radius=350), 403, "outside_scope_area"),  # past the record's 300 m circle, within max_radius_m
        ({"process_id": IDS.cameras, "cameras": ["cam-c"], "from": NOW - HOUR, "to": NOW}, 403, "outside_scope_area"),
        (scene(process_id=IDS.stolen), 403, "process_kind_not_allowed"),  # near_scene needs a warrant or order
        (scene(radius=600), 400, "max_radius_m"),
        (scene(start=NOW - 5 * HOUR), 400, "max_window_hours"),
        ({**scene(), "area": None, "cameras": [f"cam-{i}" for i in range(21)]}, 400, "max_cameras"),
        ({"process_id": IDS.warrant, "from": NOW - HOUR, "to": NOW}, 400, "invalid_request"),  # no area or cameras
    ],
)
def test_near_scene_refusals(kinds: ApiServer, issuer: TokenIssuer, body: dict, status: int, rule: str) -> None:
    refused(search(kinds, issuer, "near_scene", body), status, rule)


def test_hit_trail_inside_and_outside_its_scope(kinds: ApiServer, issuer: TokenIssuer) -> None:
    before = last_seq(kinds, issuer)
    r = search(kinds, issuer, "hit_trail", {"process_id": IDS.warrant, "hit_id": "hit-1"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["hit"]["hit_id"], got["entry"], [x["read_id"] for x in got["reads"]]) == (
        "hit-1", {"entry_id": "E-1", "reason": "stolen_vehicle", "match_kind": "exact"}, ["r1"]
    )  # fmt: skip
    assert [(v["decision"], v["operator"]) for v in got["verifications"]] == [("confirmed", "op-1@metro-pd")]
    [record] = records_since(kinds, issuer, before)
    detail = json.loads(record["detail"])
    assert (detail["hit_id"], detail["entry_id"], detail["cameras"], record["rows"]) == ("hit-1", "E-1", ["cam-a"], 3)
    # hit-2 is of P3 at cam-c: neither the warrant's plates nor its area
    refused(search(kinds, issuer, "hit_trail", {"process_id": IDS.warrant, "hit_id": "hit-2"}), 403,
            "outside_scope_plates")  # fmt: skip
    refused(search(kinds, issuer, "hit_trail", {"process_id": IDS.warrant, "hit_id": "hit-x"}), 404, "unknown_hit")
    refused(search(kinds, issuer, "hit_trail", {"process_id": IDS.expired, "hit_id": "hit-x"}), 403,
            "process_expired")  # fmt: skip


def test_retroactive_match_and_max_results_never_truncates(kinds: ApiServer, issuer: TokenIssuer) -> None:
    body = {"process_id": IDS.warrant, "entry_id": "E-9", "plate": P2, "from": NOW - HOUR, "to": NOW}
    r = search(kinds, issuer, "retroactive_match", body)
    assert r.status_code == 200 and [x["read_id"] for x in r.json()["rows"]] == ["r3"], r.text
    refused(search(kinds, issuer, "retroactive_match", {**body, "plate": P1}), 400, "max_results")  # 3 rows > 1
    refused(search(kinds, issuer, "retroactive_match", {**body, "plate": P3}), 403, "outside_scope_plates")
    refused(search(kinds, issuer, "retroactive_match", {**body, "from": NOW - 31 * DAY}), 400, "max_range_days")


def test_outside_agency_needs_the_allow_list_and_a_purpose_not_refused(kinds: ApiServer, issuer) -> None:
    body = history(process_id=IDS.partner, purpose="stolen vehicle recovery")
    refused(search(kinds, issuer, "plate_history", body, "trooper", "state-patrol"), 403, "agency_not_shared")
    admin = issuer.token("adm", roles=["admin"])
    protections = {"warrant_rules": "state warrant statute 12.3", "retention": "30 days, then deleted"}
    assert kinds.call("PUT", "/v1/sharing/metro-pd", admin, json=protections).json()["rule"] == "home_agency"
    r = kinds.call("PUT", "/v1/sharing/state-patrol", admin, json=protections)
    assert r.status_code == 200 and r.json()["added_by"] == "adm@metro-pd", r.text
    listed = kinds.call("GET", "/v1/sharing", issuer.token("aud", roles=["auditor"])).json()
    assert [(p["agency"], p["retention"]) for p in listed["partners"]] == [("state-patrol", "30 days, then deleted")]
    assert "civil_immigration_enforcement" in listed["refused_purposes"]

    r = search(kinds, issuer, "plate_history", body, "trooper", "state-patrol")
    assert r.status_code == 200 and {x["read_id"] for x in r.json()["rows"]} == {"r1", "r2", "r-held"}, r.text
    for purpose, rule in [("Civil immigration enforcement (ICE)", "purpose_refused"), ("", "purpose_required")]:
        refused(search(kinds, issuer, "plate_history", {**body, "purpose": purpose}, "trooper", "state-patrol"), 403,
                rule)  # fmt: skip
    # a partner cites its own agency's records only
    refused(search(kinds, issuer, "plate_history", {**body, "process_id": IDS.warrant}, "trooper", "state-patrol"),
            403, "process_other_agency")  # fmt: skip

    before = last_seq(kinds, issuer)
    assert kinds.call("DELETE", "/v1/sharing/state-patrol", admin).json() == {"agency": "state-patrol", "removed": True}
    assert kinds.call("DELETE", "/v1/sharing/state-patrol", admin).json()["rule"] == "unknown_partner"
    refused(search(kinds, issuer, "plate_history", body, "trooper", "state-patrol"), 403, "agency_not_shared")
    records = records_since(kinds, issuer, before)
    assert [(x["action"], x["actor"], x["decision"], x["rule"]) for x in records] == [
        ("sharing.manage", "adm@metro-pd", "allowed", ""),
        ("sharing.manage", "adm@metro-pd", "refused", "unknown_partner"),
        ("search", "trooper@state-patrol", "refused", "agency_not_shared"),
    ]
    assert json.loads(records[2]["detail"])["purpose"] == "stolen vehicle recovery"


def process_body(**more: object) -> dict:
    body = {
        "kind": "warrant",
        "number": "W-200",
        "issuer": "Superior Court",
        "case_number": "CR-200",
        "offence": "burglary",
        "plates": [P3],
        "from": NOW - DAY,
        "to": NOW + HOUR,
        "expires_at": NOW + DAY,
    }
    return {**body, **more}  # fmt: skip


def test_register_a_record_then_search_under_it(kinds: ApiServer, issuer: TokenIssuer) -> None:
    sup = issuer.token("sup-b", roles=["supervisor"])
    before = last_seq(kinds, issuer)
    r = kinds.call("POST", "/v1/process", sup, json=process_body())
    assert r.status_code == 201, r.text
    record = r.json()
    assert (record["registered_by"], record["agency"], record["review_due"]) == ("sup-b@metro-pd", "metro-pd", None)
    assert record["process_id"].startswith("lp-") and P3 not in r.text and len(record["plate_keys"]) == 1
    [audit] = records_since(kinds, issuer, before)
    detail = json.loads(audit["detail"])
    assert (audit["action"], audit["decision"], audit["case_number"], detail["process_id"], detail["offence"]) == (
        "process.register", "allowed", "CR-200", record["process_id"], "burglary"
    )  # fmt: skip
    assert P3 not in audit["detail"]
    got = kinds.call("GET", f"/v1/process/{record['process_id']}", issuer.token(roles=["investigator"]))
    assert got.json() == record
    other = kinds.call("GET", f"/v1/process/{record['process_id']}", issuer.token(agency="county-so"))
    assert other.json()["rule"] == "unknown_process"
    r = search(kinds, issuer, "plate_history", history(process_id=record["process_id"], plates=[P3]))
    assert [x["read_id"] for x in r.json()["rows"]] == ["r4"], r.text


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"offence": "jaywalking"}, "unknown_offence"),
        ({"plates": []}, "empty_scope"),
        ({"from": NOW, "to": NOW - 1}, "invalid_window"),
        ({"expires_at": NOW - 1}, "already_expired"),
        ({"kind": "hunch"}, "invalid_request"),
    ],
)
def test_register_refusals(kinds: ApiServer, issuer: TokenIssuer, change: dict, rule: str) -> None:
    r = kinds.call("POST", "/v1/process", issuer.token("rec", roles=["records"]), json=process_body(**change))
    refused(r, 400, rule)


def test_an_exception_is_reviewed_by_another_supervisor_once(kinds: ApiServer, issuer: TokenIssuer) -> None:
    r = kinds.call("POST", "/v1/process", issuer.token("sup-c", roles=["supervisor"]),
                   json=process_body(kind="emergency"))  # fmt: skip
    mine = r.json()
    assert mine["review_due"] == mine["registered_at"] + 72 * HOUR
    path = f"/v1/process/{mine['process_id']}/review"
    refused(kinds.call("POST", path, issuer.token("sup-c", roles=["supervisor"])), 403, "self_review")
    refused(kinds.call("POST", path, issuer.token("rec", roles=["records"])), 403, "role_lacks_process.review")
    refused(kinds.call("POST", path, issuer.token("sup-x", agency="county-so", roles=["supervisor"])), 404,
            "unknown_process")  # fmt: skip
    done = kinds.call("POST", path, issuer.token("sup-d", roles=["supervisor"]))
    assert done.status_code == 200 and done.json()["reviewed_by"] == "sup-d@metro-pd", done.text
    refused(kinds.call("POST", path, issuer.token("sup-e", roles=["supervisor"])), 409, "already_reviewed")
    refused(kinds.call("POST", f"/v1/process/{IDS.warrant}/review", issuer.token("sup-d", roles=["supervisor"])),
            409, "not_an_exception")  # fmt: skip
    listed = kinds.call("GET", "/v1/process?limit=1000", issuer.token(roles=["auditor"])).json()["records"]
    assert {x["agency"] for x in listed} == {"metro-pd"} and IDS.other not in {x["process_id"] for x in listed}


def test_no_rows_without_their_audit_record(kinds: ApiServer, issuer: TokenIssuer, tmp_path: Path) -> None:
    fault = Path(kinds.env["PLATESTREAM_STORE_FAULT_FILE"])
    fault.write_text("INSERT INTO audit_log")  # the process lookup and the read query work; the audit write fails
    try:
        r = search(kinds, issuer, "plate_history", history())
        assert r.status_code == 503 and "rows" not in r.json() and r.json()["rule"] == "audit_unavailable", r.text
    finally:
        fault.unlink()
    ok = search(kinds, issuer, "plate_history", history())
    assert ok.status_code == 200 and ok.json()["rows"]  # the same search, with its record written, has rows
