"""JSON event decoding: own reads, OpenALPR/Rekor ``alpr_group``, ``heartbeat``, and dead letters for the rest."""

from __future__ import annotations

import base64
import json
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.hotlist import HotList
from streams.core.pipeline import Processor
from streams.ingest.decode import decode_json, merge
from streams.model.hotlist import ENTRY_SCHEMA
from streams.model.read import READ_SCHEMA

T0 = 1_790_000_000_000
BIG = 1 << 20


def one(doc: Any, max_bytes: int = BIG):
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return raw, decode_json([raw], ["src:7"], max_bytes)


ALPR_GROUP: dict[str, Any] = {
    "data_type": "alpr_group",
    "version": 2,
    "epoch_start": T0,
    "epoch_end": T0 + 900,
    "camera_id": 1234,
    "agent_uid": "agent-XYZ",
    "company_id": "c0",
    "best_uuid": "uuid-best",
    "uuids": ["uuid-a", "uuid-best"],
    "best_plate_number": "7ABC123",
    "best_region": "us-ca",
    "best_confidence": 91.2,
    "best_plate": {
        "plate": "7ABC123",
        "confidence": 91.2,
        "region": "us-ca",
        "candidates": [
            {"plate": "7ABC123", "confidence": 91.2, "matches_template": 1},
            {"plate": "7A8C123", "confidence": 80.1, "matches_template": 1},
            {"plate": "7ABC12", "confidence": 70.0, "matches_template": 0},
        ],
    },
    "vehicle": {"color": [{"name": "white", "confidence": 90}]},
}


def test_own_read() -> None:
    doc = {
        "read_id": "r-1",
        "camera_id": "cam-9",
        "site_id": "site-1",
        "captured_at": T0,
        "plate": "7abc 123",
        "region": "CA",
        "confidence": 88.5,
        "candidates": [{"plate": "7abc 123", "confidence": 88.5}, {"plate": "7ABC128", "confidence": 60}],
    }
    _, d = one(doc)
    assert d.dead == [] and d.heartbeats.num_rows == 0 and d.origins == ["src:7"]
    assert d.reads.schema.names == READ_SCHEMA.names
    row = d.reads.to_pylist()[0]
    assert row["read_id"] == "r-1" and row["camera_id"] == "cam-9" and row["site_id"] == "site-1"
    assert d.reads["captured_at"].cast(pa.int64()).to_pylist() == [T0]
    assert row["plate"] == "7abc 123"  # raw text: the pipeline normalises
    assert row["confidence"] == pytest.approx(88.5)
    # the best reading repeated as a candidate is dropped
    assert [(c["plate"], round(c["confidence"])) for c in row["candidates"]] == [("7ABC128", 60)]


def test_own_read_minimal_fields_are_null() -> None:
    _, d = one({"read_id": "r", "camera_id": "c", "captured_at": T0, "plate": "A1"})
    row = d.reads.to_pylist()[0]
    assert row["site_id"] is None and row["region"] is None and row["confidence"] is None
    assert row["candidates"] is None


def test_alpr_group() -> None:
    _, d = one(ALPR_GROUP)
    assert d.dead == [] and d.reads.num_rows == 1
    row = d.reads.to_pylist()[0]
    assert row["read_id"] == "uuid-best"
    assert row["camera_id"] == "1234"  # numeric camera ids become text
    assert row["site_id"] == "agent-XYZ"
    assert d.reads["captured_at"].cast(pa.int64()).to_pylist() == [T0]
    assert row["plate"] == "7ABC123" and row["region"] == "us-ca"
    assert row["confidence"] == pytest.approx(91.2, abs=1e-4)
    assert [c["plate"] for c in row["candidates"]] == ["7A8C123", "7ABC12"]


def test_alpr_group_read_id_falls_back_to_uuids_then_a_stable_hash() -> None:
    doc = {k: v for k, v in ALPR_GROUP.items() if k != "best_uuid"}
    assert one(doc)[1].reads["read_id"].to_pylist() == ["uuid-a"]
    doc.pop("uuids")
    a = one(doc)[1].reads["read_id"].to_pylist()[0]
    assert a == one(doc)[1].reads["read_id"].to_pylist()[0] and len(a) == 32
    other = one({**doc, "camera_id": 99})[1].reads["read_id"].to_pylist()[0]
    assert other != a


