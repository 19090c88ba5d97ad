"""Camera bodies into reads.json events, without a broker: images stripped, units converted, refusals with reasons
that name no plate. Expectations are written from the vendors' documented fields, not from the decoder."""

from __future__ import annotations

import json
import time

import pytest

from streams.core import aggregate
from streams.gateway.formats import Refusal, openalpr_events, platerecognizer_events
from streams.ingest.decode import area_code, decode_json, strip_images
from streams.model import deadletter as dl
from tests.gateway import payloads

MAX = 4 * 1024 * 1024


def test_alpr_group_is_forwarded_without_images():
    doc = payloads.alpr_group(camera=77)
    body = json.dumps(doc).encode()
    assert len(body) > 1_500_000  # a real-sized group with crops
    [event] = openalpr_events(body, MAX)
    assert event.cameras == ("77",) and event.key == "77"
    assert len(event.value) < 5_000 and b"_jpeg" not in event.value and payloads.CROP[:64].encode() not in event.value
    forwarded = json.loads(event.value)
    assert forwarded["best_plate_number"] == payloads.PLATE and forwarded["epoch_start"] == doc["epoch_start"]


def test_plate_recognizer_results_become_own_reads():
    doc = payloads.plate_recognizer_snapshot(camera="gate-2", plate="nhk552")
    [event] = platerecognizer_events(json.dumps(doc).encode(), "application/json", MAX)
    read = json.loads(event.value)
    assert read["camera_id"] == "gate-2" and event.key == "gate-2"
    assert read["plate"] == "nhk552" and read["region"] == "us-ca"
    assert read["confidence"] == pytest.approx(90.4)
    assert read["candidates"] == [{"plate": "nhk55z", "confidence": pytest.approx(75.1)}]
    assert abs(read["captured_at"] / 1000 - time.time()) < 60  # UTC without offset read as UTC


def test_plate_recognizer_multipart_ignores_the_image():
    body, ctype = payloads.multipart(payloads.plate_recognizer_stream(camera="camera-1", plate="9jub11"))
    [event] = platerecognizer_events(body, ctype, MAX)
    read = json.loads(event.value)
    assert read["plate"] == "9jub11" and read["region"] == "gb" and read["confidence"] == pytest.approx(83.9)
    assert read["candidates"] == [{"plate": "sju88y", "confidence": 0.0}, {"plate": "sjubi", "confidence": 0.0}]
    assert b"\xff\xd8" not in event.value


def test_a_webhook_without_plates_is_no_event():
    doc = payloads.plate_recognizer_snapshot()
    doc["data"]["results"] = []
    assert platerecognizer_events(json.dumps(doc).encode(), "application/json", MAX) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", dl.UNDECODABLE),
        (b"[1, 2]", dl.WRONG_SCHEMA),
        (json.dumps({"data_type": "alpr_group", "camera_id": 5, "best_plate_number": ["x"]}).encode(), dl.WRONG_SCHEMA),
        (json.dumps({"data_type": "parking_event", "camera_id": 5}).encode(), dl.UNKNOWN_EVENT),
    ],
)
def test_bad_agent_bodies_are_refused_with_a_reason(body, reason):
    with pytest.raises(Refusal) as info:
        openalpr_events(body, MAX)
    assert info.value.reason == reason


def test_refusals_never_name_the_plate_and_keep_no_image():
    doc = payloads.plate_recognizer_stream(plate="SECRET1")
    doc["data"]["results"][0]["score"] = 7  # not 0-1
    doc["data"]["results"][0]["plate_crop_jpeg"] = payloads.CROP[:1000]
    with pytest.raises(Refusal) as info:
        platerecognizer_events(json.dumps(doc).encode(), "application/json", MAX)
    assert info.value.reason == dl.BAD_CONFIDENCE and "SECRET1" not in info.value.detail
    assert b"_jpeg" not in info.value.original

    doc = payloads.plate_recognizer_stream()
    del doc["data"]["camera_id"]
    with pytest.raises(Refusal) as info:
        platerecognizer_events(json.dumps(doc).encode(), "application/json", MAX)
    assert info.value.reason == dl.MISSING_CAMERA


def test_per_frame_results_are_dead_letters_without_their_images():
    raw = json.dumps(payloads.alpr_results()).encode()
    decoded = decode_json([raw], ["t/0/1"], MAX)
    [letter] = decoded.dead
    assert letter.reason == dl.UNKNOWN_EVENT and "upload_single_plates" in letter.detail
    assert b"_jpeg" not in letter.original and payloads.CROP[:64].encode() not in letter.original
    assert json.loads(letter.original)["camera_id"] == 1234


def test_heartbeat_streaming_false_counts_as_down_with_only_coarse_area():
    raw = json.dumps(payloads.heartbeat({1: True, 2: False, 3: True})).encode()
    decoded = decode_json([raw], ["t/0/1"], MAX)
    health = {r["camera_id"]: r for r in aggregate.camera_health(decoded.heartbeats, 3_600_000).to_pylist()}
    assert {c: (r["heartbeats"], r["down_heartbeats"]) for c, r in health.items()} == {
        "1": (1, 0),
        "2": (0, 1),
        "3": (1, 0),
    }
    for r in health.values():
        assert r["area"] == "37.6,-122.5"  # one 0.1-degree cell: no coordinate survives
    assert area_code(0, 0) is None and area_code("37", 1) is None and area_code(95, 0) is None
    assert area_code(-33.8688, 151.2093) == "-33.9,151.2"


def test_strip_images_at_any_depth():
    doc, removed = strip_images({"a_jpeg": "x", "b": [{"c_jpeg": "y", "d": 1}], "e": {"f": {"g_jpeg": "z"}}})
    assert removed == 3 and doc == {"b": [{"d": 1}], "e": {"f": {}}}
