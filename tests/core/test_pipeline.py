"""``Processor.process``: row dead letters, accounting, hits with evidence and alerts, aggregates."""

from __future__ import annotations

import functools
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config.settings import load_policy
from streams.core.alerts import hit_payloads
from streams.core.hotlist import HotList
from streams.core.normalise import stable_codes
from streams.core.pipeline import Processor, ProcessorConfig
from streams.core.policy import DAY_MS, admit
from streams.core.validate import Limits
from streams.ingest.decode import decode_arrow, decode_json, encode_arrow, merge
from streams.loadtest.synth import Synth, SynthConfig
from streams.model.batch import HIT_SCHEMA, Totals
from streams.model.decoded import Decoded
from streams.model.hotlist import ENTRY_SCHEMA
from streams.model.read import HEARTBEAT_SCHEMA

T0 = 1_790_000_000_000
MIN = 60_000
SKEW = 300_000
MAX_AGE = 7 * DAY_MS
POLICY = load_policy()


def entries(*rows: dict[str, Any]) -> pa.Table:
    base = {
        "region": "CA",
        "plate_type": "PC",
        "reason": "stolen_vehicle",
        "legal_basis_type": "record_number",
        "legal_basis": "NCIC1",
        "agency": "A",
        "entered_by": "t",
        "source": "t",
        "valid_from": T0 - DAY_MS,
        "expires_at": T0 + 10 * DAY_MS,
    }
    full = [{**base, "entry_id": f"E{i}", **r} for i, r in enumerate(rows)]
    return pa.Table.from_pylist([{n: r.get(n) for n in ENTRY_SCHEMA.names} for r in full], schema=ENTRY_SCHEMA)


def processor(*rows: dict[str, Any], **cfg: Any) -> Processor:
    adm = admit(entries(*rows), POLICY, T0)
    assert adm.refused.num_rows == 0
    return Processor(HotList.build(adm.admitted), ProcessorConfig(**cfg))


def read(read_id: str, **kw: Any) -> dict[str, Any]:
    doc = {"read_id": read_id, "camera_id": "cam-1", "captured_at": T0, "plate": "7ABC123", "region": "CA"}
    doc["confidence"] = 95.0
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not ...}


def as_json(docs: list[dict[str, Any]], prefix: str = "in") -> Decoded:
    raws = [json.dumps(d).encode() for d in docs]
    return decode_json(raws, [f"{prefix}:{i + 1}" for i in range(len(raws))], 1 << 20)


BAD_ROWS = [
    ("missing_plate", {"plate": ""}),
    ("missing_plate", {"plate": " - "}),  # only separators
    ("missing_plate", {"plate": ...}),  # absent
    ("bad_plate", {"plate": "ABCDEFGHIJKLM"}),  # 13 characters
    ("bad_plate", {"plate": "ÄBC123"}),
    ("bad_plate", {"plate": "AB#123"}),
    ("missing_camera", {"camera_id": ...}),
    ("missing_camera", {"camera_id": ""}),
    ("missing_time", {"captured_at": ...}),
    ("time_in_future", {"captured_at": T0 + SKEW + 1}),
    ("time_too_old", {"captured_at": T0 - MAX_AGE - 1}),
    ("bad_region", {"region": "CALI"}),
    ("bad_confidence", {"confidence": 100.5}),
    ("bad_confidence", {"confidence": -0.1}),
    ("missing_camera", {"camera_id": "", "plate": "ÄÄ"}),  # first failing check wins
    ("time_in_future", {"captured_at": T0 + 10**9, "plate": ""}),
]


@pytest.mark.parametrize("reason, change", BAD_ROWS)
def test_bad_row_becomes_dead_letter_and_good_rows_go_on(reason: str, change: dict[str, Any]) -> None:
    p = processor({"plate": "7ABC123"})
    d = as_json([read("good-1", camera_id="cam-a"), read("bad", **change), read("good-2", camera_id="cam-b")])
    assert d.dead == [] and d.reads.num_rows == 3
    res = p.process(d, T0)
    assert [x.reason for x in res.dead] == [reason]
    dead = res.dead[0]
    assert dead.origin == "in:2" and dead.row == 1
    assert json.loads(dead.original)["read_id"] == "bad"  # a row's original is its JSON
    assert reason in dead.detail
    assert res.reads == 2
    assert sorted(res.hits["read_id"].to_pylist()) == ["good-1", "good-2"]


