"""Hold events and search requests: valid ones decode, bad ones become a dead letter or a refusal with a reason;
nothing raises anything else, and no message echoes a plate."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.config.access import load_access
from streams.config.secret_files import load_verifier
from streams.ingest.control import ControlGate
from streams.ingest.holds import PlaceHold, ReleaseHold, decode_hold_events, hold_rule_broken
from streams.model.access import Principal
from tests.support.control import control_keys

_, _PUBLIC, SIGNER = control_keys(Path(tempfile.mkdtemp()))
GATE = ControlGate(load_verifier(_PUBLIC), load_access().access())
RECORDS = Principal("rec-1", "metro-pd", ("records",))
PLACE = {
    "op": "place",
    "hold_id": "hold-1",
    "requested_by": "defence counsel",
    "order_ref": "PR-17",
    "case_number": "CR-1",
    "reason": "own location data",
    "plate_keys": [["k1", "00112233445566ff"]],
    "read_ids": [],
    "captured_from": 0,
    "captured_to": 1_000,
    "expires_at": 10_000,
    "at": 5_000,
}
RELEASE = {"op": "release", "hold_id": "hold-1", "reason": "case closed", "at": 6_000}


def decode(*docs: object) -> tuple[list, list]:
    raw = [d if isinstance(d, bytes) else SIGNER.seal(d, RECORDS) for d in docs]  # type: ignore[arg-type]
    events, rejected = decode_hold_events(raw, [f"holds/0/{i}" for i in range(len(raw))], list(range(len(raw))), GATE)
    return events, [r.dead for r in rejected]


def test_place_and_release_decode_in_order_with_their_signed_principal() -> None:
    events, dead = decode(PLACE, RELEASE)
    assert dead == []
    assert [type(e.event) for e in events] == [PlaceHold, ReleaseHold] and [e.offset for e in events] == [0, 1]
    assert [(e.who.principal, e.who.role, e.action) for e in events] == [
        (RECORDS, "records", "holds.place"),
        (RECORDS, "records", "holds.release"),
    ]
    hold = events[0].event.hold(placed_by=RECORDS.actor, agency=RECORDS.agency)
    assert hold.plate_keys == (("k1", 0x00112233445566FF),) and hold.expires_at_ms == 10_000
    assert (hold.placed_by, hold.agency, hold.order_ref) == ("rec-1@metro-pd", "metro-pd", "PR-17")


def test_unsigned_forged_and_unauthorised_holds_are_dead_letters_that_never_quote_the_event() -> None:
    _, _, other = control_keys(Path(tempfile.mkdtemp()))
    raw = [
        json.dumps(PLACE).encode(),
        other.seal(PLACE, RECORDS),
        SIGNER.seal(PLACE, Principal("op", "metro-pd", ("operator",))),
        SIGNER.seal({**RELEASE, "released_by": "clerk"}, RECORDS),  # who released is the principal
        SIGNER.seal({**PLACE, "placed_by": "chief"}, RECORDS),
    ]
    events, rejected = decode_hold_events(raw, [f"o{i}" for i in range(len(raw))], list(range(len(raw))), GATE)
    assert events == []
    assert [r.dead.reason for r in rejected] == [
        "unauthenticated",
        "unauthenticated",
        "forbidden",
        "wrong_schema",
        "wrong_schema",
    ]
    assert not any("defence counsel" in r.dead.detail or "hold-1" in r.dead.detail for r in rejected)
    assert [r.audit_entry(1).actor for r in rejected] == ["anonymous", "anonymous", "op@metro-pd"] + [RECORDS.actor] * 2


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"captured_to": 5_001}, "capture_window_in_future"),
        ({"expires_at": 5_000 + 366 * 86_400_000}, "hold_too_long"),
        ({}, None),
        ({"captured_to": 5_000, "expires_at": 5_000 + 365 * 86_400_000}, None),  # up to placement, the whole max
    ],
)
def test_a_hold_keeps_what_exists_for_a_bounded_time(change: dict, rule: str | None) -> None:
    event = PlaceHold.model_validate({**PLACE, **change})
    broken = hold_rule_broken(event, 365 * 86_400)
    assert (broken[0] if broken else None) == rule


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"plate_keys": [], "read_ids": []}, "a hold covers plates or read ids"),
        ({"captured_to": -1}, "captured_to"),
        ({"captured_from": 2_000}, "captured_to is before captured_from"),
        ({"expires_at": 5_000}, "expire after it is placed"),
        ({"case_number": "  "}, "case_number"),
        ({"reason": None}, "reason"),
        ({"plate_keys": [["k1", "7ABC123"]]}, "plate_keys"),  # plate text instead of a keyed hash
        ({"op": "extend"}, "event"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_holds_are_dead_letters_with_their_reason(change: dict, why: str) -> None:
    doc = {**PLACE, **change}
    events, dead = decode(doc)
    assert events == [] and len(dead) == 1
    assert dead[0].reason == "wrong_schema" and why in dead[0].detail
    assert json.loads(dead[0].original)["event"] == doc and "7ABC123" not in dead[0].detail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.dictionaries(
                st.sampled_from(sorted(PLACE)), st.one_of(st.none(), st.integers(), st.text(max_size=20))
            ).map(lambda d: SIGNER.seal({**PLACE, **d}, RECORDS)),
        ),
        max_size=6,
    )
)
def test_any_bytes_end_as_an_event_or_a_dead_letter(payloads: list[bytes]) -> None:
    n = len(payloads)
    events, rejected = decode_hold_events(payloads, [f"o{i}" for i in range(n)], list(range(n)), GATE)
    assert len(events) + len(rejected) == n
    assert all(r.dead.original in payloads and r.dead.reason in ("unauthenticated", "wrong_schema") for r in rejected)
