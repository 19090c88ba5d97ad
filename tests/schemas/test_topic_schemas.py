"""Every topic's published JSON Schema against real messages: hits and dead letters as the pipeline writes them
(a replay through the embedded core), control events as the signer seals them, reads.json events as cameras and
the project's producers send them. The gateway's own output is checked in tests/gateway/test_gateway_http.py."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from streams.config.settings import load_settings
from streams.ingest.hotlist_events import add_event, clear_event, sync_event
from streams.ingest.verifications import outcome_event, verification_event
from streams.model.access import Principal
from streams.model.disposition import OUTCOMES, REJECTIONS
from streams.run.replay import replay
from tests.gateway import payloads
from tests.integration.helpers import hotlist_csv
from tests.schemas.helpers import TOPIC_SCHEMAS, check, validator
from tests.support.control import control_keys
from tests.support.hotlist import hotlist_entry

ADMIN = Principal("ana", "metro-pd", ("admin",))


def test_every_schema_is_valid_and_every_topic_has_one():
    for topic in TOPIC_SCHEMAS:
        validator(topic)  # check_schema inside


def test_hits_and_dead_letters_of_a_replay(clean_env, tmp_path):
    now = int(time.time() * 1000)
    hot = hotlist_csv(tmp_path / "hot.csv", [{"entry_id": "E1", "plate": "XK3CEFJK", "region": "CA",
                                              "reason": "arrest_warrant", "warrant": "W-1"}])  # fmt: skip
    lines = [
        {"read_id": "r1", "camera_id": "c1", "captured_at": now - 1000, "plate": "XK3CEFJK", "region": "CA",
         "confidence": 95.0},
        payloads.alpr_group(camera=9, plate="XK3CEFJK", epoch_ms=now - 500),
        payloads.heartbeat({9: False}),
        {"read_id": "r2", "camera_id": "c1", "captured_at": now - 900, "plate": "??", "region": "CA"},
    ]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    for x in lines[:3]:
        check("reads.json", x)
    settings = load_settings(chdb_path=tmp_path / "chdb", plate_keys_file=tmp_path / "keys")
    replay([src], settings, tmp_path / "out", hotlist=hot)
    hits = [json.loads(x) for x in (tmp_path / "out" / "hits.jsonl").read_text().splitlines()]
    letters = [json.loads(x) for x in (tmp_path / "out" / "dead_letters.jsonl").read_text().splitlines()]
    assert len(hits) == 2 and len(letters) == 2
    for h in hits:
        check("hits", h)
    for d in letters:
        check("deadletter", {"source": "reads.json", **d})
    with pytest.raises(jsonschema.ValidationError):
        check("hits", {**hits[0], "status": "confirmed"})  # a hit on the topic is never born confirmed


def test_control_events_as_signed(tmp_path):
    _, _, signer = control_keys(tmp_path)
    now = int(time.time() * 1000)
    check("hotlist.events", signer.seal(add_event(hotlist_entry("E1", "7ABC123", now), now), ADMIN))
    check("hotlist.events", signer.seal(clear_event("E1", "recovered", now), ADMIN))
    check("hotlist.events", signer.seal(sync_event("ncic_extract", now), ADMIN))
    confirm = verification_event("h1", now)
    check("verifications", signer.seal(confirm, ADMIN))
    for disposition in REJECTIONS:
        check("verifications", signer.seal(verification_event("h1", now, disposition, note="seen"), ADMIN))
    for outcome in OUTCOMES:
        check("verifications", signer.seal(outcome_event("h1", outcome, now), ADMIN))
    with pytest.raises(jsonschema.ValidationError):
        check("verifications", signer.seal(verification_event("h1", now, "other"), ADMIN))  # `other` needs a note
    with pytest.raises(jsonschema.ValidationError):
        check("verifications", signer.seal({**confirm, "operator": "badge-1"}, ADMIN))
    place = {"op": "place", "hold_id": "hold-1", "requested_by": "DA office", "order_ref": "ORD-1",
             "case_number": "C-1", "reason": "homicide investigation", "plate_keys": [["k1", "9f2c0a1b3d4e5f60"]],
             "read_ids": [], "captured_from": now - 10_000, "captured_to": now, "expires_at": now + 10_000,
             "at": now}  # fmt: skip
    check("holds", signer.seal(place, ADMIN))
    check("holds", signer.seal({"op": "release", "hold_id": "hold-1", "reason": "case closed", "at": now}, ADMIN))
    with pytest.raises(jsonschema.ValidationError):
        check("holds", signer.seal({**place, "plate": "7ABC123"}, ADMIN))  # plates only as keyed hashes
    with pytest.raises(jsonschema.ValidationError):
        check("verifications", json.loads(signer.seal(confirm, ADMIN)) | {"sig": ""})
