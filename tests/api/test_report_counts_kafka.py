"""A disposition and an outcome posted through the API reach a running worker over the real broker and are counted
in its verification_counts and outcome_counts exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.store.clickhouse import open_store
from tests.api.helpers import HIT_ID, PLATE_KEYS, publishing_env, seed, start_api
from tests.integration.helpers import lag, start_worker, stop_worker, wait_for
from tests.support.issuer import TokenIssuer

pytestmark = pytest.mark.integration
CHECKS = {"plate_matches_image": True, "region_matches_image": True, "entry_active": True}


def test_a_verification_and_an_outcome_through_the_api_are_counted_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, issuer: TokenIssuer, worker_env: dict[str, str]
) -> None:
    env, public = publishing_env(tmp_path, issuer, kafka_bootstrap, topic_prefix)
    worker_chdb = tmp_path / "worker" / "chdb"
    seed(worker_chdb)  # the worker's own store has the hit too
    worker = start_worker(
        dict(worker_env, PLATESTREAM_CHDB_PATH=str(worker_chdb), PLATESTREAM_PARTITIONS="1",
             PLATESTREAM_CONTROL_KEYS_FILE=str(public), PLATESTREAM_PLATE_KEYS=PLATE_KEYS)
    )  # fmt: skip
    api = start_api(env)
    try:
        r = api.call("POST", f"/v1/hits/{HIT_ID}/verification", issuer.token("op1", roles=["operator"]),
                     json={"disposition": "confirmed", "checks": CHECKS})  # fmt: skip
        assert r.status_code == 202, r.text
        r = api.call("POST", f"/v1/hits/{HIT_ID}/outcome", issuer.token("sup1", roles=["supervisor"]),
                     json={"outcome": "arrest"})  # fmt: skip
        assert r.status_code == 202, r.text
        group, topic = f"{topic_prefix}worker-control", f"{topic_prefix}verifications"
        wait_for(lambda: lag(kafka_bootstrap, group, topic) == 0, 90, "both events acknowledged by the worker")
    finally:
        api.stop()
        stop_worker(worker)
    store = open_store(None, worker_chdb)
    try:
        verified = store.query_arrow(
            "SELECT camera_id, reason, match_kind, disposition, sum(verifications) AS n FROM verification_counts "
            "GROUP BY ALL"
        ).to_pylist()
        outcomes = store.query_arrow(
            "SELECT camera_id, reason, match_kind, outcome, sum(outcomes) AS n FROM outcome_counts GROUP BY ALL"
        ).to_pylist()
    finally:
        store.close()
    hit = {"camera_id": "cam-1", "reason": "stolen_vehicle", "match_kind": "exact"}
    assert verified == [{**hit, "disposition": "confirmed", "n": 1}]
    assert outcomes == [{**hit, "outcome": "arrest", "n": 1}]
