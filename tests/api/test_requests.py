"""What the API refuses in a request, and its safe defaults, through the real server: holds that would watch the
future or last too long, identity fields in a body, the rate limit, the body cap, an unreachable broker, keys from
a JWKS URL, no authentication configured, and no start off loopback without authentication."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.store.clickhouse import open_store
from tests.api.helpers import (
    CLI,
    DOUBTFUL_HIT_ID,
    HIT_ID,
    PLATE,
    PROCESS_ID,
    ApiServer,
    base_env,
    last_seq,
    records_since,
    start_api,
)
from tests.support.control import control_keys
from tests.support.issuer import TokenIssuer

HOLD = {"requested_by": "defence", "order_ref": "ORD-7", "case_number": "CR-7", "reason": "defence request",
        "plates": [PLATE]}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"to": int(time.time() * 1000) + 30 * 86_400_000, "days": 30}, "capture_window_in_future"),
        ({"days": 366}, "hold_too_long"),  # the default policy's hold_max: 365 days
    ],
)
def test_a_hold_on_the_future_or_too_long_is_400_with_its_rule(api: ApiServer, issuer: TokenIssuer, change, rule):
    before = last_seq(api, issuer)
    r = api.call("POST", "/v1/holds", issuer.token("sup", roles=["supervisor"]), json={**HOLD, **change})
    assert r.status_code == 400 and r.json()["rule"] == rule, r.text
    [record] = records_since(api, issuer, before)
    assert (record["action"], record["decision"], record["rule"], record["actor"]) == (
        "holds.place", "refused", rule, "sup@metro-pd"
    )  # fmt: skip
    assert PLATE not in record["detail"] and '"plate_keys":["k1:' in record["detail"]


@pytest.mark.parametrize(
    ("path", "roles", "body"),
    [
        (
            "/v1/search/plate_history",
            ["investigator"],
            {"process_id": PROCESS_ID, "reason": "x", "plates": [PLATE], "from": 0, "to": 1, "actor": "chief@hq"},
        ),
        (
            "/v1/hits/" + HIT_ID + "/verification",
            ["operator"],
            {"disposition": "misread", "operator": "badge-1"},
        ),  # fmt: skip
        ("/v1/hotlist/entries/E1/clear", ["admin"], {"reason": "recovered", "by": "someone-else"}),
    ],
)
def test_a_body_naming_who_acts_is_refused(api: ApiServer, issuer: TokenIssuer, path, roles, body) -> None:
    before = last_seq(api, issuer)
    r = api.call("POST", path, issuer.token("eve", roles=roles), json=body)
    assert r.status_code == 400 and r.json()["rule"] == "identity_in_body", r.text
    assert not {"rows", "hits"} & set(r.json())
    [record] = records_since(api, issuer, before)
    assert (record["actor"], record["decision"], record["rule"]) == ("eve@metro-pd", "refused", "identity_in_body")


def test_validation_errors_name_fields_never_values(api: ApiServer, issuer: TokenIssuer) -> None:
    long_plate = "7ABC123" * 10
    body = {"process_id": PROCESS_ID, "reason": "x", "plates": [long_plate], "from": 0, "to": 1}
    r = api.call("POST", "/v1/search/plate_history", issuer.token(), json=body)
    assert r.status_code == 400 and r.json()["rule"] == "invalid_request" and "plates" in r.json()["error"]
    assert "7ABC123" not in r.text
    r = api.call("POST", "/v1/hits/no-such-hit/verification", issuer.token(roles=["operator"]),
                 json={"disposition": "misread"})  # fmt: skip
    assert (r.status_code, r.json()["rule"]) == (404, "unknown_hit")
    r = api.call("POST", f"/v1/hits/{HIT_ID}/verification", issuer.token(roles=["operator"]),
                 json={"disposition": "confirmed", "checks": {"plate_matches_image": True}})  # fmt: skip
    assert (r.status_code, r.json()["rule"]) == (400, "invalid_verification")
    every = {"plate_matches_image": True, "region_matches_image": True, "entry_active": True}
    r = api.call("POST", f"/v1/hits/{DOUBTFUL_HIT_ID}/verification", issuer.token(roles=["operator"]),
                 json={"disposition": "confirmed", "checks": every})  # fmt: skip
    assert (r.status_code, r.json()["rule"]) == (400, "character_check_required")
    r = api.call("POST", "/v1/hotlist/entries", issuer.token(roles=["admin"]), json={"entry_id": "E", "plate": "!!"})
    assert r.status_code == 400 and "!!" not in r.text


def test_search_returns_rows_and_records_plates_as_keyed_hashes(api: ApiServer, issuer: TokenIssuer) -> None:
    before = last_seq(api, issuer)
    now = int(time.time() * 1000)
    body = {"process_id": PROCESS_ID, "reason": "case", "plates": [PLATE.lower()], "from": now - 3_600_000, "to": now}
    r = api.call("POST", "/v1/search/plate_history", issuer.token("ivy"), json=body)
    assert r.status_code == 200 and sorted(x["read_id"] for x in r.json()["rows"]) == ["r1", "r2"]
    [record] = records_since(api, issuer, before)
    assert (record["decision"], record["rows"], record["case_number"], record["role"]) == (
        "allowed", 2, "CR-1", "investigator"
    )  # fmt: skip
    assert PLATE not in record["detail"]


@pytest.fixture(scope="module")
def limited(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A second server: keys from the issuer's JWKS URL, 5 requests a minute, a 2 KiB body cap, a signing key
    and a broker address where nothing listens."""
    tmp = tmp_path_factory.mktemp("limited")
    private, _, _ = control_keys(tmp)
    with issuer.serve() as url:
        env = base_env(
            tmp,
            issuer,
            PLATESTREAM_AUTH_JWKS=f"{url}/jwks.json",
            PLATESTREAM_API_RATE_PER_MINUTE="5",
            PLATESTREAM_API_MAX_BODY_BYTES="2048",
            PLATESTREAM_CONTROL_SIGNING_KEY_FILE=str(private),
        )
        server = start_api(env)
        yield server
        server.stop()


