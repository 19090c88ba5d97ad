"""Hot-list matching (through ``Processor``, the only caller) against a slow pure-Python reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.confusables import DEFAULT_GROUPS, canonical_lut
from streams.core.hotlist import HotList
from streams.core.match import match
from streams.core.normalise import ALPHABET
from streams.core.pipeline import Processor, ProcessorConfig
from streams.model.decoded import Decoded
from streams.model.match_kinds import KINDS

T0 = 1_790_000_000_000
DAY = 86_400_000
MIN = 60_000
NOW = T0 + 60 * MIN
KIND_RANK = {k: i for i, k in enumerate(KINDS)}  # exact < candidate < confusable < region_mismatch


def _norm(s: str | None) -> str:
    return "".join(c.upper() for c in (s or "") if c not in " -._/·")


def _region(s: str | None) -> str:
    return (s or "").strip().upper().rsplit("-", 1)[-1]


def _valid(p: str) -> bool:
    return 1 <= len(p) <= 12 and all(c in ALPHABET for c in p)


def _canon_map(groups: tuple[str, ...]) -> dict[str, str]:
    lut = {c: c for c in ALPHABET}
    for _ in range(len(groups) + 1):  # merge overlapping groups to a fixed point
        for g in groups:
            rep = min((lut[c] for c in g), key=ALPHABET.index)
            old = {lut[c] for c in g}
            for c in ALPHABET:
                if lut[c] in old:
                    lut[c] = rep
    return lut


def ref_hits(reads: list[dict[str, Any]], entries: list[dict[str, Any]], groups: tuple[str, ...]) -> set[tuple]:
    """(read_id, entry_id, kind, candidate_rank, differing positions, region_unknown) for every matching pair."""
    canon = _canon_map(groups)
    out = set()
    for r in reads:
        rp, rr, t = _norm(r["plate"]), _region(r["region"]), r["captured_at"]
        for e in entries:
            vf = e["valid_from"] if e["valid_from"] is not None else -(2**63)
            ex = e["expires_at"] if e["expires_at"] is not None else 2**63 - 1
            if not (vf <= t < ex):
                continue
            ep, er = _norm(e["plate"]), _region(e["region"])
            same_region = rr == "" or er == "" or rr == er
            found: list[tuple[str, int, tuple[int, ...]]] = []
            if rp == ep:
                found.append(("exact" if same_region else "region_mismatch", -1, ()))
            if same_region:
                for rank, c in enumerate(r["candidates"] or []):
                    cp = _norm(c)
                    if _valid(cp) and cp != rp and cp == ep:
                        found.append(("candidate", rank, ()))
                        break
                if rp != ep and [canon[c] for c in rp] == [canon[c] for c in ep]:
                    diff = tuple(i for i, (a, b) in enumerate(zip(rp, ep, strict=True)) if a != b)
                    found.append(("confusable", -1, diff))
            if found:
                kind, rank, diff = min(found, key=lambda f: KIND_RANK[f[0]])
                out.add((r["read_id"], e["entry_id"], kind, rank, diff, rr == ""))
    return out


def got_hits(hits: pa.Table) -> set[tuple]:
    rows = hits.to_pylist()
    got = {
        (
            h["read_id"],
            h["entry_id"],
            h["match_kind"],
            h["candidate_rank"],
            tuple(h["differing_positions"]),
            h["region_unknown"],
        )
        for h in rows
    }
    assert len(got) == len(rows)  # one row per (read, entry)
    assert len({(h["read_id"], h["entry_id"]) for h in rows}) == len(rows)
    return got


# Plates from characters with many confusable pairs, so all kinds turn up on small lists.
CHARS = "0O8B2Z7AX"
POOL = ["0B", "OB", "08", "O8", "AX", "4X", "2Z7", "ZZ7", "Z27", "A0B"]
entry_plates = st.one_of(st.sampled_from(POOL), st.text(st.sampled_from(CHARS), min_size=2, max_size=3))


def _spell(plate: str, lower: bool, dash: bool) -> str:
    """How a camera may spell a plate: lower case, a dash after the first character."""
    text = plate[:1] + "-" + plate[1:] if dash else plate
    return text.lower() if lower else text


read_plates = st.builds(_spell, entry_plates, st.booleans(), st.booleans())
entry_times = st.tuples(
    st.sampled_from([None, T0 - DAY, T0 + 30 * MIN]),  # valid_from: open, past, in the middle of the reads
    # expires_at: later, mid-way, expired (never null: admission refuses that, see test_entry_without_expiry...)
    st.sampled_from([T0 + DAY, T0 + 20 * MIN, T0 - 60 * MIN]),
)
entries_st = st.lists(
    st.tuples(entry_plates, st.sampled_from(["", "CA", "NV", None, "us-ca"]), entry_times), min_size=0, max_size=8
)
reads_st = st.lists(
    st.tuples(
        read_plates,
        st.sampled_from([None, "", "CA", "us-ca", "NV", "us-nv", "AZ"]),
        st.integers(0, 60 * MIN),
        st.lists(st.one_of(entry_plates, read_plates, st.just("A@1"), st.just("")), max_size=3),
    ),
    min_size=1,
    max_size=12,
)


def _run(
    reads: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    make_decoded: Callable[..., Decoded],
    make_entries: Callable[..., pa.Table],
    groups: tuple[str, ...] = DEFAULT_GROUPS,
) -> pa.Table:
    lut = canonical_lut(groups)
    hl = HotList.build(make_entries(entries), lut)
    proc = Processor(hl, ProcessorConfig(dedup_window_ms=1), lut)
    res = proc.process(make_decoded(reads), NOW)
    assert res.dead == []
    assert res.reads == len(reads) and res.duplicates == 0
    return res.hits


def _build(raw_entries: list[tuple], raw_reads: list[tuple]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    entries = [
        {"entry_id": f"E{i}", "plate": p, "region": g, "valid_from": vf, "expires_at": ex}
        for i, (p, g, (vf, ex)) in enumerate(raw_entries)
    ]
    reads = [
        {
            "read_id": f"R{i}",
            "camera_id": f"cam-{i}",  # one camera per read: no duplicates, every read is matched
            "captured_at": T0 + dt,
            "plate": p,
            "region": g,
            "confidence": 90.0,
            "candidates": cands,
        }
        for i, (p, g, dt, cands) in enumerate(raw_reads)
    ]
    return entries, reads


@settings(max_examples=150, deadline=None)
@given(raw_entries=entries_st, raw_reads=reads_st)
def test_matching_agrees_with_reference(raw_entries: list[tuple], raw_reads: list[tuple], make_decoded, make_entries):
    entries, reads = _build(raw_entries, raw_reads)
    hits = _run(reads, entries, make_decoded, make_entries)
    assert got_hits(hits) == ref_hits(reads, entries, DEFAULT_GROUPS)


@settings(max_examples=80, deadline=None)
@given(
    raw_entries=entries_st,
    raw_reads=reads_st,
    groups=st.sampled_from([("0O",), ("AX", "X8"), ("27Z", "OB"), ()]),
)
def test_matching_with_policy_confusable_groups(raw_entries, raw_reads, groups, make_decoded, make_entries):
    entries, reads = _build(raw_entries, raw_reads)
    hits = _run(reads, entries, make_decoded, make_entries, groups)
    assert got_hits(hits) == ref_hits(reads, entries, groups)


def _one(plate: str, region: str | None = "CA", t: int = T0, cands: list[str] | None = None) -> dict[str, Any]:
    return {
        "read_id": "R",
        "camera_id": "cam",
        "captured_at": t,
        "plate": plate,
        "region": region,
        "confidence": 95.0,
        "candidates": cands,
    }


@pytest.mark.parametrize(
    "entry, t, expected",
    [
        ({"expires_at": T0 - 1}, T0, None),  # expired a moment ago
        ({"expires_at": T0}, T0, None),  # expires_at is exclusive
        ({"expires_at": T0 + 1}, T0, "exact"),
        ({"valid_from": T0 + 1}, T0, None),  # not yet valid
        ({"valid_from": T0}, T0, "exact"),
        ({"valid_from": None}, T0, "exact"),
    ],
)
def test_entry_is_matched_only_while_current(entry, t, expected, make_decoded, make_entries) -> None:
    hits = _run([_one("7ABC123", t=t)], [{"plate": "7ABC123", **entry}], make_decoded, make_entries)
    assert hits["match_kind"].to_pylist() == ([expected] if expected else [])


def test_entry_without_expiry_never_expires(make_decoded, make_entries) -> None:
    """HotList treats a null expires_at as 'never' (fill int64 max), but the fill goes through float64 and wraps."""
    entries = [{"entry_id": "E", "plate": "7ABC123", "expires_at": None}]
    hl = HotList.build(make_entries(entries))
    assert hl.times_ms("expires_at", np.arange(len(hl))).tolist() == [np.iinfo(np.int64).max]
    hits = _run([_one("7ABC123")], entries, make_decoded, make_entries)
    assert hits["match_kind"].to_pylist() == ["exact"]


def test_region_rules(make_decoded, make_entries) -> None:
    entries = [
        {"entry_id": "CA", "plate": "7ABC123", "region": "CA"},
        {"entry_id": "ANY", "plate": "7ABC123", "region": ""},
    ]
    reads = [
        {**_one("7ABC123", "us-ca"), "read_id": "r-ca", "camera_id": "c1"},
        {**_one("7ABC123", "NV"), "read_id": "r-nv", "camera_id": "c2"},
        {**_one("7ABC123", None), "read_id": "r-none", "camera_id": "c3"},
    ]
    hits = _run(reads, entries, make_decoded, make_entries)
    got = {(h["read_id"], h["entry_id"]): (h["match_kind"], h["region_unknown"]) for h in hits.to_pylist()}
    assert got == {
        ("r-ca", "CA"): ("exact", False),
        ("r-ca", "ANY"): ("exact", False),
        ("r-nv", "CA"): ("region_mismatch", False),
        ("r-nv", "ANY"): ("exact", False),
        ("r-none", "CA"): ("exact", True),
        ("r-none", "ANY"): ("exact", True),
    }


def test_candidate_and_confusable_are_dropped_in_another_region(make_decoded, make_entries) -> None:
    entries = [{"entry_id": "E", "plate": "7ABC123", "region": "CA"}]
    reads = [
        {**_one("7ABC128", "NV", cands=["7ABC123"]), "read_id": "cand", "camera_id": "c1"},
        {**_one("7A8C123", "NV"), "read_id": "conf", "camera_id": "c2"},
    ]
    assert _run(reads, entries, make_decoded, make_entries).num_rows == 0


def test_strongest_kind_wins(make_decoded, make_entries) -> None:
    # the best plate is confusable with the entry (8/B); the candidate at rank 2 is the entry itself: candidate
    # wins; rank 0 repeats the best reading and never counts
    entries = [{"entry_id": "E", "plate": "7ABC123", "region": "CA"}]
    reads = [_one("7A8C123", "CA", cands=["7A8C123", "XXXX", "7abc-123"])]
    hits = _run(reads, entries, make_decoded, make_entries).to_pylist()
    assert [(h["match_kind"], h["candidate_rank"], h["matched_candidate"]) for h in hits] == [
        ("candidate", 2, "7abc-123")
    ]


def test_direct_match_on_empty_inputs() -> None:
    from streams.core.match import ReadKeys

    rk = ReadKeys(
        np.zeros(0, np.uint64),
        np.zeros((0, 12), np.uint8),
        np.zeros(0, np.uint16),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int16),
        np.zeros(0, np.uint64),
    )
    assert len(match(HotList.empty(), rk)) == 0
