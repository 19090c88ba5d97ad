"""The de-duplication state of the compiled path: an open-addressing hash table that lives across batches.

Structure of arrays: per slot the plate code, the camera code, ``meta`` (region << 46 | batch epoch << 2 | state)
and the last time seen (INT64_MAX in a free slot, so expiry reads one array). The slots are split into partitions
of PART slots by the top bits of the key hash, and a batch is handled partition by partition (a stable scatter
keeps each key's reads in time order), so the slots in use stay in the CPU cache instead of every probe going to
memory. ``HashDeduplicator`` owns the table; nothing else touches its arrays.
"""

from __future__ import annotations

import numpy as np

from streams.core.compiled.jit import inline, jit, key_hash

PART_BITS = 13
PART = 1 << PART_BITS
MAXT = np.iinfo(np.int64).max
EMPTY, USED, TOMB = 0, 1, 2
EPOCH_MASK = (1 << 44) - 1
ROW_MASK = (1 << 40) - 1


@inline
def _pbits(cap):
    b = 0
    while (PART << b) < cap:
        b += 1
    return b


@inline
def _home(h, cap, pbits):
    """(partition base, position inside, inner mask) of a hash."""
    inner = min(cap, PART)
    base = np.int64(h >> np.uint64(64 - pbits)) << PART_BITS if pbits > 0 else np.int64(0)
    return base, np.int64(h & np.uint64(inner - 1)), inner - 1


@inline
def _locate(tplate, tcam, tmeta, h, p, c, g):
    """(slot, found): the key's slot, or where to insert it; slot -1 when its partition is full."""
    cap = tmeta.size
    base, j, mask = _home(h, cap, _pbits(cap))
    free = -1
    for _ in range(mask + 1):
        s = base + j
        st = tmeta[s] & 3
        if st == EMPTY:
            return (s if free < 0 else free), False
        if st == TOMB:
            if free < 0:
                free = s
        elif tplate[s] == p and tcam[s] == c and (tmeta[s] >> 46) == g:
            return s, True
        j = (j + 1) & mask
    return free, False


@jit
def _new(cap):
    return np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.full(cap, MAXT, np.int64)


@jit
def _rehash(tplate, tcam, tmeta, tlast, cap):
    """The used slots in a table of ``cap`` slots. Old slots are read in partition order, so the inserts stay local."""
    while True:
        nplate, ncam, nmeta, nlast = _new(cap)
        ok = True
        for s in range(tmeta.size):
            if tmeta[s] & 3 != USED:
                continue
            p, c, g = tplate[s], tcam[s], tmeta[s] >> 46
            j, _ = _locate(nplate, ncam, nmeta, key_hash(p, c, g), p, c, g)
            if j < 0:  # a partition overflowed (never with a sane hash): more partitions
                ok = False
                break
            nplate[j], ncam[j], nmeta[j], nlast[j] = p, c, tmeta[s], tlast[s]
        if ok:
            return nplate, ncam, nmeta, nlast
        cap *= 2


@jit
def _by_partition(rows, hs, plate, region, camera, t, cap):
    """One 32-byte record per read (row | region << 40, plate, camera, time), grouped by partition and in the given
    order within each (a stable counting sort): the probe loop then reads them sequentially."""
    m = rows.size
    pbits = _pbits(cap)
    nparts = 1 << pbits
    start = np.zeros(nparts + 1, np.int64)
    if pbits > 0:
        for k in range(m):
            start[np.int64(hs[k] >> np.uint64(64 - pbits)) + 1] += 1
        for q in range(nparts):
            start[q + 1] += start[q]
    rec = np.empty((m, 4), np.int64)
    for k in range(m):
        r = rows[k]
        part = np.int64(hs[k] >> np.uint64(64 - pbits)) if pbits > 0 else 0
        q = start[part]
        start[part] = q + 1
        rec[q, 0], rec[q, 1] = r | (np.int64(region[r]) << 40), np.int64(plate[r])
        rec[q, 2], rec[q, 3] = np.int64(camera[r]), t[r]
    return rec


