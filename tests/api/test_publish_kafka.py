"""The API's control endpoints on a real broker: each accepted request puts one signed envelope on its topic, keyed
by its id, that verifies with the API's public key and names the caller as its principal; the event names no
operator, no placer and no plate text."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from streams.config.secret_files import load_verifier
from tests.api.helpers import HIT_ID, PLATE, publishing_env, start_api
from tests.support.issuer import TokenIssuer

pytestmark = pytest.mark.integration


def messages(bootstrap: str, topic: str, want: int, timeout: float = 30) -> Iterator[tuple[bytes, bytes]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append((m.key(), m.value()))
    finally:
        c.close()
    return iter(got)


def test_control_endpoints_publish_signed_envelopes_naming_the_caller(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, issuer: TokenIssuer
) -> None:
    env, public = publishing_env(tmp_path, issuer, kafka_bootstrap, topic_prefix)
    api = start_api(env)
    try:
        checks = {"plate_matches_image": True, "region_matches_image": True, "entry_active": True}
        r = api.call("POST", f"/v1/hits/{HIT_ID}/verification", issuer.token("op1", roles=["operator"]),
                     json={"disposition": "confirmed", "checks": checks})  # fmt: skip
        assert (r.status_code, r.json()) == (202, {"hit_id": HIT_ID, "disposition": "confirmed"}), r.text
        hold = {"requested_by": "defence", "order_ref": "ORD-1", "case_number": "CR-1", "reason": "preserve",
                "plates": [PLATE], "days": 30}  # fmt: skip
        r = api.call("POST", "/v1/holds", issuer.token("sup1", "county-so", ["supervisor"]), json=hold)
        assert r.status_code == 202, r.text
        hold_id = r.json()["hold_id"]
        admin = issuer.token("adm1", roles=["admin"])
        entry = {"entry_id": "E42", "plate": PLATE, "region": "CA", "plate_type": "PC", "reason": "stolen_vehicle",
                 "legal_basis_type": "ncic_record", "legal_basis": "NIC-42", "source": "manual",
                 "expires_at": int(time.time() * 1000) + 86_400_000}  # fmt: skip
        assert api.call("POST", "/v1/hotlist/entries", admin, json=entry).status_code == 202
        assert api.call("POST", "/v1/hotlist/entries/E42/clear", admin, json={"reason": "recovered"}).status_code == 202
        assert api.call("POST", "/v1/hotlist/sync", admin, json={"source": "manual"}).status_code == 202
    finally:
        api.stop()

    verifier = load_verifier(public)
    [(key, raw)] = messages(kafka_bootstrap, f"{topic_prefix}verifications", 1)
    opened = verifier.open(raw)
    assert key == HIT_ID.encode() and (opened.principal.subject, opened.principal.agency) == ("op1", "metro-pd")
    assert opened.event["disposition"] == "confirmed" and "operator" not in opened.event

    [(key, raw)] = messages(kafka_bootstrap, f"{topic_prefix}holds", 1)
    opened = verifier.open(raw)
    assert key == hold_id.encode() and opened.principal.actor == "sup1@county-so"
    assert opened.event["op"] == "place" and opened.event["order_ref"] == "ORD-1" and opened.event["plate_keys"]
    assert opened.event["captured_to"] <= opened.event["at"] and PLATE not in raw.decode()

    hotlist = [(k, verifier.open(v)) for k, v in messages(kafka_bootstrap, f"{topic_prefix}hotlist.events", 3)]
    assert [(k, o.event["op"]) for k, o in hotlist] == [(b"E42", "add"), (b"E42", "clear"), (b"sync:manual", "sync")]
    assert {o.principal.actor for _, o in hotlist} == {"adm1@metro-pd"}
    assert hotlist[0][1].event["entry"]["entered_by"] == "adm1@metro-pd"
    assert "by" not in hotlist[1][1].event  # who cleared it is the envelope's principal, nothing else
    tampered = json.loads(raw)
    tampered["event"]["order_ref"] = "ORD-forged"
    with pytest.raises(ValueError, match="signature"):
        verifier.open(json.dumps(tampered).encode())
