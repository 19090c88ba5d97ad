"""The msgspec path of ``decode_json`` against the per-event decoder (``decode_json_each``, the specification) on
random events near every edge it checks: the same rows, in the same order, the same dead letters and details."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.ingest.decode import decode_json, decode_json_each, decode_json_rows
from streams.loadtest.bench.json_path import alpr_groups
from streams.loadtest.generator import reads

T0 = 1_790_000_000_000

text = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.text(min_size=14, max_size=20),  # around the region limit (16)
    st.text(alphabet="AB7", min_size=30, max_size=34),  # around the candidate limit (32)
    st.text(alphabet="x", min_size=62, max_size=66),  # around the id limit (64)
    st.sampled_from(["", "7ABC123", "us-ca", "\ud800"]),
    st.integers(-5, 5),
    st.booleans(),
)
number = st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-(2**63), 2**63), st.booleans(), st.just("9"))
candidate = st.one_of(
    st.fixed_dictionaries({"plate": text}, optional={"confidence": number, "matches_template": st.integers(0, 1)}),
    st.just({"confidence": 1.0}),
    st.just("7ABC123"),
)
candidates = st.one_of(st.none(), st.lists(candidate, max_size=24), st.just("nope"))
best = st.one_of(
    st.none(),
    st.just("7ABC123"),
    st.fixed_dictionaries({}, optional={"plate": text, "region": text, "confidence": number, "candidates": candidates}),
)
group = st.fixed_dictionaries(
    {"data_type": st.just("alpr_group")},
    optional={
        "camera_id": text, "site_id": text, "agent_uid": text, "best_uuid": text,
        "epoch_start": st.one_of(number, st.just(2**62 + 1), st.just(T0)),
        "uuids": st.one_of(st.none(), st.lists(text, max_size=2), st.just("u")),
        "best_plate_number": text, "best_region": text, "best_confidence": number, "best_plate": best,
        "candidates": candidates, "vehicle": st.just({"color": [{"name": "red"}]}),
    },
)  # fmt: skip
own = st.fixed_dictionaries(
    {},
    optional={
        "read_id": text, "camera_id": text, "site_id": text, "captured_at": number, "plate": text, "region": text,
        "confidence": number, "candidates": candidates, "extra": st.just(1), "data_type": st.none(),
    },
)  # fmt: skip
other = st.sampled_from(
    [b"{", b"[]", b"\xff", b'{"data_type": "heartbeat", "camera_id": "c"}', b'{"data_type": "alpr_results"}']
    + [b"x" * 300]
)
event = st.one_of(group.map(lambda d: json.dumps(d).encode()), own.map(lambda d: json.dumps(d).encode()), other)


def rows(t: pa.Table) -> list[dict]:
    """Rows with times as integers (a random time may lie beyond what ``datetime`` can hold)."""
    i = t.schema.get_field_index("captured_at")
    return t.set_column(i, "captured_at", t["captured_at"].cast(pa.int64())).to_pylist()


def same(payloads: list[bytes], max_bytes: int = 200) -> None:
    origins = [f"t/0/{i}" for i in range(len(payloads))]
    got, want = decode_json(payloads, origins, max_bytes), decode_json_each(payloads, origins, max_bytes)
    assert rows(got.reads) == rows(want.reads)
    assert got.reads.schema == want.reads.schema
    assert got.origins == want.origins
    assert [(d.reason, d.detail, d.origin, d.original) for d in got.dead] == [
        (d.reason, d.detail, d.origin, d.original) for d in want.dead
    ]
    assert got.heartbeats.to_pylist() == want.heartbeats.to_pylist()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=12))
def test_fast_path_agrees_with_the_per_event_decoder(payloads: list[bytes]) -> None:
    same(payloads, max_bytes=1 << 20)
    same(payloads, max_bytes=200)  # some events too large


def test_camera_events_take_the_fast_path_and_agree() -> None:
    """The benchmark's realistic alpr_group events: every one becomes a row, equal to the specification's."""
    table = next(reads(7, 0, 1, 2000, 2000, T0, realism=True))
    payloads = [v for _, v in alpr_groups(table)]
    same(payloads, max_bytes=1 << 20)
    decoded, rows_at = decode_json_rows(payloads, [str(i) for i in range(len(payloads))], 1 << 20)
    assert rows_at.tolist() == list(range(len(payloads)))
    assert decoded.reads["read_id"].to_pylist() == table["read_id"].to_pylist()
    assert decoded.reads["candidates"].null_count == 0


def test_rows_keep_event_order_across_both_paths() -> None:
    docs: list[Any] = [
        {"data_type": "alpr_group", "camera_id": 12, "best_uuid": "a", "best_plate_number": "1", "epoch_start": T0},
        {"read_id": "b", "plate": "2", "captured_at": T0},
        {"data_type": "alpr_group", "camera_id": "c", "best_uuid": "c", "best_plate_number": "3", "epoch_start": T0},
    ]
    payloads = [json.dumps(d).encode() for d in docs]
    decoded, rows_at = decode_json_rows(payloads, ["o0", "o1", "o2"], 1 << 20)
    assert decoded.reads["read_id"].to_pylist() == ["a", "b", "c"]  # the first went the slow way (an int camera)
    assert rows_at.tolist() == [0, 1, 2] and decoded.origins == ["o0", "o1", "o2"]
    same(payloads)