@jit
def _dedup_rows(tplate, tcam, tmeta, tlast, state, epoch, window, rec, q0, dup, late, nlate):
    """The probe loop of ``_dedup`` from record ``q0``; stops early (returning the record) if a partition is full."""
    for q in range(q0, rec.shape[0]):
        r, g = rec[q, 0] & ROW_MASK, rec[q, 0] >> 40
        p, c, tr = rec[q, 1], rec[q, 2], rec[q, 3]
        s, found = _locate(tplate, tcam, tmeta, key_hash(p, c, g), p, c, g)
        if s < 0:
            return q, nlate
        if found:
            if (tmeta[s] >> 2) & EPOCH_MASK == epoch:
                dup[r] = tr - tlast[s] < window
            else:
                dup[r] = abs(tr - tlast[s]) < window
                if tlast[s] > tr:
                    late[nlate, 0], late[nlate, 1] = q, tlast[s]
                    nlate += 1
        else:
            if tmeta[s] & 3 == TOMB:
                state[1] -= 1
            state[0] += 1
            tplate[s], tcam[s] = p, c
            dup[r] = False
        tlast[s] = tr
        tmeta[s] = (g << 46) | (epoch << 2) | USED
    return rec.shape[0], nlate


@jit
def _dedup(tplate, tcam, tmeta, tlast, state, epoch, window, plate, region, camera, t, rows, dup):
    """Mark ``dup[r]`` for ``r`` in ``rows`` (time order): a read is a duplicate when the previous read of its
    (plate, region, camera) in this batch came less than ``window`` before it or, for the batch's first read of the
    key, when the stored last time is less than ``window`` away on either side. Stores the latest time per key.
    ``state`` = [used slots, tombstones]. Returns the table (new arrays when it had to grow)."""
    m = rows.size
    if 2 * (state[0] + state[1] + m) > tmeta.size:  # room for every read to be a new key: no growth mid-batch
        cap = tmeta.size
        while cap < 2 * (state[0] + m):
            cap *= 2
        tplate, tcam, tmeta, tlast = _rehash(tplate, tcam, tmeta, tlast, cap)
        state[1] = 0
    hs = np.empty(m, np.uint64)
    for k in range(m):
        r = rows[k]
        hs[k] = key_hash(np.int64(plate[r]), np.int64(camera[r]), np.int64(region[r]))
    rec = _by_partition(rows, hs, plate, region, camera, t, tmeta.size)
    # During the batch a slot's last time is that of the key's previous read in the batch; a stored time later
    # than the batch's first read of the key (out-of-order input) is set aside and restored at the end.
    late = np.empty((m, 2), np.int64)
    q, nlate = 0, 0
    while True:
        q, nlate = _dedup_rows(tplate, tcam, tmeta, tlast, state, epoch, window, rec, q, dup, late, nlate)
        if q == m:
            break
        # a partition is full (never with a sane hash): more partitions
        tplate, tcam, tmeta, tlast = _rehash(tplate, tcam, tmeta, tlast, 2 * tmeta.size)
        state[1] = 0
    for i in range(nlate):
        q = late[i, 0]
        p, c, g = rec[q, 1], rec[q, 2], rec[q, 0] >> 40
        s, _ = _locate(tplate, tcam, tmeta, key_hash(p, c, g), p, c, g)
        tlast[s] = max(tlast[s], late[i, 1])
    return tplate, tcam, tmeta, tlast


@jit
def time_order(t, rows):
    """``rows`` in time order, ties in the given order (a stable sort; counting sort when the span is small)."""
    m = rows.size
    ordered = True
    for k in range(1, m):
        if t[rows[k]] < t[rows[k - 1]]:
            ordered = False
            break
    if ordered:
        return rows
    lo = t[rows[0]]
    hi = lo
    for r in rows:
        lo = min(lo, t[r])
        hi = max(hi, t[r])
    if float(hi) - float(lo) <= 4.0 * m + 65536.0:
        span = hi - lo
        slot = np.zeros(span + 2, np.int64)
        for r in rows:
            slot[t[r] - lo + 1] += 1
        for k in range(1, span + 2):
            slot[k] += slot[k - 1]
        out = np.empty(m, np.int64)
        for r in rows:
            k = t[r] - lo
            out[slot[k]] = r
            slot[k] += 1
        return out
    ts = np.empty(m, np.int64)
    for k in range(m):
        ts[k] = t[rows[k]]
    return rows[np.argsort(ts, kind="mergesort")]