@pytest.mark.parametrize(
    "change",
    [
        {"captured_at": T0 + SKEW},  # exactly the allowed skew
        {"captured_at": T0 - MAX_AGE},  # exactly the maximum age
        {"confidence": 0},
        {"confidence": 100},
        {"confidence": None},
        {"region": None},
        {"region": "us-ca"},
        {"plate": "ABCDEFGHIJKL"},  # 12 characters
        {"plate": "ab-cd ef.gh/ij_kl"},  # 12 after separators
        {"site_id": None},
    ],
)
def test_boundary_rows_are_good(change: dict[str, Any]) -> None:
    res = processor().process(as_json([read("r", **change)]), T0)
    assert res.dead == [] and res.reads == 1


def test_nan_confidence_is_bad() -> None:
    raw = b'{"read_id":"r","camera_id":"c","captured_at":%d,"plate":"A1","confidence":NaN}' % T0
    d = decode_json([raw], ["o"], 999)
    assert d.reads.num_rows == 1 and math.isnan(d.reads["confidence"][0].as_py())
    res = processor().process(d, T0)
    assert [x.reason for x in res.dead] == ["bad_confidence"]
    # kept as strict JSON (NaN has no JSON form: null), plate text as sent
    kept = json.loads(res.dead[0].original, parse_constant=lambda c: pytest.fail(f"{c} in a dead row"))
    assert kept["confidence"] is None and kept["plate"] == "A1" and kept["read_id"] == "r"


def test_row_dead_letter_with_absurd_time_is_kept() -> None:
    """A timestamp that fits no Python datetime still makes a dead letter (kept as integer milliseconds)."""
    t = 2**62
    res = processor().process(as_json([read("r", captured_at=t)]), T0)
    assert [x.reason for x in res.dead] == ["time_in_future"]
    assert json.loads(res.dead[0].original)["captured_at"] == t


def test_nothing_is_silently_lost_on_random_rows() -> None:
    rng = np.random.default_rng(3)
    docs = []
    for i in range(400):
        _, change = BAD_ROWS[rng.integers(len(BAD_ROWS))] if rng.random() < 0.3 else (None, {})
        base = {"camera_id": f"cam-{rng.integers(4)}", "captured_at": T0 - int(rng.integers(0, 600_000))}
        docs.append(read(f"r{i}", **{**base, **change}))
    raws = [json.dumps(d).encode() for d in docs] + [b"not json", b"[]", b'{"data_type":"x"}']
    d = decode_json(raws, [f"f:{i}" for i in range(len(raws))], 1 << 20)
    res = processor({"plate": "7ABC123"}).process(d, T0)
    assert res.reads + len(res.dead) == len(raws)
    assert res.reads == int(pc.sum(res.read_counts["reads"]).as_py())
    assert res.duplicates == int(pc.sum(res.read_counts["duplicates"]).as_py())
    assert res.duplicates > 0 and res.hits.num_rows > 0
    # every dead letter's origin is the origin of its input
    assert {x.origin for x in res.dead} <= {f"f:{i}" for i in range(len(raws))}
    assert len({x.origin for x in res.dead}) == len(res.dead)
    assert int(pc.sum(res.dead_letter_counts["dead_letters"]).as_py()) == len(res.dead)


def test_synthetic_stream_accounting() -> None:
    s = Synth(SynthConfig(vehicles=2_000, cameras=20, hot_share=0.05, hot_traffic=0.05, bad_rate=0.01))
    p = Processor(HotList.build(admit(s.hotlist(), POLICY, s.cfg.start_ms).admitted))
    totals = Totals()
    for batch in s.batches(6_000, 1_500):
        d = Decoded(batch, HEARTBEAT_SCHEMA.empty_table(), [], ["synth"] * batch.num_rows)
        now = int(np.median(batch["captured_at"].cast(pa.int64()).to_numpy())) + 1_000
        res = p.process(d, now)
        assert res.reads + len(res.dead) == batch.num_rows
        rc = res.read_counts
        assert int(pc.sum(rc["reads"]).as_py()) == res.reads
        assert int(pc.sum(rc["duplicates"]).as_py()) == res.duplicates
        assert {x.reason for x in res.dead} <= {"missing_plate", "time_in_future"}
        assert res.hits.schema == HIT_SCHEMA
        totals.add(res)
    assert totals.reads > 0 and totals.duplicates > 0 and totals.hits > 0 and totals.dead_letters > 0
    assert totals.hits == sum(totals.hits_by_kind.values()) == sum(totals.hits_by_reason.values())


