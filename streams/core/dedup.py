"""De-duplication of repeated reads of one passage: the same plate, region and camera seen again within a window.

A read is a duplicate when the previous read with the same key came less than ``window_ms`` before it, so a car
standing at a light is one passage however many frames the camera sends. State is three sorted arrays (a
64-bit key, the exact key parts, the last time seen); it is updated a batch at a time and expired by the
retention clock, never by a per-read Python loop.

The 64-bit key is a hash; the exact parts are stored beside it and compared, so a hash collision can only make a
duplicate look new (counted twice), never drop a read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# splitmix64's multipliers and the golden-ratio increment; the compiled table hashes with the same ones
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
GOLD = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread 64-bit hash of uint64 values."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= M1
    x ^= x >> np.uint64(27)
    x *= M2
    x ^= x >> np.uint64(31)
    return x


def dedup_key(plate: np.ndarray, region: np.ndarray, camera: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64(plate ^ mix64(camera.astype(np.uint64) * GOLD + region.astype(np.uint64)))


def _group_order(h: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Row order that groups equal keys, each group in time order.

    ``np.sort`` on one uint64 is several times faster than an argsort, so the row index rides in the low bits
    of the key: high bits group, low bits keep time order (rows are put in time order first unless they already
    are). Keys that agree in the high bits only are told apart by the exact comparison that follows.
    """
    n = len(h)
    by_time = None
    if n > 1 and not (t_ms[1:] >= t_ms[:-1]).all():
        by_time = np.argsort(t_ms, kind="stable")
        h = h[by_time]
    bits = np.uint64(max(1, (n - 1).bit_length()))
    packed = ((h >> bits) << bits) | np.arange(n, dtype=np.uint64)
    order = (np.sort(packed) & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    return order if by_time is None else by_time[order]


@dataclass
class Deduplicator:
    """Per-passage de-duplication state. ``window_ms`` is the gap that ends a passage."""

    window_ms: int
    key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    plate: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    region: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))
    camera: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    last_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.key)

    def observe(self, plate: np.ndarray, region: np.ndarray, camera: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
        """Mark duplicates in a batch (True = duplicate) and remember the batch's reads."""
        n = len(plate)
        dup = np.zeros(n, bool)
        if n == 0:
            return dup
        h = dedup_key(plate, region, camera)
        order = _group_order(h, t_ms)
        hs, ts = h[order], t_ms[order]
        ps, rs, cs = plate[order], region[order], camera[order]
        same = np.zeros(n, bool)
        same[1:] = (hs[1:] == hs[:-1]) & (ps[1:] == ps[:-1]) & (rs[1:] == rs[:-1]) & (cs[1:] == cs[:-1])
        dup_sorted = np.zeros(n, bool)
        dup_sorted[1:] = same[1:] & (ts[1:] - ts[:-1] < self.window_ms)

        # The first read of each key in the batch is compared with the state.
        first = np.flatnonzero(~same)
        if len(self.key):
            pos = np.minimum(np.searchsorted(self.key, hs[first]), len(self.key) - 1)
            hit = (
                (self.key[pos] == hs[first])
                & (self.plate[pos] == ps[first])
                & (self.region[pos] == rs[first])
                & (self.camera[pos] == cs[first])
            )
            dup_sorted[first] = hit & (np.abs(ts[first] - self.last_ms[pos]) < self.window_ms)
        dup[order] = dup_sorted

        # Remember the latest time of each key (the last row of each run, as rows are sorted by time).
        last = np.ones(n, bool)
        last[:-1] = ~same[1:]
        self._merge(hs[last], ps[last], rs[last], cs[last], ts[last])
        return dup

    def _merge(self, k: np.ndarray, p: np.ndarray, r: np.ndarray, c: np.ndarray, t: np.ndarray) -> None:
        if len(k) > 1 and not (k[1:] > k[:-1]).all():
            self._merge_by_sort(k, p, r, c, t)  # a rare hash collision left the batch keys unsorted
            return
        pos = np.searchsorted(self.key, k)
        exists = pos < len(self.key)
        exists[exists] = self.key[pos[exists]] == k[exists]
        # Known keys: keep the newest time (a collision keeps the newer key's parts).
        e, pe = np.flatnonzero(exists), pos[exists]
        newer = t[e] >= self.last_ms[pe]
        e, pe = e[newer], pe[newer]
        self.last_ms[pe], self.plate[pe], self.region[pe], self.camera[pe] = t[e], p[e], r[e], c[e]
        # New keys: insert in order, one copy of the state instead of a sort.
        new, pn = np.flatnonzero(~exists), pos[~exists]
        if len(new):
            self.key = np.insert(self.key, pn, k[new])
            self.plate = np.insert(self.plate, pn, p[new])
            self.region = np.insert(self.region, pn, r[new])
            self.camera = np.insert(self.camera, pn, c[new])
            self.last_ms = np.insert(self.last_ms, pn, t[new])

    def _merge_by_sort(self, k: np.ndarray, p: np.ndarray, r: np.ndarray, c: np.ndarray, t: np.ndarray) -> None:
        key = np.concatenate([self.key, k])
        last = np.concatenate([self.last_ms, t])
        # Sort by key, then time, and keep the newest row per key (a collision keeps the newer key's parts).
        order = np.lexsort((last, key))
        key = key[order]
        keep = np.ones(len(key), bool)
        keep[:-1] = key[1:] != key[:-1]
        sel = order[keep]
        self.key = key[keep]
        self.plate = np.concatenate([self.plate, p])[sel]
        self.region = np.concatenate([self.region, r])[sel]
        self.camera = np.concatenate([self.camera, c])[sel]
        self.last_ms = last[sel]

    def expire(self, cutoff_ms: int) -> int:
        """Forget reads last seen before ``cutoff_ms``; returns how many were dropped."""
        keep = self.last_ms >= cutoff_ms
        dropped = int(len(keep) - keep.sum())
        if dropped:
            self.key, self.plate, self.region = self.key[keep], self.plate[keep], self.region[keep]
            self.camera, self.last_ms = self.camera[keep], self.last_ms[keep]
        return dropped

    def clear(self) -> int:
        """Forget every read (``hit_only``: state may not outlive the batch). Returns how many were held."""
        dropped = len(self.key)
        self.expire(np.iinfo(np.int64).max)
        return dropped

    def oldest_ms(self) -> int | None:
        return int(self.last_ms.min()) if len(self.last_ms) else None