def test_keys_from_a_jwks_url(limited: ApiServer, issuer: TokenIssuer) -> None:
    assert limited.call("GET", "/v1/hits", issuer.token("url-1")).status_code == 200
    assert limited.call("GET", "/v1/hits", issuer.token("url-2", forged=True)).json()["rule"] == "bad_signature"
    assert limited.call("GET", "/readyz").json() == {"status": "ready"}


def test_429_beyond_the_rate_per_principal(limited: ApiServer, issuer: TokenIssuer) -> None:
    token = issuer.token("busy")
    statuses = [limited.call("GET", "/v1/hits?limit=1", token).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    assert limited.call("GET", "/v1/hits?limit=1", issuer.token("calm")).status_code == 200  # per principal
    records = limited.call("GET", "/v1/audit?limit=50&action=hits.read", issuer.token("aud", roles=["auditor"]))
    busy = [x for x in records.json()["records"] if x["actor"] == "busy@metro-pd"]
    assert sorted((x["decision"], x["rule"]) for x in busy) == [("allowed", "")] * 5 + [("refused", "rate_limited")] * 2


def test_413_over_the_body_cap_by_header_and_by_bytes(limited: ApiServer, issuer: TokenIssuer) -> None:
    body = b'{"reason": "x", "read_ids": ["' + b"r" * 4000 + b'"]}'
    r = limited.call("POST", "/v1/search/plate_history", issuer.token("big-1"), content=body,
                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert (r.status_code, r.json()["rule"]) == (413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts the bytes read
        yield body[:1000]
        yield body[1000:]

    r = limited.call("POST", "/v1/search/plate_history", issuer.token("big-2"), content=chunks(),
                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert (r.status_code, r.json()["rule"]) == (413, "body_too_large")
    records = limited.call("GET", "/v1/audit?limit=50&action=search", issuer.token("aud2", roles=["auditor"]))
    big = {x["actor"]: (x["decision"], x["rule"]) for x in records.json()["records"] if x["actor"].startswith("big")}
    assert big == {}  # refused before any token was read: the records are anonymous
    anonymous = [x for x in records.json()["records"] if x["actor"] == "anonymous" and x["rule"] == "body_too_large"]
    assert len(anonymous) == 2


def test_a_broker_that_does_not_answer_is_503_and_audited_failed(limited: ApiServer, issuer: TokenIssuer) -> None:
    r = limited.call("POST", "/v1/hotlist/sync", issuer.token("adm", roles=["admin"]), json={"source": "ncic"})
    assert r.status_code == 503 and r.json()["rule"] == "broker_unavailable"
    assert "PLATESTREAM_KAFKA_BOOTSTRAP" in r.json()["error"]
    records = limited.call("GET", "/v1/audit?limit=5&action=hotlist.sync", issuer.token("aud3", roles=["auditor"]))
    [record] = records.json()["records"]
    assert (record["actor"], record["decision"], record["rule"], record["role"]) == (
        "adm@metro-pd", "failed", "broker_unavailable", "admin"
    )  # fmt: skip


def test_without_auth_configured_every_protected_request_is_401(tmp_path: Path, issuer: TokenIssuer) -> None:
    server = start_api(base_env(tmp_path, None))
    try:
        r = server.call("GET", "/v1/hits", issuer.token())
        assert (r.status_code, r.json()["rule"]) == (401, "auth_not_configured")
        assert server.call("GET", "/livez").status_code == 200
    finally:
        server.stop()
    store = open_store(None, tmp_path / "chdb")
    try:
        rows = store.query_arrow("SELECT actor, action, decision, rule FROM audit_log").to_pylist()
    finally:
        store.close()
    assert rows == [{"actor": "anonymous", "action": "hits.read", "decision": "refused", "rule": "auth_not_configured"}]


def test_refuses_to_start_off_loopback_without_auth(tmp_path: Path) -> None:
    env = base_env(tmp_path, None)
    done = subprocess.run([*CLI, "api", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0 without authentication" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
