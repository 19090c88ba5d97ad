"""Deduplicator against a slow dict-based reference, plus its documented out-of-order semantics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.dedup import Deduplicator, dedup_key, mix64


def _arrays(reads: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = np.array([r[0] for r in reads], np.uint64)
    g = np.array([r[1] for r in reads], np.uint16)
    c = np.array([r[2] for r in reads], np.uint64)
    t = np.array([r[3] for r in reads], np.int64)
    return p, g, c, t


class RefDedup:
    """A read is a duplicate iff the previous read of its (plate, region, camera), in time order, came less than
    ``window`` before it. Within a batch reads are taken in time order (ties: batch order)."""

    def __init__(self, window: int):
        self.window = window
        self.last: dict[tuple[int, int, int], int] = {}

    def observe(self, reads: list[tuple[int, int, int, int]]) -> list[bool]:
        dup = [False] * len(reads)
        for i in sorted(range(len(reads)), key=lambda i: (reads[i][3], i)):
            p, g, c, t = reads[i]
            key = (p, g, c)
            if key in self.last and t - self.last[key] < self.window:
                dup[i] = True
            self.last[key] = max(t, self.last.get(key, t))
        return dup


def _random_batches(seed: int, n_batches: int, span: int, max_batch: int) -> list[list[tuple[int, int, int, int]]]:
    """Batches in time order (every read of batch b+1 at or after every read of batch b), shuffled within."""
    rng = np.random.default_rng(seed)
    plates = rng.integers(1, 2**63, 5, dtype=np.uint64)
    batches = []
    t0 = 0
    for _ in range(n_batches):
        n = int(rng.integers(0, max_batch + 1))
        t = np.sort(t0 + rng.integers(0, span, n))
        if n:
            t0 = int(t.max())
        rows = [
            (int(plates[rng.integers(0, 5)]), int(rng.integers(0, 3)), int(rng.integers(0, 3)) * 977, int(x)) for x in t
        ]
        rng.shuffle(rows)
        batches.append(rows)
    return batches


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    window=st.integers(1, 400),
    span=st.integers(1, 1500),
    n_batches=st.integers(1, 6),
    max_batch=st.integers(0, 40),
)
def test_in_order_batches_match_reference(seed: int, window: int, span: int, n_batches: int, max_batch: int) -> None:
    fast, ref = Deduplicator(window), RefDedup(window)
    for batch in _random_batches(seed, n_batches, span, max_batch):
        got = fast.observe(*_arrays(batch))
        assert got.tolist() == ref.observe(batch)
    # state holds exactly one row per distinct key, with its latest time
    assert len(fast) == len(ref.last)
    got_state = {
        (int(p), int(g), int(c)): int(t)
        for p, g, c, t in zip(fast.plate, fast.region, fast.camera, fast.last_ms, strict=True)
    }
    assert got_state == ref.last
    assert np.all(np.diff(fast.key.astype(np.uint64)) > 0) or len(fast) <= 1


def test_seeded_large_batches_match_reference() -> None:
    for seed in range(5):
        fast, ref = Deduplicator(60_000), RefDedup(60_000)
        for batch in _random_batches(seed, 8, 200_000, 3_000):
            assert fast.observe(*_arrays(batch)).tolist() == ref.observe(batch)


def test_window_boundary_is_exclusive() -> None:
    d = Deduplicator(1000)
    p, g, c, t = _arrays([(7, 1, 1, 0), (7, 1, 1, 999), (7, 1, 1, 1999), (7, 1, 1, 2999)])
    # gaps 999 (dup), 1000 (new), 1000 (new)
    assert d.observe(p, g, c, t).tolist() == [False, True, False, False]
    # across a batch boundary the same rule holds
    assert d.observe(*_arrays([(7, 1, 1, 3998)])).tolist() == [True]
    assert d.observe(*_arrays([(7, 1, 1, 4998)])).tolist() == [False]


def test_key_parts_each_separate_passages() -> None:
    d = Deduplicator(10_000)
    rows = [(5, 1, 1, 0), (6, 1, 1, 1), (5, 2, 1, 2), (5, 1, 2, 3), (5, 1, 1, 4)]
    assert d.observe(*_arrays(rows)).tolist() == [False, False, False, False, True]


def test_a_standing_car_is_one_passage_however_long() -> None:
    """Each frame is compared with the previous one, not with the first: 30 frames 500 ms apart, window 1 s."""
    d = Deduplicator(1000)
    rows = [(9, 0, 3, i * 500) for i in range(30)]
    assert d.observe(*_arrays(rows)).sum() == 29


def test_empty_batch_changes_nothing() -> None:
    d = Deduplicator(1000)
    d.observe(*_arrays([(1, 0, 1, 10)]))
    assert d.observe(*_arrays([])).tolist() == []
    assert len(d) == 1


def test_late_read_across_batches_is_compared_by_absolute_gap_to_latest_seen() -> None:
    """Out of contract (batches not in time order): a read earlier than the stored last time is a duplicate when it
    lies within the window on either side of it, and the stored time stays the latest."""
    d = Deduplicator(60_000)
    d.observe(*_arrays([(1, 0, 1, 100_000)]))
    assert d.observe(*_arrays([(1, 0, 1, 50_000)])).tolist() == [True]  # 50 s before: duplicate
    assert d.observe(*_arrays([(1, 0, 1, 0)])).tolist() == [False]  # 100 s before: new passage
    assert d.last_ms.tolist() == [100_000]


def test_out_of_order_batch_only_first_read_per_key_is_compared_with_state() -> None:
    """Out of contract: in a batch that reaches back before the stored time, only the batch's earliest read of a key
    is compared with the state; later ones are compared with the batch's own previous read. So a read 30 s after a
    stored read can still count as a new passage."""
    d = Deduplicator(60_000)
    d.observe(*_arrays([(1, 0, 1, 100_000)]))
    got = d.observe(*_arrays([(1, 0, 1, 130_000), (1, 0, 1, 50_000)]))
    assert got.tolist() == [False, True]
    assert d.last_ms.tolist() == [130_000]


def test_expire_forgets_old_keys_only() -> None:
    d = Deduplicator(1000)
    d.observe(*_arrays([(1, 0, 1, 100), (2, 0, 1, 5_000), (3, 0, 1, 9_000)]))
    assert d.oldest_ms() == 100
    assert d.expire(5_000) == 1
    assert len(d) == 2 and d.oldest_ms() == 5_000
    assert sorted(d.plate.tolist()) == [2, 3]
    # forgotten key: a read right after is new; remembered key: duplicate
    assert d.observe(*_arrays([(1, 0, 1, 9_100), (3, 0, 1, 9_100)])).tolist() == [False, True]
    assert d.expire(0) == 0
    assert Deduplicator(5).oldest_ms() is None


def test_hash_is_deterministic_and_spreads() -> None:
    x = np.arange(1000, dtype=np.uint64)
    h = mix64(x)
    assert len(np.unique(h)) == 1000
    assert np.array_equal(h, mix64(x))
    k = dedup_key(np.array([5, 5, 5], np.uint64), np.array([1, 2, 1], np.uint16), np.array([9, 9, 10], np.uint64))
    assert len(set(k.tolist())) == 3


@pytest.mark.parametrize("window", [1, 7, 1000])
def test_same_timestamp_twice_is_a_duplicate(window: int) -> None:
    d = Deduplicator(window)
    assert d.observe(*_arrays([(4, 0, 0, 10), (4, 0, 0, 10)])).tolist() == [False, True]
