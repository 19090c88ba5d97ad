"""Arrow IPC batch decoding: round trips, schema checks, dead letters, and fuzzing with broken payloads."""

from __future__ import annotations

import random
import struct

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.hotlist import HotList
from streams.core.pipeline import Processor
from streams.ingest.decode import REQUIRED, conform, decode_arrow, encode_arrow
from streams.loadtest.synth import Synth, SynthConfig
from streams.model.read import CANDIDATE_TYPE, READ_SCHEMA

T0 = 1_790_000_000_000
BIG = 1 << 24


def synth_batch(n: int = 50, seed: int = 5) -> pa.Table:
    return Synth(SynthConfig(seed=seed, vehicles=500, cameras=6)).batch(n)


def minimal(n: int = 3) -> pa.Table:
    return pa.table(
        {
            "read_id": [f"r{i}" for i in range(n)],
            "camera_id": ["cam"] * n,
            "captured_at": pa.array([T0 + i for i in range(n)], pa.int64()),
            "plate": ["7ABC123"] * n,
        }
    )


@pytest.mark.parametrize("compression", ["zstd", "lz4", None])
def test_round_trip(compression: str | None) -> None:
    t = synth_batch()
    payload = encode_arrow(t, compression)
    d = decode_arrow(payload, "topic/0/42", BIG)
    assert d.dead == [] and d.heartbeats.num_rows == 0
    assert d.origins == ["topic/0/42"] * t.num_rows
    assert d.reads.schema.names == READ_SCHEMA.names
    assert d.reads.cast(READ_SCHEMA).equals(t)
    assert d.reads.to_pylist() == t.to_pylist()


def test_zstd_compresses() -> None:
    t = synth_batch(2000)
    assert len(encode_arrow(t)) < len(encode_arrow(t, None))


def test_several_record_batches_in_one_message() -> None:
    t = pa.concat_tables([synth_batch(10, 1), synth_batch(7, 2)])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        for b in t.to_batches(max_chunksize=4):
            w.write_batch(b)
    d = decode_arrow(sink.getvalue().to_pybytes(), "o", BIG)
    assert d.reads.num_rows == t.num_rows and d.dead == []
    assert d.reads["read_id"].to_pylist() == t["read_id"].to_pylist()


def test_required_columns_only_and_castable_types() -> None:
    t = minimal()
    d = decode_arrow(encode_arrow(t), "o", BIG)
    assert d.dead == []
    assert d.reads["captured_at"].type == pa.timestamp("ms", tz="UTC")
    assert d.reads["captured_at"].cast(pa.int64()).to_pylist() == [T0, T0 + 1, T0 + 2]
    for name in ("site_id", "region", "confidence", "candidates"):
        assert d.reads[name].null_count == 3
    # columns in another order, float64 confidence, large strings: all brought onto READ_SCHEMA
    t2 = pa.table(
        {
            "confidence": pa.array([1.5, 2.5, 3.5], pa.float64()),
            "plate": pa.array(["A", "B", "C"], pa.large_string()),
            "camera_id": ["c"] * 3,
            "captured_at": pa.array([T0] * 3, pa.timestamp("ms", tz="UTC")),
            "read_id": ["x", "y", "z"],
        }
    )
    d2 = decode_arrow(encode_arrow(t2), "o", BIG)
    assert d2.dead == [] and d2.reads.schema.names == READ_SCHEMA.names
    assert d2.reads["confidence"].type == pa.float32()
    assert d2.reads["plate"].to_pylist() == ["A", "B", "C"]


def test_empty_stream_is_zero_reads() -> None:
    d = decode_arrow(encode_arrow(minimal(0)), "o", BIG)
    assert d.reads.num_rows == 0 and d.dead == []


@pytest.mark.parametrize(
    "payload",
    [b"", b"garbage", b"\xff" * 64, b"ARROW1\x00\x00garbage", bytes(range(256))],
)
def test_garbage_is_undecodable(payload: bytes) -> None:
    d = decode_arrow(payload, "topic/1/9", BIG)
    assert [x.reason for x in d.dead] == ["undecodable"]
    assert d.dead[0].original == payload and d.dead[0].origin == "topic/1/9"
    assert d.reads.num_rows == 0 and d.origins == []