def test_alpr_group_fields_from_best_plate() -> None:
    doc = {k: v for k, v in ALPR_GROUP.items() if not k.startswith("best_") or k == "best_plate"}
    row = one(doc)[1].reads.to_pylist()[0]
    assert row["plate"] == "7ABC123" and row["region"] == "us-ca"
    assert row["confidence"] == pytest.approx(91.2, abs=1e-4)
    assert [c["plate"] for c in row["candidates"]] == ["7A8C123", "7ABC12"]


def test_alpr_group_region_is_normalised_in_the_pipeline() -> None:
    entries = pa.Table.from_pylist(
        [
            {
                "entry_id": "E",
                "plate": "7ABC123",
                "region": "CA",
                "reason": "stolen_vehicle",
                "legal_basis": "N1",
                "legal_basis_type": "record_number",
                "valid_from": T0 - 1000,
                "expires_at": T0 + 10**9,
            }
        ],
        schema=ENTRY_SCHEMA,
    )
    res = Processor(HotList.build(entries)).process(one(ALPR_GROUP)[1], T0)
    hits = res.hits.to_pylist()
    assert [(h["match_kind"], h["read_region"], h["read_id"]) for h in hits] == [("exact", "CA", "uuid-best")]


def test_heartbeats_are_never_reads() -> None:
    raws = [
        json.dumps(
            {
                "data_type": "heartbeat",
                "timestamp": T0,
                "agent_uid": "agent-1",
                "video_streams": [{"camera_id": 11}, {"camera_id": "cam-12"}],
            }
        ).encode(),
        json.dumps({"data_type": "heartbeat", "epoch_time": T0 + 5, "camera_id": "cam-13", "site_id": "s"}).encode(),
        json.dumps({"data_type": "heartbeat", "timestamp": T0, "agent_uid": "agent-2"}).encode(),
    ]
    d = decode_json(raws, ["h1", "h2", "h3"], BIG)
    assert d.reads.num_rows == 0 and d.dead == [] and d.origins == []
    assert d.heartbeats.to_pylist()[0]["camera_id"] == "11"
    got = [(r["camera_id"], r["site_id"]) for r in d.heartbeats.to_pylist()]
    assert got == [("11", "agent-1"), ("cam-12", "agent-1"), ("cam-13", "s"), ("agent-2", "agent-2")]
    assert d.heartbeats["seen_at"].cast(pa.int64()).to_pylist() == [T0, T0, T0 + 5, T0]


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "undecodable"),
        (b"{", "undecodable"),
        (b"\xff\xfe\x00garbage", "undecodable"),
        (b'{"read_id": "r", "plate": "\xe9"}', "undecodable"),  # latin-1, not UTF-8
        (b"[1, 2, 3]", "wrong_schema"),
        (b"42", "wrong_schema"),
        (b'"a string"', "wrong_schema"),
        (b"null", "wrong_schema"),
        (b'{"data_type": "alpr_alert", "plate": "X"}', "unknown_event"),
        (b'{"data_type": 7}', "unknown_event"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "A", "speed": 3}', "wrong_schema"),
        (b'{"camera_id": "c", "captured_at": 1, "plate": "A"}', "wrong_schema"),  # no read_id
        (b'{"read_id": "r", "camera_id": "c", "captured_at": "yesterday", "plate": "A"}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": true, "plate": "A"}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1e300, "plate": "A"}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": ["A"]}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": true, "captured_at": 1, "plate": "A"}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "A", "confidence": "high"}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "A", "candidates": "B"}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "A", "candidates": ["B"]}', "wrong_schema"),
        (b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "' + b"A" * 1025 + b'"}', "wrong_schema"),
        (b'{"read_id": "' + b"r" * 65 + b'", "camera_id": "c", "captured_at": 1, "plate": "A"}', "wrong_schema"),
        (b'{"data_type": "alpr_group", "epoch_start": "soon", "best_plate_number": "A"}', "wrong_schema"),
        (b'{"data_type": "alpr_group", "best_plate_number": 1.5}', "wrong_schema"),
        (b'{"data_type": "alpr_group", "best_plate": {"plate": "A", "candidates": [{"plate": null}]}}', "wrong_schema"),
        (b'{"data_type": "heartbeat", "timestamp": "noon"}', "wrong_schema"),
        (b'{"data_type": "heartbeat", "video_streams": [{"camera_id": [1]}]}', "wrong_schema"),
        (b"[" * 100_000, "undecodable"),  # nesting deeper than the parser's recursion limit
    ],
)
def test_bad_events_become_dead_letters_with_original_bytes(raw: bytes, reason: str) -> None:
    d = decode_json([raw], ["src:7"], BIG)
    assert d.reads.num_rows == 0 and d.heartbeats.num_rows == 0
    assert [x.reason for x in d.dead] == [reason]
    assert d.dead[0].original == raw  # exactly the bytes received
    assert d.dead[0].origin == "src:7" and d.dead[0].row is None
    assert base64.b64decode(d.dead[0].to_json()["original_b64"]) == raw