def test_duplicates_are_counted_and_not_matched() -> None:
    p = processor({"plate": "7ABC123"}, dedup_window_ms=MIN)
    docs = [read(f"f{i}", captured_at=T0 - 10_000 + i * 200) for i in range(5)]
    res = p.process(as_json(docs), T0)
    assert res.reads == 5 and res.duplicates == 4
    assert res.hits["read_id"].to_pylist() == ["f0"]
    # the next batch continues the passage
    res2 = p.process(as_json([read("f5", captured_at=T0 - 10_000 + 5 * 200)]), T0)
    assert res2.duplicates == 1 and res2.hits.num_rows == 0


def test_hit_fields_and_evidence() -> None:
    p = processor(
        {"entry_id": "exact", "plate": "7ABC123", "reason": "stolen_vehicle"},
        {"entry_id": "conf", "plate": "8XY0555", "reason": "stolen_plate"},
        {"entry_id": "cand", "plate": "5KL9999", "region": "NV"},
        {"entry_id": "mism", "plate": "1AAA111", "region": "NV"},
    )
    docs = [
        read("r-exact", camera_id="c1", plate="7abc 123", region="us-ca", confidence=97.0),
        read("r-conf", camera_id="c2", plate="BXYO5S5", region="CA", confidence=85.0),  # 8/B, 0/O, 5/S
        read(
            "r-cand",
            camera_id="c3",
            plate="SKL9999",
            region="NV",
            candidates=[{"plate": "SKL9999", "confidence": 90}, {"plate": "5KL-9999", "confidence": 70}],
        ),
        read("r-mism", camera_id="c4", plate="1AAA111", region="CA"),
    ]
    res = p.process(as_json(docs), T0)
    hits = {h["entry_id"]: h for h in res.hits.to_pylist()}
    assert set(hits) == {"exact", "conf", "cand", "mism"}
    for h in hits.values():
        assert h["status"] == "unverified"
    assert hits["exact"]["match_kind"] == "exact"
    assert hits["exact"]["read_plate"] == "7ABC123" and hits["exact"]["read_region"] == "CA"
    assert hits["exact"]["alert"] and not hits["exact"]["verification_required"]
    assert hits["exact"]["differing_positions"] == [] and hits["exact"]["matched_candidate"] is None
    assert hits["exact"]["candidate_rank"] == -1
    assert hits["conf"]["match_kind"] == "confusable"
    assert hits["conf"]["differing_positions"] == [0, 3, 5]
    assert hits["conf"]["alert"] and hits["conf"]["verification_required"]
    assert hits["cand"]["match_kind"] == "candidate"
    # the decoder drops the best reading repeated as a candidate, so the match is rank 0 of what is left
    assert hits["cand"]["matched_candidate"] == "5KL-9999" and hits["cand"]["candidate_rank"] == 0
    assert hits["cand"]["differing_positions"] == []
    assert hits["mism"]["match_kind"] == "region_mismatch"
    assert not hits["mism"]["alert"] and not hits["mism"]["repeat_passage"]
    assert hits["mism"]["verification_required"]
    assert res.alerts == 3

    payloads = {h["entry_id"]: h for h in hit_payloads(res.hits)}
    assert payloads["conf"]["evidence"]["differing_positions"] == [0, 3, 5]
    assert payloads["cand"]["evidence"]["matched_candidate"] == "5KL-9999"
    assert payloads["cand"]["evidence"]["candidate_rank"] == 0
    assert payloads["exact"]["evidence"]["candidate_rank"] is None
    assert payloads["exact"]["possible_match"] is False and payloads["conf"]["possible_match"] is True
    assert payloads["exact"]["read_time"] == "2026-09-21T14:13:20Z"
    assert all(p["status"] == "unverified" for p in payloads.values())
    hc = res.hit_counts.to_pylist()
    assert sum(r["hits"] for r in hc) == 4 and sum(r["alerts"] for r in hc) == 3