def test_truncated_payload_is_undecodable() -> None:
    payload = encode_arrow(synth_batch())
    d = decode_arrow(payload[: len(payload) // 2], "o", BIG)
    assert [x.reason for x in d.dead] == ["undecodable"]


@pytest.mark.parametrize("column", REQUIRED)
def test_missing_required_column_is_wrong_schema(column: str) -> None:
    payload = encode_arrow(synth_batch().drop_columns([column]))
    d = decode_arrow(payload, "o", BIG)
    assert [x.reason for x in d.dead] == ["wrong_schema"]
    assert column in d.dead[0].detail
    assert d.dead[0].original == payload and d.reads.num_rows == 0


def test_required_columns_are_the_schema_required_fields() -> None:
    assert set(REQUIRED) == {"read_id", "camera_id", "captured_at", "plate"}


def test_extra_column_is_wrong_schema() -> None:
    t = synth_batch()
    payload = encode_arrow(t.append_column("speed_kmh", pa.array(np.zeros(t.num_rows))))
    d = decode_arrow(payload, "o", BIG)
    assert [x.reason for x in d.dead] == ["wrong_schema"] and "speed_kmh" in d.dead[0].detail
    assert d.dead[0].original == payload


@pytest.mark.parametrize(
    "column, values",
    [
        ("plate", pa.array([[1], [2], [3]])),
        ("captured_at", pa.array(["soon", "later", "never"])),
        ("confidence", pa.array(["high", "low", "mid"])),
        ("candidates", pa.array(["A", "B", "C"])),
    ],
)
def test_uncastable_column_is_wrong_schema(column: str, values: pa.Array) -> None:
    t = minimal()
    t = (
        t.set_column(t.schema.get_field_index(column), column, values)
        if column in t.column_names
        else t.append_column(column, values)
    )
    payload = encode_arrow(t)
    d = decode_arrow(payload, "o", BIG)
    assert [x.reason for x in d.dead] == ["wrong_schema"] and d.dead[0].original == payload


def test_too_large() -> None:
    payload = encode_arrow(synth_batch())
    d = decode_arrow(payload, "o", len(payload) - 1)
    assert [x.reason for x in d.dead] == ["too_large"] and d.dead[0].original == payload
    assert decode_arrow(payload, "o", len(payload)).dead == []


def test_conform_rejects_like_decode() -> None:
    with pytest.raises(Exception, match="missing required"):
        conform(minimal().drop_columns(["plate"]))
    assert conform(minimal()).num_rows == 3


# -- bugs found while testing: these payloads make decode_arrow raise or let invalid data through -------------------


def test_candidate_struct_with_other_field_names_is_wrong_schema() -> None:
    """Casting list<struct<plate, confvdence>> raises ArrowTypeError, which conform() does not catch."""
    bad_type = pa.list_(pa.struct([("plate", pa.string()), ("confvdence", pa.float32())]))
    t = minimal().append_column("candidates", pa.array([[{"plate": "A", "confvdence": 1.0}]] * 3, bad_type))
    payload = encode_arrow(t)
    d = decode_arrow(payload, "o", BIG)
    assert [x.reason for x in d.dead] == ["wrong_schema"] and d.dead[0].original == payload


def test_duplicate_column_is_wrong_schema() -> None:
    """table['plate'] raises KeyError when the name appears twice."""
    t = minimal()
    t = pa.Table.from_arrays([*t.columns, t["plate"]], names=[*t.column_names, "plate"])
    payload = encode_arrow(t)
    d = decode_arrow(payload, "o", BIG)
    assert [x.reason for x in d.dead] == ["wrong_schema"] and d.dead[0].original == payload


def test_column_name_that_is_not_utf8_is_a_dead_letter() -> None:
    """Reading table.column_names raises UnicodeDecodeError."""
    t = minimal().append_column("zzzzqq", pa.array([1, 2, 3]))
    payload = encode_arrow(t).replace(b"zzzzqq", b"\xff\xfezzqq")
    d = decode_arrow(payload, "o", BIG)
    assert [x.reason for x in d.dead] in (["undecodable"], ["wrong_schema"]) and d.dead[0].original == payload


def test_decompression_bomb_is_a_dead_letter() -> None:
    """A zstd buffer whose declared uncompressed length is 4 PiB: read_all() raises ArrowMemoryError."""
    t = pa.table({"x": pa.array(range(8), pa.int64())})
    payload = encode_arrow(t)
    at = payload.rfind(struct.pack("<q", 64))  # the int64 uncompressed-length prefix of the 64-byte buffer
    assert at > 0
    bomb = payload[:at] + struct.pack("<q", 2**52) + payload[at + 8 :]
    d = decode_arrow(bomb, "o", BIG)
    assert len(d.dead) == 1 and d.dead[0].reason in ("undecodable", "too_large") and d.dead[0].original == bomb


def _string_array(data: bytes, offsets: list[int]) -> pa.Array:
    return pa.Array.from_buffers(
        pa.string(), len(offsets) - 1, [None, pa.py_buffer(np.array(offsets, np.int32).tobytes()), pa.py_buffer(data)]
    )


def test_invalid_utf8_in_a_batch_is_a_dead_letter_not_a_crash_later() -> None:
    """IPC reading does not validate UTF-8; the batch passes decoding and Processor.process then raises."""
    t = minimal(1).set_column(3, "plate", _string_array(b"\xff\xfeAB", [0, 4]))
    payload = encode_arrow(t)
    d = decode_arrow(payload, "o", BIG)
    assert d.reads.num_rows == 0 and len(d.dead) == 1 and d.dead[0].original == payload
    Processor(HotList.empty()).process(d, T0)


# -- fuzz -------------------------------------------------------------------------------------------------------


def _check(payload: bytes) -> None:
    d = decode_arrow(payload, "o", BIG)
    if d.dead:
        assert len(d.dead) == 1 and d.reads.num_rows == 0 and d.dead[0].original == payload
        assert d.dead[0].reason in ("undecodable", "wrong_schema", "too_large")
    else:
        d.reads.validate(full=True)  # structurally sound: safe for the numpy views in the core
        assert len(d.origins) == d.reads.num_rows
        Processor(HotList.empty()).process(d, T0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes_never_raise(payload: bytes) -> None:
    _check(payload)


_BASE = [encode_arrow(synth_batch(12, 9)), encode_arrow(synth_batch(12, 9), None), encode_arrow(minimal(2))]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(_BASE))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(["set", "cut", "ins"])), max_size=4),
)
def test_fuzz_mutated_payloads_never_raise(base: int, edits: list[tuple[int, int, str]]) -> None:
    b = bytearray(_BASE[base])
    for pos, val, op in edits:
        i = pos % len(b)
        if op == "set":
            b[i] = val
        elif op == "cut":
            del b[max(i, 1) :]
        else:
            b[i:i] = bytes([val])
    _check(bytes(b))


def test_seeded_mutation_fuzz_never_raises() -> None:
    """Deterministic companion of the hypothesis fuzz: 1500 random byte edits of valid payloads."""
    rng = random.Random(20240601)
    failures: dict[str, str] = {}
    for _ in range(1500):
        b = bytearray(rng.choice(_BASE))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            if rng.random() < 0.8:
                b[i] = rng.randrange(256)
            else:
                del b[max(i, 1) :]
        try:
            _check(bytes(b))
        except Exception as exc:  # collect the kinds of failure, report them all at once
            failures.setdefault(type(exc).__name__, str(exc)[:100])
    assert failures == {}


def test_candidate_type_is_list_of_struct() -> None:
    assert pa.types.is_list(CANDIDATE_TYPE)
    assert [f.name for f in CANDIDATE_TYPE.value_type] == ["plate", "confidence"]