def test_too_large() -> None:
    raw, d = one({"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "A"}, max_bytes=20)
    assert [x.reason for x in d.dead] == ["too_large"] and d.dead[0].original == raw
    assert d.reads.num_rows == 0


def test_dead_letters_keep_order_and_origin_in_a_mixed_batch() -> None:
    raws = [b"nope", json.dumps(ALPR_GROUP).encode(), b"[]", b'{"data_type": "heartbeat", "camera_id": "c"}', b"{"]
    d = decode_json(raws, ["o1", "o2", "o3", "o4", "o5"], BIG)
    assert [(x.reason, x.origin, x.original) for x in d.dead] == [
        ("undecodable", "o1", b"nope"),
        ("wrong_schema", "o3", b"[]"),
        ("undecodable", "o5", b"{"),
    ]
    assert d.origins == ["o2"] and d.reads.num_rows == 1 and d.heartbeats.num_rows == 1


# -- bugs found while testing: each of these inputs makes decode_json raise, losing the whole batch ---------------


def test_integer_literal_longer_than_python_int_limit_is_a_dead_letter() -> None:
    """json.loads raises a plain ValueError (int max str digits, 4300) that decode_json does not catch."""
    raw = b'{"read_id": "r", "camera_id": "c", "captured_at": ' + b"1" * 5000 + b', "plate": "A"}'
    d = decode_json([raw, json.dumps(ALPR_GROUP).encode()], ["o1", "o2"], BIG)
    assert [x.reason for x in d.dead] == ["undecodable"] and d.dead[0].original == raw
    assert d.reads.num_rows == 1


def test_huge_integer_confidence_is_a_dead_letter() -> None:
    """float(10**400) raises OverflowError inside _num()."""
    raw = b'{"read_id": "r", "camera_id": "c", "captured_at": 1, "plate": "A", "confidence": 1' + b"0" * 400 + b"}"
    d = decode_json([raw], ["o1"], BIG)
    assert [x.reason for x in d.dead] == ["wrong_schema"] and d.dead[0].original == raw


def test_lone_surrogate_escape_is_a_dead_letter() -> None:
    """'\\ud800' is valid JSON but not encodable as UTF-8: Arrow raises when the batch's table is built."""
    raw = b'{"read_id": "r\\ud800", "camera_id": "c", "captured_at": 1, "plate": "A"}'
    good = json.dumps(ALPR_GROUP).encode()
    d = decode_json([good, raw], ["o1", "o2"], BIG)
    assert d.reads.num_rows == 1 and d.origins == ["o1"]
    assert [x.reason for x in d.dead] in (["wrong_schema"], ["undecodable"]) and d.dead[0].original == raw


def test_heartbeat_without_usable_streams_is_not_silently_dropped() -> None:
    """A heartbeat whose video_streams holds no objects yields neither a heartbeat row nor a dead letter."""
    raw = b'{"data_type": "heartbeat", "timestamp": 1, "video_streams": [1, "x"]}'
    d = decode_json([raw], ["o1"], BIG)
    assert d.heartbeats.num_rows + len(d.dead) >= 1


# -- fuzz -------------------------------------------------------------------------------------------------------

KEYS = [
    "data_type",
    "read_id",
    "camera_id",
    "site_id",
    "captured_at",
    "plate",
    "region",
    "confidence",
    "candidates",
    "epoch_start",
    "best_uuid",
    "uuids",
    "best_plate_number",
    "best_region",
    "best_confidence",
    "best_plate",
    "agent_uid",
    "timestamp",
    "epoch_time",
    "video_streams",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**309, -(10**400)]),  # beyond float range
    st.floats(allow_nan=True, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["\ud800", "A\udfff1"]),  # lone surrogates: valid JSON escapes
    st.sampled_from(["alpr_group", "heartbeat", "7ABC123", "us-ca", "cam-1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS + ["plate", "confidence"]), inner, max_size=5)
    ),
    max_leaves=6,
)
events = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8),
    st.fixed_dictionaries(
        {"data_type": st.sampled_from(["alpr_group", "heartbeat"])},
        optional={k: json_values for k in KEYS[1:]},
    ),
    st.fixed_dictionaries(
        {
            "read_id": st.text(min_size=1, max_size=8),
            "camera_id": st.text(max_size=8),
            "captured_at": st.integers(0, 2**62),
            "plate": st.text(max_size=14),
        },
        optional={"confidence": scalars, "region": scalars, "candidates": json_values},
    ),
    st.fixed_dictionaries(
        {"data_type": st.just("heartbeat"), "video_streams": st.lists(json_values, max_size=3)},
        optional={"timestamp": scalars, "agent_uid": scalars},
    ),
    json_values,
)