def test_hit_ids_are_stable() -> None:
    docs = [read("r1", plate="7ABC123")]
    a = processor({"plate": "7ABC123"}).process(as_json(docs), T0).hits["hit_id"].to_pylist()
    b = processor({"plate": "7ABC123"}).process(as_json(docs), T0).hits["hit_id"].to_pylist()
    assert a == b and len(a) == 1 and len(a[0]) == 32


def test_low_confidence_or_unknown_region_needs_verification() -> None:
    p = processor({"plate": "7ABC123"})
    docs = [
        read("low", camera_id="c1", confidence=79.9),
        read("noreg", camera_id="c2", region=None),
        read("noconf", camera_id="c3", confidence=None),
        read("fine", camera_id="c4", confidence=80.0),
    ]
    hits = {h["read_id"]: h for h in p.process(as_json(docs), T0).hits.to_pylist()}
    assert hits["low"]["verification_required"] and hits["noreg"]["verification_required"]
    assert hits["noconf"]["verification_required"]
    assert hits["noreg"]["region_unknown"]
    assert not hits["fine"]["verification_required"]


def test_alert_kinds_follow_policy() -> None:
    p = processor(
        {"entry_id": "e", "plate": "7ABC123"},
        {"entry_id": "c", "plate": "5KL9999"},
        alert_kinds=frozenset({"exact"}),
    )
    docs = [read("r1", camera_id="c1"), read("r2", camera_id="c2", plate="SKL9999")]
    hits = {h["entry_id"]: h for h in p.process(as_json(docs), T0).hits.to_pylist()}
    assert hits["e"]["alert"] and hits["c"]["match_kind"] == "confusable" and not hits["c"]["alert"]
    assert not hits["c"]["repeat_passage"]


def test_one_alert_per_entry_within_alert_window() -> None:
    p = processor({"plate": "7ABC123"}, alert_window_ms=10 * MIN)
    # two cameras in one batch, same entry: one alert
    res = p.process(as_json([read("a", camera_id="c1"), read("b", camera_id="c2", captured_at=T0 + 1000)]), T0 + 1000)
    got = sorted((h["read_id"], h["alert"], h["repeat_passage"]) for h in res.hits.to_pylist())
    assert got == [("a", True, False), ("b", False, True)]
    # a later batch inside the window: still a repeat
    res = p.process(as_json([read("c", camera_id="c3", captured_at=T0 + 9 * MIN)]), T0 + 9 * MIN)
    assert [(h["alert"], h["repeat_passage"]) for h in res.hits.to_pylist()] == [(False, True)]
    # a full window after the last sighting: alerts again
    res = p.process(as_json([read("d", camera_id="c4", captured_at=T0 + 19 * MIN)]), T0 + 19 * MIN)
    assert [(h["alert"], h["repeat_passage"]) for h in res.hits.to_pylist()] == [(True, False)]


def test_region_mismatch_never_alerts_nor_uses_the_alert_window() -> None:
    p = processor({"plate": "7ABC123", "region": "NV"})
    res = p.process(as_json([read("a", camera_id="c1"), read("b", camera_id="c2")]), T0)
    assert [(h["match_kind"], h["alert"], h["repeat_passage"]) for h in res.hits.to_pylist()] == [
        ("region_mismatch", False, False)
    ] * 2
    assert res.alerts == 0


def test_heartbeats_are_counted_never_read() -> None:
    beats = [
        b'{"data_type":"heartbeat","timestamp":%d,"agent_uid":"ag","video_streams":[{"camera_id":"c1"},{"camera_id":"c2"}]}'
        % T0,
        b'{"data_type":"heartbeat","epoch_time":%d,"camera_id":"c3"}' % T0,
    ]
    d = merge([decode_json(beats, ["h:1", "h:2"], 1 << 20), as_json([read("r")])])
    res = processor().process(d, T0)
    assert res.heartbeats == 3 and res.reads == 1 and res.dead == []
    health = {r["camera_id"]: r["heartbeats"] for r in res.camera_health.to_pylist()}
    assert health == {"c1": 1, "c2": 1, "c3": 1}


def test_empty_batch() -> None:
    res = processor({"plate": "7ABC123"}).process(as_json([]), T0)
    assert res.reads == 0 and res.hits.num_rows == 0 and res.dead == [] and res.read_counts.num_rows == 0


