"""Hold events and search requests: valid ones decode, bad ones become a dead letter or a refusal with a reason;
nothing raises anything else, and no message echoes a plate."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.ingest.holds import PlaceHold, ReleaseHold, decode_hold_events
from streams.ingest.search import search_request
from streams.model.search import SearchRefused

PLACE = {
    "op": "place",
    "hold_id": "hold-1",
    "requested_by": "defence counsel",
    "case_number": "CR-1",
    "reason": "own location data",
    "plate_keys": [["k1", "00112233445566ff"]],
    "read_ids": [],
    "captured_from": 0,
    "captured_to": 1_000,
    "expires_at": 10_000,
    "at": 5_000,
}
RELEASE = {"op": "release", "hold_id": "hold-1", "released_by": "clerk", "reason": "case closed", "at": 6_000}


def decode(*docs: object) -> tuple[list, list]:
    raw = [d if isinstance(d, bytes) else json.dumps(d).encode() for d in docs]
    return decode_hold_events(raw, [f"holds/0/{i}" for i in range(len(raw))], list(range(len(raw))))


def test_place_and_release_decode_in_order() -> None:
    events, dead = decode(PLACE, RELEASE)
    assert dead == []
    assert [type(e.event) for e in events] == [PlaceHold, ReleaseHold] and [e.offset for e in events] == [0, 1]
    hold = events[0].event.hold()
    assert hold.plate_keys == (("k1", 0x00112233445566FF),) and hold.expires_at_ms == 10_000


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
    assert dead[0].original == json.dumps(doc).encode() and "7ABC123" not in dead[0].detail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.dictionaries(
                st.sampled_from(sorted(PLACE)), st.one_of(st.none(), st.integers(), st.text(max_size=20))
            ).map(lambda d: json.dumps({**PLACE, **d}).encode()),
        ),
        max_size=6,
    )
)
def test_any_bytes_end_as_an_event_or_a_dead_letter(payloads: list[bytes]) -> None:
    events, dead = decode_hold_events(payloads, [f"o{i}" for i in range(len(payloads))], list(range(len(payloads))))
    assert len(events) + len(dead) == len(payloads)
    assert all(d.original in payloads and d.reason in ("undecodable", "wrong_schema") for d in dead)


def test_search_requests_need_a_reason_take_no_actor_and_never_echo_plates() -> None:
    ok = search_request(json.dumps({"reason": "r", "plates": ["7ABC123"], "from": 1}).encode())
    assert ok.plates == ("7ABC123",) and ok.captured_from_ms == 1 and ok.captured_to_ms == 2**62
    # who asks is the verified principal: a body that names an actor is refused, not believed
    with_actor = {"actor": "chief", "reason": "r", "plates": ["7ABC123"]}
    for body in (b"", b"[]", b"{", json.dumps({"plates": ["7ABC123"]}).encode(), json.dumps(with_actor).encode()):
        with pytest.raises(SearchRefused) as refused:
            search_request(body)
        assert "7ABC123" not in str(refused.value)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=100),
        st.dictionaries(st.text(max_size=8), st.text(max_size=8)).map(lambda d: json.dumps(d).encode()),
    )
)
def test_any_search_body_is_a_request_or_a_refusal(body: bytes) -> None:
    try:
        search_request(body)
    except SearchRefused:
        pass