def _outcomes(raw: bytes) -> tuple[int, int, int]:
    d = decode_json([raw], ["o"], BIG)
    return d.reads.num_rows, d.heartbeats.num_rows, len(d.dead)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(events.map(lambda e: json.dumps(e).encode()), st.binary(max_size=60)), max_size=5))
def test_fuzz_every_event_is_a_read_heartbeats_or_a_dead_letter(raws: list[bytes]) -> None:
    origins = [f"o{i}" for i in range(len(raws))]
    d = decode_json(raws, origins, BIG)
    per = [_outcomes(r) for r in raws]
    for reads, beats, dead in per:
        assert (reads, dead) in ((1, 0), (0, 1), (0, 0))
        assert (reads + dead == 1) or beats >= 1  # an event is a read, a dead letter, or >= 1 heartbeat rows
        assert not (beats and (reads or dead))
    # a batch decodes like its events one by one
    assert d.reads.num_rows == sum(p[0] for p in per)
    assert d.heartbeats.num_rows == sum(p[1] for p in per)
    assert len(d.dead) == sum(p[2] for p in per)
    assert len(d.origins) == d.reads.num_rows
    # dead letters carry the exact bytes of their own event
    by_origin = dict(zip(origins, raws, strict=True))
    for x in d.dead:
        assert x.original == by_origin[x.origin]
    assert d.reads.schema.names == READ_SCHEMA.names


def test_merge_keeps_rows_dead_letters_and_origins() -> None:
    a = decode_json([json.dumps(ALPR_GROUP).encode(), b"x"], ["a1", "a2"], BIG)
    b = decode_json([b'{"data_type":"heartbeat","camera_id":"c"}', json.dumps(ALPR_GROUP).encode()], ["b1", "b2"], BIG)
    m = merge([a, b])
    assert m.reads.num_rows == 2 and m.origins == ["a1", "b2"]
    assert [x.origin for x in m.dead] == ["a2"] and m.heartbeats.num_rows == 1
    empty = merge([])
    assert empty.reads.num_rows == 0 and empty.dead == []
