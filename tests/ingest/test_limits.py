"""Input limits, each with its own reason code: rows per Arrow message, plate length, unknown cameras."""

from __future__ import annotations

import base64
import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config.settings import load_settings
from streams.errors import ConfigError
from streams.ingest.decode import decode_arrow, decode_json, encode_arrow
from streams.ingest.limits import InputLimits, apply_limits, load_camera_registry
from streams.model.decoded import Decoded
from streams.model.read import HEARTBEAT_SCHEMA, READ_SCHEMA


def _reads(plates: list[str | None], cameras: list[str | None]) -> pa.Table:
    n = len(plates)
    return pa.Table.from_pylist(
        [
            {"read_id": f"r{i}", "camera_id": cameras[i], "site_id": "s", "captured_at": 1_000 + i, "plate": plates[i]}
            for i in range(n)
        ],
        schema=pa.schema([f.with_nullable(True) for f in READ_SCHEMA]),
    )


def test_too_many_rows_is_refused_whole_with_original_bytes():
    table = _reads(["ABC123"] * 10, ["c1"] * 10)
    payload = encode_arrow(table)
    ok = decode_arrow(payload, "t/0/1", 1 << 20, max_rows=10)
    assert ok.reads.num_rows == 10 and not ok.dead
    refused = decode_arrow(payload, "t/0/2", 1 << 20, max_rows=9)
    assert refused.reads.num_rows == 0
    [d] = refused.dead
    assert (d.reason, d.original, d.origin) == ("too_many_rows", payload, "t/0/2")


def test_plate_too_long_and_unknown_camera_are_row_dead_letters():
    plates = ["ABC123", "X" * 33, None, "Q" * 32, "OK1"]
    cameras = ["c1", "c1", "c9", "c9", None]
    docs = [
        {"read_id": f"r{i}", "camera_id": c, "captured_at": 1_000 + i, "plate": p}
        for i, (p, c) in enumerate(zip(plates, cameras, strict=True))
    ]
    decoded = decode_json([json.dumps(d).encode() for d in docs], [f"t/0/{i}" for i in range(5)], 1 << 20)
    out = apply_limits(decoded, InputLimits(32, pa.array(["c1", "c2"])))
    # kept: a good read, and one without camera (the core names that `missing_camera`)
    assert out.reads["read_id"].to_pylist() == ["r0", "r4"]
    assert out.origins == ["t/0/0", "t/0/4"]
    got = {(d.reason, d.origin) for d in out.dead}
    assert got == {("plate_too_long", "t/0/1"), ("unknown_camera", "t/0/2"), ("unknown_camera", "t/0/3")}
    for d in out.dead:
        row = json.loads(d.original)
        assert row["read_id"] in {"r1", "r2", "r3"}
        assert "X" * 33 not in d.detail  # never plate text in a detail
        assert base64.b64decode(d.to_json()["original_b64"]) == d.original


def test_no_registry_takes_every_camera():
    decoded = decode_json([json.dumps({"read_id": "a", "camera_id": "zz", "plate": "A1"}).encode()], ["o"], 1 << 20)
    assert apply_limits(decoded, InputLimits(32, None)).reads.num_rows == 1


@settings(max_examples=200, deadline=None)
@given(
    plates=st.lists(st.one_of(st.none(), st.text(max_size=40)), min_size=1, max_size=30),
    cams=st.lists(st.sampled_from(["c1", "c2", "c3", None]), min_size=30, max_size=30),
    limit=st.integers(12, 40),
)
def test_every_row_is_kept_or_refused_with_the_right_reason(plates, cams, limit):
    table = _reads(plates, cams[: len(plates)])
    decoded = Decoded(table, HEARTBEAT_SCHEMA.empty_table(), [], [f"o{i}" for i in range(len(plates))])
    out = apply_limits(decoded, InputLimits(limit, pa.array(["c1", "c2"])))
    reasons = {d.origin: d.reason for d in out.dead}
    for i, (p, c) in enumerate(zip(plates, cams, strict=False)):
        origin = f"o{i}"
        if p is not None and len(p) > limit:
            assert reasons[origin] == "plate_too_long"
        elif c == "c3":
            assert reasons[origin] == "unknown_camera"
        else:
            assert origin in out.origins
    assert out.reads.num_rows + len(out.dead) == len(plates)


def test_camera_registry_file(tmp_path, clean_env):
    good = tmp_path / "cams.csv"
    good.write_text("camera_id,site\nc1,a\nc2,b\n")
    assert sorted(load_camera_registry(good).to_pylist()) == ["c1", "c2"]
    assert load_settings(camera_registry_path=str(good)).input_limits().cameras is not None
    bad = tmp_path / "bad.csv"
    bad.write_text("id\nc1\n")
    with pytest.raises(ConfigError, match="camera registry"):
        load_settings(camera_registry_path=str(bad))
    empty = tmp_path / "empty.csv"
    empty.write_text("camera_id\n")
    with pytest.raises(ConfigError, match="no camera ids"):
        load_settings(camera_registry_path=str(empty))