def test_all_rows_bad() -> None:
    res = processor({"plate": "7ABC123"}).process(as_json([read("x", plate=""), read("y", camera_id="")]), T0)
    assert res.reads == 0 and len(res.dead) == 2 and res.hits.num_rows == 0


def test_read_counts_group_by_bucket_camera_site() -> None:
    p = processor(bucket_ms=3_600_000)
    docs = [
        read("a", camera_id="c1", site_id="s1", captured_at=T0 - 100),
        read("b", camera_id="c1", site_id="s1", captured_at=T0 - 50),  # duplicate of a
        read("c", camera_id="c2", captured_at=T0 - 50),
        read("d", camera_id="c1", site_id="s1", captured_at=T0 - 4_000_000, plate="1ZZZ999"),  # earlier bucket
    ]
    rc = p.process(as_json(docs), T0).read_counts.to_pylist()
    got = {
        (int(r["window_start"].timestamp()) * 1000, r["camera_id"], r["site_id"]): (r["reads"], r["duplicates"])
        for r in rc
    }
    b = T0 - T0 % 3_600_000
    assert b - 3_600_000 <= T0 - 4_000_000 < b
    assert got == {(b - 3_600_000, "c1", "s1"): (1, 0), (b, "c1", "s1"): (2, 1), (b, "c2", ""): (1, 0)}


def test_expire_drops_old_state() -> None:
    p = processor(dedup_window_ms=MIN, nonhit_state_ms=5 * MIN)
    p.process(as_json([read("a", captured_at=T0 - 2 * MIN)]), T0)
    assert p.expire(T0) == 1
    assert len(p.reads_dedup) == 0


def test_stable_codes_are_stable_and_distinct() -> None:
    a = stable_codes(pa.array(["c1", "c2", "c1", None]))
    b = stable_codes(pa.chunked_array([["c2"], ["c1"]]))
    assert a[0] == a[2] == b[1] and a[1] == b[0] and a[0] != a[1]
    assert a[3] == stable_codes(pa.array([""]))[0]


def test_processor_uses_limits() -> None:
    p = processor(limits=Limits(max_future_skew_ms=0, max_age_ms=1000))
    res = p.process(as_json([read("f", captured_at=T0 + 1), read("o", captured_at=T0 - 1001, camera_id="c9")]), T0)
    assert sorted(x.reason for x in res.dead) == ["time_in_future", "time_too_old"]


def test_batch_row_without_read_id_is_a_dead_letter() -> None:
    """read_id is required (schema, JSON decoder), but a null or empty read_id in an Arrow batch passes validation:
    it is counted as a good read and its hit carries read_id None (and a hit_id shared by every such read)."""
    t = pa.table(
        {
            "read_id": [None, "", "ok"],
            "camera_id": ["c1", "c2", "c3"],
            "captured_at": pa.array([T0] * 3, pa.int64()),
            "plate": ["7ABC123"] * 3,
        }
    )
    d = decode_arrow(encode_arrow(t), "topic/0/1", 1 << 20)
    assert d.dead == [] and d.reads.num_rows == 3
    res = processor({"plate": "7ABC123"}).process(d, T0)
    assert res.reads == 1 and res.hits["read_id"].to_pylist() == ["ok"]
    assert [x.row for x in res.dead] == [0, 1] and all(x.origin == "topic/0/1" for x in res.dead)


@functools.cache
def one_hit() -> pa.Table:
    return processor({"plate": "7ABC123"}).process(as_json([read("r1", plate="7ABC123")]), T0).hits


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**40), max_value=253_402_300_799_999))  # 1935 .. the last millisecond of 9999
def test_hit_times_are_written_as_isoformat_writes_them(ms: int) -> None:
    """Payload times in UTC with a Z: whole seconds bare, else the microseconds ``datetime.isoformat`` shows."""
    hits = one_hit()
    for name in ("read_time", "entry_expires_at"):
        hits = hits.set_column(
            hits.schema.get_field_index(name), name, pa.array([ms], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
        )
    (payload,) = hit_payloads(hits)
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
    assert payload["read_time"] == payload["entry_expires_at"] == expected
    assert expected in " ".join(payload["checks"])
