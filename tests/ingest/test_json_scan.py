"""The compiled scanner, the first tier of ``decode_json``: it takes the plain ``alpr_group`` events, declines
everything else, and the decoder as a whole still agrees with the per-event decoder (the specification)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.ingest.json_grammar import MAX_DEPTH
from streams.ingest.json_scan import scan_groups
from streams.loadtest.bench.json_path import alpr_groups
from streams.loadtest.generator import reads
from tests.ingest.test_json_columns import T0, same

BIG = 1 << 20
CAMERA = [v for _, v in alpr_groups(next(reads(11, 0, 1, 40, 40, T0, realism=True)))]
BASE = {"data_type": "alpr_group", "camera_id": "c1", "best_uuid": "u1", "best_plate_number": "7ABC123"}


def doc(**fields: object) -> bytes:
    return json.dumps(BASE | {"epoch_start": T0} | fields).encode()


def test_camera_events_are_all_taken() -> None:
    scanned, declined = scan_groups(CAMERA, BIG)
    assert declined.tolist() == []
    assert scanned is not None and scanned.at.tolist() == list(range(len(CAMERA)))
    same(CAMERA, BIG)


TAKEN = {
    "spaces and newlines": b'\n{ "data_type" :\t"alpr_group" ,\r\n "camera_id":"c" , "best_plate_number" : "1A" }\n',
    "best plate null": doc(best_plate=None, candidates=[{"plate": "1AB"}]),
    "empty best plate: the group's candidates": doc(best_plate={}, candidates=[{"plate": "1AB", "confidence": 3}]),
    "best plate candidates null win over the group's": doc(
        best_plate={"plate": "9", "candidates": None}, candidates=[{"plate": "1AB"}]
    ),
    "best plate's candidates": doc(best_plate={"plate": "9", "candidates": [{"plate": "8", "confidence": 1.5}]}),
    "an empty candidate list": doc(candidates=[]),
    "over twenty candidates": doc(candidates=[{"plate": f"P{i}", "confidence": 90 - i} for i in range(25)]),
    "id from uuids, cut to 64": doc(best_uuid=None, uuids=["x" * 70, "y"]),
    "empty and null uuids": doc(best_uuid="", uuids=[]),
    "id from the fields": doc(best_uuid=None, uuids=None),
    "numbers": doc(best_confidence=-0, best_plate={"confidence": 12.5}, epoch_start=-5),
    "nested skipped values": doc(vehicle={"a": [[], {}, [1, {"b": [True, False, None]}]], "c": "d"}, x=-0.25),
    "over the text limits": doc(best_region="r" * 17, camera_id="c" * 65),
}


@pytest.mark.parametrize("payload", TAKEN.values(), ids=TAKEN.keys())
def test_plain_shapes_are_taken_and_agree(payload: bytes) -> None:
    scanned, declined = scan_groups([payload], BIG)
    assert declined.tolist() == [] and scanned is not None
    same([payload], BIG)


DECLINED = {
    "an escape in a value": b'{"data_type":"alpr_group","best_plate_number":"7A\\u0042"}',
    "an escape in a skipped value": b'{"data_type":"alpr_group","note":"a\\"b"}',
    "UTF-8 text": '{"data_type":"alpr_group","best_region":"é"}'.encode(),
    "a wanted key twice": b'{"data_type":"alpr_group","camera_id":"a","camera_id":"b"}',
    "data_type twice": b'{"data_type":"alpr_group","data_type":"alpr_group"}',
    "an exponent": b'{"data_type":"alpr_group","best_confidence":1e2}',
    "a fraction in a time": b'{"data_type":"alpr_group","epoch_start":1.5}',
    "a long integer": b'{"data_type":"alpr_group","epoch_start":1234567890123456789}',
    "a long float": b'{"data_type":"alpr_group","best_confidence":1.23456789012345678901234}',
    "a number as text": b'{"data_type":"alpr_group","camera_id":5}',
    "text as a number": b'{"data_type":"alpr_group","best_confidence":"5"}',
    "a boolean confidence": b'{"data_type":"alpr_group","best_confidence":true}',
    "too deep": b'{"data_type":"alpr_group","v":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
    "bad literal": b'{"data_type":"alpr_group","v":{"a":tru}}',
    "leading zero": b'{"data_type":"alpr_group","v":01}',
    "bare point": b'{"data_type":"alpr_group","v":1.}',
    "bare minus": b'{"data_type":"alpr_group","v":-}',
    "trailing comma in an array": b'{"data_type":"alpr_group","v":[1,]}',
    "trailing comma in an object": b'{"data_type":"alpr_group","v":1,}',
    "a control byte": b'{"data_type":"alpr_group","v":"a\tb"}',
    "unterminated": b'{"data_type":"alpr_group","v":"ab',
    "garbage after": b'{"data_type":"alpr_group"} x',
    "two documents": b'{"data_type":"alpr_group"}{}',
    "no data_type": b'{"camera_id":"c"}',
    "another data_type": b'{"data_type":"alpr_groups"}',
    "a heartbeat": b'{"data_type":"heartbeat","camera_id":"c"}',
    "not an object": b'["alpr_group"]',
    "candidates as text": b'{"data_type":"alpr_group","candidates":"7A"}',
    "a candidate without a plate": b'{"data_type":"alpr_group","candidates":[{"confidence":1}]}',
    "a null candidate plate": b'{"data_type":"alpr_group","candidates":[{"plate":null}]}',
    "a candidate plate twice": b'{"data_type":"alpr_group","candidates":[{"plate":"a","plate":"b"}]}',
    "best plate as text": b'{"data_type":"alpr_group","best_plate":"7A"}',
    "a number in uuids": b'{"data_type":"alpr_group","uuids":["a",1]}',
    "missing colon": b'{"data_type" "alpr_group"}',
    "empty": b"",
}


@pytest.mark.parametrize("payload", DECLINED.values(), ids=DECLINED.keys())
def test_other_shapes_are_declined_and_still_agree(payload: bytes) -> None:
    scanned, declined = scan_groups([payload], BIG)
    assert declined.tolist() == [0] and scanned is None
    same([payload], BIG)


def test_declined_events_between_taken_ones_keep_their_places() -> None:
    payloads = [CAMERA[0], DECLINED["an escape in a value"], CAMERA[1], b"{", CAMERA[2]]
    scanned, declined = scan_groups(payloads, BIG)
    assert declined.tolist() == [1, 3] and scanned is not None and scanned.at.tolist() == [0, 2, 4]
    same(payloads, BIG)
    scanned, declined = scan_groups(payloads, len(CAMERA[1]) - 1)  # over the size limit: declined, not scanned
    assert 2 in declined.tolist()


edit = st.tuples(st.integers(0, 2000), st.sampled_from(list(b'{}[]":,.-+0123456789eEtfnul \\x')), st.integers(0, 2))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(CAMERA) - 1), st.lists(edit, min_size=1, max_size=3))
def test_damaged_camera_events_agree(which: int, edits: list[tuple[int, int, int]]) -> None:
    """A camera event with a byte or three replaced, inserted or deleted anywhere, the skipped fields included:
    whatever it has become (a read, another read, a dead letter), the decoder says what the specification says."""
    payload = bytearray(CAMERA[which])
    for at, byte, how in edits:
        at %= len(payload) + 1
        if how == 0:
            payload[at : at + 1] = bytes([byte])
        elif how == 1:
            payload[at:at] = bytes([byte])
        else:
            del payload[at : at + 1]
    same([CAMERA[(which + 1) % len(CAMERA)], bytes(payload)], BIG)
