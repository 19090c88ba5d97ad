"""The compiled core (``engine="kernel"``) against the numpy reference path: identical ``BatchResult`` outputs
(hits, dead letters, aggregates) and identical de-duplication state, batch after batch, on random batches with bad
rows, duplicates within and across batches, candidates, confusables, region mismatches, expired and cleared
entries, non-ASCII plates, sliced and multi-chunk Arrow columns."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.compiled.dedup_table import HashDeduplicator
from streams.core.compiled.strings import symbols
from streams.core.confusables import DEFAULT_LUT
from streams.core.dedup import Deduplicator
from streams.core.hotlist import HotList
from streams.core.live_hotlist import LiveHotList
from streams.core.normalise import decode_code, decode_codes, encode_plates_sym, normalise_plates
from streams.core.pipeline import Processor, ProcessorConfig
from streams.core.validate import Limits
from streams.model.batch import BatchResult
from streams.model.decoded import Decoded
from streams.model.read import HEARTBEAT_SCHEMA
from tests.core.conftest import DAY, T0, entries_table, reads_table

# Plates chosen so that exact, candidate, confusable (0/O, 2/7/Z, 8/B) and region-mismatch hits all happen.
HOT = ["7ABC123", "7ABC12O", "8XYZ777", "BXYZ7Z7", "ABC1", "Q1W2E3R4T5Y6"]
PLATE_VARIANTS = [
    *HOT,
    "7abc123",  # lower case
    "7-ABC 123",  # separators
    "7.abc_12/3",
    "7ABC\t123",
    "8XYZ777\v",
    "8XY2777",  # confusable of 8XYZ777
    "7ABC1Z3",
    "ZZZ999",
    "ı7ABC123",  # dotless i: Unicode upper-casing makes it ASCII 'I'
    "7ABC·123",  # the middle dot separator (non-ASCII)
    "7ABCé",  # non-ASCII letter: a bad plate
    "",  # missing
    "- .",  # nothing left after normalisation
    "7ABC123!",  # a character that is not a plate character
    "ABCDEFGHJKLMN",  # 13 characters: too long
    "ABCDEFGHJKLM",  # 12: the longest
    None,
]
REGIONS = ["CA", "us-ca", " us-nv ", "NV", "nv", None, "", "CAXX", "us-c a", "x-y-CA"]
CAMERAS = ["cam-1", "cam-2", "cam-3", "", None]
SITES = ["s1", "s2", "", None]
CONFIDENCE = [95.0, 50.0, None, float("nan"), -1.0, 101.0, 0.0, 100.0]
WINDOW = 1_000


def _read(draw: Any, i: int, t_base: int) -> dict[str, Any]:
    def pick(xs: list[Any], common: int = 0) -> Any:
        # mostly the first ``common`` values (good rows), sometimes anything
        if common and draw(st.integers(0, 4)):
            return xs[draw(st.integers(0, common - 1))]
        return xs[draw(st.integers(0, len(xs) - 1))]

    offset = draw(st.sampled_from([0, 0, 1, 10, 400, 999, 1000, 1500, 5000, -500]))
    t: int | None = t_base + offset
    odd = draw(st.integers(0, 30))
    if odd == 0:
        t = None
    elif odd == 1:
        t = t_base + 10 * DAY  # in the future
    elif odd == 2:
        t = t_base - 30 * DAY  # too old
    n_cands = draw(st.integers(0, 3))
    cands = None if n_cands == 3 else [pick(PLATE_VARIANTS, 10) for _ in range(n_cands)]
    rid = draw(st.sampled_from([f"r{i}"] * 20 + [None, ""]))
    return {
        "read_id": rid,
        "camera_id": pick(CAMERAS, 3),
        "site_id": pick(SITES),
        "captured_at": t,
        "plate": pick(PLATE_VARIANTS, 10),
        "region": pick(REGIONS, 5),
        "confidence": pick(CONFIDENCE, 2),
        "candidates": None if cands is None else [{"plate": c, "confidence": 40.0} for c in cands],
    }


@st.composite
def batches(draw: Any) -> list[tuple[pa.Table, int]]:
    out = []
    t = T0
    for b in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 25))
        rows = [_read(draw, 100 * b + i, t) for i in range(n)]
        table = reads_table(rows)
        layout = draw(st.integers(0, 2))
        if layout == 1 and n > 1:  # two chunks per column
            k = draw(st.integers(1, n - 1))
            table = pa.concat_tables([table.slice(0, k), table.slice(k)])
        elif layout == 2 and n:  # a slice with non-zero offsets into the buffers
            pad = reads_table([_read(draw, 9000 + j, t) for j in range(3)])
            table = pa.concat_tables([pad, table, pad]).combine_chunks().slice(3, n)
        now = t + draw(st.sampled_from([0, 2_000, 400_000]))
        out.append((table, now))
        t += draw(st.sampled_from([0, 500, 1_000, 3_000, 61_000]))
    return out


@st.composite
def hotlists(draw: Any) -> LiveHotList:
    rows = []
    for i, plate in enumerate(HOT):
        for region in draw(st.lists(st.sampled_from(["CA", "NV", ""]), min_size=1, max_size=2, unique=True)):
            row: dict[str, Any] = {"entry_id": f"E{i}{region}", "plate": plate, "region": region}
            state = draw(st.integers(0, 6))
            if state == 0:
                row["expires_at"] = T0 + 500  # expires during the test
            elif state == 1:
                row["valid_from"] = T0 + 1_000  # not valid yet at first
            elif state == 2:
                row["valid_from"], row["expires_at"] = None, None
            rows.append(row)
    split = draw(st.integers(0, len(rows)))
    live = LiveHotList.of(HotList.build(entries_table(rows[:split])))
    if split < len(rows):
        live.delta = HotList.build(entries_table(rows[split:]))
    cleared = draw(st.lists(st.sampled_from([r["entry_id"] for r in rows]), max_size=2))
    live.clear(cleared)
    if draw(st.booleans()):
        live.last_sync_ms["test"] = T0 - 365 * DAY  # a stale source: hits recorded, not alerted
    return live


def _dead(r: BatchResult) -> list[tuple[Any, ...]]:
    return [dataclasses.astuple(d) for d in r.dead]


def assert_same(got: BatchResult, want: BatchResult) -> None:
    tables = ("hits", "read_counts", "hit_counts", "dead_letter_counts", "camera_health", "expiry_counts")
    for name in (*tables, "stored_reads"):
        g, w = getattr(got, name), getattr(want, name)
        assert g.schema == w.schema, name
        assert g.to_pylist() == w.to_pylist(), name
    assert _dead(got) == _dead(want)
    for name in ("reads", "duplicates", "heartbeats", "expired"):
        assert getattr(got, name) == getattr(want, name), name


def dedup_state(d: Deduplicator | HashDeduplicator) -> dict[tuple[int, int, int], int]:
    if isinstance(d, HashDeduplicator):
        return d.state_dict()
    return {(int(p), int(g), int(c)): int(t) for p, g, c, t in zip(d.plate, d.region, d.camera, d.last_ms, strict=True)}


def run_both(live: LiveHotList, batches: list[tuple[pa.Table, int]], **cfg: Any) -> None:
    base = {"dedup_window_ms": WINDOW, "limits": Limits(max_future_skew_ms=300_000, max_age_ms=7 * DAY), **cfg}
    fast = Processor(live, ProcessorConfig(**base))
    ref = Processor(live, ProcessorConfig(**base, engine="reference"))
    assert isinstance(fast.reads_dedup, HashDeduplicator) and isinstance(ref.reads_dedup, Deduplicator)
    for table, now in batches:
        origins = [f"m:{i}" for i in range(table.num_rows)]
        results = [
            p.process(Decoded(table, HEARTBEAT_SCHEMA.empty_table(), [], origins), now, "test") for p in (fast, ref)
        ]
        assert_same(*results)
        assert dedup_state(fast.reads_dedup) == dedup_state(ref.reads_dedup)
        assert fast.expire(now) == ref.expire(now)
        assert dedup_state(fast.reads_dedup) == dedup_state(ref.reads_dedup)
        assert dedup_state(fast.hits_dedup) == dedup_state(ref.hits_dedup)
        assert len(fast.reads_dedup) == len(ref.reads_dedup)
        assert fast.reads_dedup.oldest_ms() == ref.reads_dedup.oldest_ms()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(live=hotlists(), batches=batches(), hit_only=st.booleans(), keep=st.sampled_from(["none", "hits", "all"]))
def test_kernel_and_reference_agree(
    live: LiveHotList, batches: list[tuple[pa.Table, int]], hit_only: bool, keep: str
) -> None:
    run_both(live, batches, nonhit_state_ms=0 if hit_only else 300_000, keep_reads=keep)


def test_kernel_and_reference_agree_on_synthetic_traffic() -> None:
    """Larger batches from the synthetic network (unsorted times, 2 candidates per read, bad rows)."""
    from streams.config.settings import load_policy, policy_lut
    from streams.core.policy import admit
    from streams.loadtest.synth import Synth, SynthConfig

    policy = load_policy()
    synth = Synth(SynthConfig(seed=3, hot_traffic=0.05, vehicles=5_000, cameras=40))
    adm = admit(synth.hotlist(), policy, int(synth.t_ms))
    lut = policy_lut(policy)
    hl = HotList.build(adm.admitted, lut)
    cfg = ProcessorConfig(alert_kinds=policy.alert_kinds, low_confidence=policy.low_confidence, keep_reads="all")
    fast, ref = Processor(hl, cfg, lut), Processor(hl, dataclasses.replace(cfg, engine="reference"), lut)
    hits = 0
    for _ in range(4):
        table = synth.batch(20_000)
        ms = table["captured_at"].cast(pa.int64()).to_numpy()
        now = int(ms[ms <= int(synth.t_ms) + 60_000].max())
        d = Decoded(table, HEARTBEAT_SCHEMA.empty_table())
        got, want = fast.process(d, now), ref.process(d, now)
        assert_same(got, want)
        assert fast.expire(now) == ref.expire(now)
        assert dedup_state(fast.reads_dedup) == dedup_state(ref.reads_dedup)
        hits += want.hits.num_rows
    # the comparison covered real work
    assert hits > 100 and want.duplicates > 1000 and len(want.dead) > 0 and want.stored_reads.num_rows > 1000


def test_hash_deduplicator_grows_and_expires_like_the_reference() -> None:
    """Thousands of keys (the table grows several times), expiry leaves tombstones that inserts reuse."""
    rng = np.random.default_rng(5)
    fast, ref = HashDeduplicator(50), Deduplicator(50)
    t0 = 0
    for _ in range(6):
        n = 6_000
        plate = rng.integers(1, 3_000, n).astype(np.uint64) * np.uint64(2**40)
        region = rng.integers(0, 3, n).astype(np.uint16)
        camera = rng.integers(0, 2**64 - 1, 4, dtype=np.uint64)[rng.integers(0, 4, n)]
        t = t0 + rng.integers(0, 400, n).astype(np.int64)
        assert fast.observe(plate, region, camera, t).tolist() == ref.observe(plate, region, camera, t).tolist()
        assert fast.expire(t0 + 100) == ref.expire(t0 + 100)
        assert dedup_state(fast) == dedup_state(ref)
        t0 += 300
    assert fast.clear() == ref.clear() > 0
    assert len(fast) == 0 and fast.oldest_ms() is None


@pytest.mark.parametrize("text", ["A", "7ABC123", "ABCDEFGHJKLM", "Z0Z0"])
def test_symbols_invert_packing(text: str) -> None:
    code, ok, sym, _ = encode_plates_sym(normalise_plates(pa.array([text])))
    assert ok.all()
    assert symbols(code).tolist() == sym.tolist()
    want = normalise_plates(pa.array([text])).to_pylist()
    assert decode_codes(code).to_pylist() == [decode_code(int(code[0]))] == want


def test_decode_codes_of_many_and_none() -> None:
    plates = ["A", "", "7ABC123", "ABCDEFGHJKLM", "Z0"]
    code, _, _, _ = encode_plates_sym(pa.array(plates))
    assert decode_codes(code).to_pylist() == plates  # the empty plate packs to 0 and decodes to ''
    assert decode_codes(np.zeros(0, np.uint64)).to_pylist() == []


def test_engine_is_checked() -> None:
    with pytest.raises(ValueError, match="engine"):
        ProcessorConfig(engine="fast")
    assert ProcessorConfig().engine == "kernel"
    assert DEFAULT_LUT is not None