@jit
def _expire(tmeta, tlast, state, cutoff):
    dropped = 0
    for s in range(tlast.size):
        if tlast[s] < cutoff:  # free slots hold MAXT
            tmeta[s] = TOMB
            tlast[s] = MAXT
            dropped += 1
    state[0] -= dropped
    state[1] += dropped
    return dropped


@jit
def _oldest(tlast):
    return tlast.min() if tlast.size else MAXT


@jit
def _observe(tplate, tcam, tmeta, tlast, state, epoch, window, plate, region, camera, t):
    n = plate.size
    dup = np.zeros(n, np.bool_)
    rows = time_order(t, np.arange(n))
    tplate, tcam, tmeta, tlast = _dedup(
        tplate, tcam, tmeta, tlast, state, epoch, window, plate, region, camera, t, rows, dup
    )
    return tplate, tcam, tmeta, tlast, dup


class HashDeduplicator:
    """``streams.core.dedup.Deduplicator`` semantics on a hash table that lives across batches (the compiled path).

    Keys are compared exactly (plate code, region code, camera code); no hash collision can merge two keys.
    """

    def __init__(self, window_ms: int):
        self.window_ms = window_ms
        self.clear()

    def __len__(self) -> int:
        return int(self._state[0])

    def observe(self, plate: np.ndarray, region: np.ndarray, camera: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
        """Mark duplicates in a batch (True = duplicate) and remember the batch's reads."""
        self._epoch += 1
        *self._table, dup = _observe(
            *self._table,
            self._state,
            self._epoch,
            self.window_ms,
            np.ascontiguousarray(plate, np.uint64),
            np.ascontiguousarray(region, np.uint16),
            np.ascontiguousarray(camera, np.uint64),
            np.ascontiguousarray(t_ms, np.int64),
        )
        return dup

    def observe_rows(
        self, plate: np.ndarray, region: np.ndarray, camera: np.ndarray, t_ms: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """``observe`` of the batch rows ``rows``, given in time order (``time_order``), with per-row arrays of the
        whole batch (other rows are not read). Returns the duplicate mask over the whole batch."""
        self._epoch += 1
        dup = np.zeros(len(plate), np.bool_)
        self._table = list(
            _dedup(*self._table, self._state, self._epoch, self.window_ms, plate, region, camera, t_ms, rows, dup)
        )
        return dup

    def expire(self, cutoff_ms: int) -> int:
        """Forget reads last seen before ``cutoff_ms``; returns how many were dropped."""
        cutoff_ms = max(min(int(cutoff_ms), MAXT), np.iinfo(np.int64).min)
        dropped = int(_expire(self._table[2], self._table[3], self._state, cutoff_ms))
        if self._state[1] > len(self._table[2]) // 2:  # many tombstones make probes long: rebuild
            cap = len(self._table[2])
            while cap > 1024 and 16 * self._state[0] < cap:  # shrink only far below the size batches need
                cap //= 2
            self._table = list(_rehash(*self._table, cap))
            self._state[1] = 0
        return dropped

    def clear(self) -> int:
        """Forget every read. Returns how many were held."""
        held = int(self._state[0]) if hasattr(self, "_state") else 0
        self._table = list(_new(1024))
        self._state = np.zeros(2, np.int64)  # used slots, tombstones
        self._epoch = 0
        return held

    def oldest_ms(self) -> int | None:
        return int(_oldest(self._table[3])) if self._state[0] else None

    def state_dict(self) -> dict[tuple[int, int, int], int]:
        """(plate, region, camera) -> last time seen: for tests that compare it with the reference."""
        plate, cam, meta, last = self._table
        live = (meta & 3) == USED
        return {
            (int(p), int(m >> 46), int(c)): int(t)
            for p, c, m, t in zip(
                plate[live].view(np.uint64), cam[live].view(np.uint64), meta[live], last[live], strict=True
            )
        }
