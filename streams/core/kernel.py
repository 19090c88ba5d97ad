"""The compiled core: a batch in a few compiled passes over the Arrow buffers (numba), instead of a dozen numpy passes.

Same semantics as the numpy reference path (``ProcessorConfig(engine="reference")``); the property tests in
``tests/core/test_kernel.py`` hold the two to identical results. What runs where (``scan`` and ``probe``):

1. Every row, a column at a time: missing read id / camera, plate normalise + base-37 encode (and the confusable
   form) for ASCII plates, and camera, site and region strings interned into per-batch distinct ids.
2. Python, per *distinct* value only: region normalisation (Arrow), camera ids' stable codes (blake2b), and the
   exact Arrow normalisation of the rare plates holding non-ASCII bytes (Unicode upper-casing, the ``·``).
3. Row checks (the first failing check wins), time order of the good rows (counting sort), de-duplication in a
   hash table that lives across batches (``HashDeduplicator``), read counts per (window, camera, site).
4. Fresh reads, per hot-list segment: plate, candidate and confusable look-ups through a Bloom filter and an
   open-addressing table built with the hot list. The few (read, entry) pairs found are resolved by
   ``match.resolve_pairs``, shared with the reference path, and hit rows are built as there.

Compiled functions are cached on disk (``cache=True``, in ``__pycache__`` or ``NUMBA_CACHE_DIR``): the first run on
a machine compiles for about a minute, later processes load them in seconds (``warm_up``, called by ``Processor``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba as nb
import numpy as np
import pyarrow as pa

from streams.core.normalise import (
    ALPHABET,
    MAX_PLATE_LEN,
    encode_plates_sym,
    encode_regions,
    normalise_plates,
    normalise_regions,
    pack,
    stable_codes,
)
from streams.core.validate import Limits

_jit = nb.njit(cache=True, nogil=True)
# helpers called per row: inlined in numba IR (a call that passes arrays costs reference counting per row)
_inline = nb.njit(cache=True, nogil=True, inline="always")

SKIP = 255  # a separator the normalisation removes
# ASCII byte -> plate symbol 1..36 (lower case folded), SKIP for separators, 0 for anything else (a bad plate).
# Bytes >= 0x80 go the exact Arrow way (Unicode upper-casing can turn them into ASCII letters).
FOLD = np.zeros(256, np.uint8)
for _i, _c in enumerate(ALPHABET):
    FOLD[ord(_c)] = _i + 1
    FOLD[ord(_c.lower())] = _i + 1
for _b in b" \t\n\v\f\r-._/":  # normalise._SEPARATORS, ASCII part
    FOLD[_b] = SKIP

_POW37 = np.array([37**k for k in range(MAX_PLATE_LEN + 1)], np.uint64)
_NOBITS = np.zeros(0, np.uint8)
_NOBITS.setflags(write=False)
_EMPTY_U8 = np.zeros(1, np.uint8)
_EMPTY_U8.setflags(write=False)

M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
GOLD = np.uint64(0x9E3779B97F4A7C15)


# -- small compiled helpers ------------------------------------------------------------------------------


@_inline
def _mix(x):
    x = np.uint64(x)
    x ^= x >> np.uint64(30)
    x *= M1
    x ^= x >> np.uint64(27)
    x *= M2
    x ^= x >> np.uint64(31)
    return x


@_inline
def _valid(bits, off, i):
    if bits.size == 0:
        return True
    j = off + i
    return ((bits[j >> 3] >> (j & 7)) & 1) == 1


@_inline
def _span(offs, bits, boff, i):
    """Byte range of string ``i``; a null string is empty (as ``fill_null('')`` makes it)."""
    if not _valid(bits, boff, i):
        return 0, 0
    return offs[i], offs[i + 1]


@_inline
def _encode(data, start, end, fold, lut, pow37):
    """Normalise + base-37 pack one plate. Returns (code, canonical code, normalised length, needs the Arrow path)."""
    length = 0
    code = np.uint64(0)
    canon = np.uint64(0)
    bad = False
    for k in range(start, end):
        b = data[k]
        if b >= 128:
            return np.uint64(0), np.uint64(0), 0, True
        s = fold[b]
        if s == SKIP:
            continue
        length += 1
        if s == 0:
            bad = True
        elif length <= 12:
            code = code * np.uint64(37) + np.uint64(s)
            canon = canon * np.uint64(37) + np.uint64(lut[s])
    if bad or length == 0 or length > 12:
        return np.uint64(0), np.uint64(0), length, False
    return code * pow37[12 - length], canon * pow37[12 - length], length, False


@_inline
def _str_key(offs, data, bits, boff, i):
    """(word, length) of string ``i``: up to 8 bytes packed into the word (exact), longer ones hashed."""
    a0, a1 = _span(offs, bits, boff, i)
    w = np.uint64(0)
    if a1 - a0 <= 8:
        for k in range(a0, a1):
            w = (w << np.uint64(8)) | np.uint64(data[k])
    else:
        w = np.uint64(0xCBF29CE484222325)
        for k in range(a0, a1):
            w = (w ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
    return w, a1 - a0


@_jit
def _intern_rows(offs, data, bits, boff, i0, n, ids, firsts, words, lens, slots, count):
    """Intern rows ``i0``.. until done or until the slot table needs to grow. Returns (next row, distinct count)."""
    mask = slots.size - 1
    for i in range(i0, n):
        if 2 * count >= slots.size:
            return i, count
        w, ln = _str_key(offs, data, bits, boff, i)
        j = np.int64(_mix(w ^ np.uint64(ln)) & np.uint64(mask))
        while True:
            d = slots[j]
            if d < 0:
                d = count
                slots[j] = d
                words[d], lens[d], firsts[d] = w, ln, i
                count += 1
                break
            if words[d] == w and lens[d] == ln:
                if ln <= 8:
                    break
                a0, _ = _span(offs, bits, boff, i)
                b0, _ = _span(offs, bits, boff, firsts[d])
                same = True
                for k in range(ln):
                    if data[a0 + k] != data[b0 + k]:
                        same = False
                        break
                if same:
                    break
            j = (j + 1) & mask
        ids[i] = d
    return n, count


@_jit
def _regrow(slots, words, lens, count):
    slots = np.full(slots.size * 2, -1, np.int32)
    mask = slots.size - 1
    for d in range(count):
        j = np.int64(_mix(words[d] ^ np.uint64(lens[d])) & np.uint64(mask))
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = d
    return slots


@_jit
def _intern_column(offs, data, bits, boff, n):
    """Distinct id per string (nulls and '' share one), ids in order of first appearance, and each id's first row."""
    ids = np.empty(n, np.int32)
    firsts = np.empty(max(n, 1), np.int64)
    words = np.empty(max(n, 1), np.uint64)
    lens = np.empty(max(n, 1), np.int64)
    slots = np.full(64, -1, np.int32)
    count = 0
    i = 0
    while i < n:
        i, count = _intern_rows(offs, data, bits, boff, i, n, ids, firsts, words, lens, slots, count)
        if i < n:
            slots = _regrow(slots, words, lens, count)
    return ids, firsts[:count]


@_jit
def _encode_column(offs, data, bits, boff, n, fold, lut, pow37):
    code = np.empty(n, np.uint64)
    canon = np.empty(n, np.uint64)
    length = np.empty(n, np.int32)
    slow = np.zeros(n, np.bool_)
    for i in range(n):
        a0, a1 = _span(offs, bits, boff, i)
        code[i], canon[i], length[i], slow[i] = _encode(data, a0, a1, fold, lut, pow37)
    return code, canon, length, slow


@_jit
def _missing(offs, bits, boff, n, out, flag):
    """Set ``flag`` in ``out`` for null or empty strings."""
    for i in range(n):
        if offs[i + 1] == offs[i] or not _valid(bits, boff, i):
            out[i] |= flag


# -- de-duplication table -----------------------------------------------------------------------------------
#
# Open addressing, structure of arrays: per slot the plate code, the camera code, ``meta`` (region << 46 |
# batch epoch << 2 | state) and the last time seen (INT64_MAX in a free slot, so expiry reads one array).
# The slots are split into partitions of PART slots by the top bits of the key hash, and a batch is handled
# partition by partition (a stable scatter keeps each key's reads in time order), so the slots in use stay in
# the CPU cache instead of every probe going to memory.

PART_BITS = 13
PART = 1 << PART_BITS
MAXT = np.iinfo(np.int64).max
EMPTY, USED, TOMB = 0, 1, 2
EPOCH_MASK = (1 << 44) - 1
ROW_MASK = (1 << 40) - 1


@_inline
def _key_hash(plate, camera, region):
    return _mix(np.uint64(plate) ^ _mix(np.uint64(camera) * GOLD + np.uint64(region)))


@_inline
def _pbits(cap):
    b = 0
    while (PART << b) < cap:
        b += 1
    return b


@_inline
def _home(h, cap, pbits):
    """(partition base, position inside, inner mask) of a hash."""
    inner = min(cap, PART)
    base = np.int64(h >> np.uint64(64 - pbits)) << PART_BITS if pbits > 0 else np.int64(0)
    return base, np.int64(h & np.uint64(inner - 1)), inner - 1


@_inline
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


@_jit
def _new(cap):
    return np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.full(cap, MAXT, np.int64)


@_jit
def _rehash(tplate, tcam, tmeta, tlast, cap):
    """The used slots in a table of ``cap`` slots. Old slots are read in partition order, so the inserts stay local."""
    while True:
        nplate, ncam, nmeta, nlast = _new(cap)
        ok = True
        for s in range(tmeta.size):
            if tmeta[s] & 3 != USED:
                continue
            p, c, g = tplate[s], tcam[s], tmeta[s] >> 46
            j, _ = _locate(nplate, ncam, nmeta, _key_hash(p, c, g), p, c, g)
            if j < 0:  # a partition overflowed (never with a sane hash): more partitions
                ok = False
                break
            nplate[j], ncam[j], nmeta[j], nlast[j] = p, c, tmeta[s], tlast[s]
        if ok:
            return nplate, ncam, nmeta, nlast
        cap *= 2


@_jit
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


@_jit
def _dedup_rows(tplate, tcam, tmeta, tlast, state, epoch, window, rec, q0, dup, late, nlate):
    """The probe loop of ``_dedup`` from record ``q0``; stops early (returning the record) if a partition is full."""
    for q in range(q0, rec.shape[0]):
        r, g = rec[q, 0] & ROW_MASK, rec[q, 0] >> 40
        p, c, tr = rec[q, 1], rec[q, 2], rec[q, 3]
        s, found = _locate(tplate, tcam, tmeta, _key_hash(p, c, g), p, c, g)
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


@_jit
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
        hs[k] = _key_hash(np.int64(plate[r]), np.int64(camera[r]), np.int64(region[r]))
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
        s, _ = _locate(tplate, tcam, tmeta, _key_hash(p, c, g), p, c, g)
        tlast[s] = max(tlast[s], late[i, 1])
    return tplate, tcam, tmeta, tlast


@_jit
def _time_order(t, rows):
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


@_jit
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


@_jit
def _oldest(tlast):
    return tlast.min() if tlast.size else MAXT


@_jit
def _observe(tplate, tcam, tmeta, tlast, state, epoch, window, plate, region, camera, t):
    n = plate.size
    dup = np.zeros(n, np.bool_)
    rows = _time_order(t, np.arange(n))
    tplate, tcam, tmeta, tlast = _dedup(
        tplate, tcam, tmeta, tlast, state, epoch, window, plate, region, camera, t, rows, dup
    )
    return tplate, tcam, tmeta, tlast, dup


class HashDeduplicator:
    """``streams.core.dedup.Deduplicator`` semantics on a hash table that lives across batches (the kernel path).

    Keys are compared exactly (plate code, region code, camera code); no hash collision can merge two keys.
    """

    def __init__(self, window_ms: int):
        self.window_ms = window_ms
        self.clear()

    def __len__(self) -> int:
        return int(self.state[0])

    def observe(self, plate: np.ndarray, region: np.ndarray, camera: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
        """Mark duplicates in a batch (True = duplicate) and remember the batch's reads."""
        self.epoch += 1
        *self.table, dup = _observe(
            *self.table,
            self.state,
            self.epoch,
            self.window_ms,
            np.ascontiguousarray(plate, np.uint64),
            np.ascontiguousarray(region, np.uint16),
            np.ascontiguousarray(camera, np.uint64),
            np.ascontiguousarray(t_ms, np.int64),
        )
        return dup

    def expire(self, cutoff_ms: int) -> int:
        """Forget reads last seen before ``cutoff_ms``; returns how many were dropped."""
        cutoff_ms = max(min(int(cutoff_ms), MAXT), np.iinfo(np.int64).min)
        dropped = int(_expire(self.table[2], self.table[3], self.state, cutoff_ms))
        if self.state[1] > len(self.table[2]) // 2:  # many tombstones make probes long: rebuild
            cap = len(self.table[2])
            while cap > 1024 and 16 * self.state[0] < cap:  # shrink only far below the size batches need
                cap //= 2
            self.table = list(_rehash(*self.table, cap))
            self.state[1] = 0
        return dropped

    def clear(self) -> int:
        """Forget every read. Returns how many were held."""
        held = int(self.state[0]) if hasattr(self, "state") else 0
        self.table = list(_new(1024))
        self.state = np.zeros(2, np.int64)  # used slots, tombstones
        self.epoch = 0
        return held

    def oldest_ms(self) -> int | None:
        return int(_oldest(self.table[3])) if self.state[0] else None

    def state_dict(self) -> dict[tuple[int, int, int], int]:
        """(plate, region, camera) -> last time seen: for tests that compare it with the reference."""
        plate, cam, meta, last = self.table
        live = (meta & 3) == USED
        return {
            (int(p), int(m >> 46), int(c)): int(t)
            for p, c, m, t in zip(
                plate[live].view(np.uint64), cam[live].view(np.uint64), meta[live], last[live], strict=True
            )
        }


# -- pass 2: checks, time order, de-duplication, read counts (good rows) -----------------------------------------


@_jit
def _checks(
    missing, t, t_bits, t_boff, plate_len, plate_code, reg_id, reg_ok_d, conf, conf_bits, conf_boff,
    now, skew, max_age, codes,
):  # fmt: skip
    """Reason code per row (``validate.row_reasons`` order: the first failing check wins) and the good rows."""
    n = missing.size
    reason = np.zeros(n, np.uint8)
    good = np.empty(n, np.int64)
    ng = 0
    for i in range(n):
        if missing[i] & 1:
            reason[i] = codes[0]
        elif missing[i] & 2:
            reason[i] = codes[1]
        elif not _valid(t_bits, t_boff, i):
            reason[i] = codes[2]
        elif t[i] > now + skew:
            reason[i] = codes[3]
        elif t[i] < now - max_age:
            reason[i] = codes[4]
        elif plate_len[i] == 0:
            reason[i] = codes[5]
        elif plate_code[i] == 0:  # a valid plate never packs to 0: it has at least one non-zero symbol
            reason[i] = codes[6]
        elif not reg_ok_d[reg_id[i]]:
            reason[i] = codes[7]
        else:
            c = conf[i] if _valid(conf_bits, conf_boff, i) else np.float32(0)
            if c < 0 or c > 100 or c != c:
                reason[i] = codes[8]
            else:
                good[ng] = i
                ng += 1
    return reason, good[:ng]


@_jit
def _keys(good, reg_id, reg_code_d, cam_id, cam_code_d, n):
    region = np.empty(n, np.uint16)
    camera = np.empty(n, np.uint64)
    for i in good:
        region[i] = reg_code_d[reg_id[i]]
        camera[i] = cam_code_d[cam_id[i]]
    return region, camera


@_jit
def _groups(good, dup, t, cam_id, site_id, bucket):
    """Read counts per (window, camera, site), groups in order of first appearance; and the fresh rows."""
    ng = good.size
    gwin = np.empty(ng, np.int64)
    gcam = np.empty(ng, np.int32)
    gsite = np.empty(ng, np.int32)
    gfirst = np.empty(ng, np.int64)
    greads = np.zeros(ng, np.int64)
    gdups = np.zeros(ng, np.int64)
    ngroups = 0
    slots = np.full(64, -1, np.int32)
    fresh = np.empty(ng, np.int64)
    nf = 0
    for i in good:
        w = (t[i] - t[i] % bucket) // 1000
        cm, st = cam_id[i], site_id[i]
        if 2 * ngroups >= slots.size:
            slots = np.full(slots.size * 2, -1, np.int32)
            mk = slots.size - 1
            for g in range(ngroups):
                j = np.int64(_key_hash(gwin[g], gcam[g], gsite[g]) & np.uint64(mk))
                while slots[j] >= 0:
                    j = (j + 1) & mk
                slots[j] = g
        mask = slots.size - 1
        j = np.int64(_key_hash(w, cm, st) & np.uint64(mask))
        while True:
            g = slots[j]
            if g < 0:
                g = ngroups
                slots[j] = g
                gwin[g], gcam[g], gsite[g], gfirst[g] = w, cm, st, i
                ngroups += 1
                break
            if gwin[g] == w and gcam[g] == cm and gsite[g] == st:
                break
            j = (j + 1) & mask
        greads[g] += 1
        if dup[i]:
            gdups[g] += 1
        else:
            fresh[nf] = i
            nf += 1
    return fresh[:nf], gwin[:ngroups], gfirst[:ngroups], greads[:ngroups], gdups[:ngroups]


# -- pass 3: hot-list look-ups ---------------------------------------------------------------------------------


@_jit
def build_slots(keys):
    """Open-addressing table (load <= 1/2) of unique uint64 keys: slot -> key position, -1 empty."""
    cap = 16
    while cap < 2 * keys.size:
        cap *= 2
    slots = np.full(cap, -1, np.int32)
    mask = cap - 1
    for k in range(keys.size):
        j = np.int64(_mix(keys[k]) & np.uint64(mask))
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = k
    return slots


@_jit
def build_bloom(keys):
    """One-hash Bloom filter of the keys, 16 bits per key: most look-ups of a plate not on the list end in this
    small bitmap (in cache) instead of in the slot table and the keys (in memory when the list is large)."""
    nbits = 512
    while nbits < 16 * keys.size:
        nbits *= 2
    bloom = np.zeros(nbits // 64, np.uint64)
    shift = _bloom_shift(bloom)
    for k in range(keys.size):
        b = np.int64(_mix(keys[k]) >> shift)
        bloom[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return bloom


@_jit
def _bloom_shift(bloom):
    bits = 0
    while (np.int64(1) << bits) < bloom.size * 64:
        bits += 1
    return np.uint64(64 - bits)


@_inline
def _find(bloom, shift, slots, keys, code):
    h = _mix(code)
    b = np.int64(h >> shift)
    if (bloom[b >> 6] >> np.uint64(b & 63)) & np.uint64(1) == 0:
        return -1
    mask = slots.size - 1
    j = np.int64(h & np.uint64(mask))
    while True:
        k = slots[j]
        if k < 0:
            return -1
        if keys[k] == code:
            return k
        j = (j + 1) & mask


@_inline
def _emit_run(out, m, r, k, start, count, order, kind, rank):
    """Write the entries of key ``k``'s run; returns the new length, or -1 when ``out`` is full."""
    if k >= 0:
        if m + count[k] > out.shape[0]:
            return -1
        for q in range(start[k], start[k] + count[k]):
            out[m, 0], out[m, 1], out[m, 2], out[m, 3] = r, order[q], kind, rank
            m += 1
    return m


@_jit
def _probe_rows(
    i0, out, fresh, plate_code, canon,
    l_offs, l_bits, l_boff, c_offs, c_data, c_bits, c_boff, slow_items, slow_codes,
    fold, lut, pow37,
    p_bloom, p_shift, p_slots, p_keys, p_start, p_count, p_order,
    c_bloom, c_shift, c_slots, c_keys, c_start, c_count, c_order,
):  # fmt: skip
    """Look-ups of fresh reads ``i0``..: (read row, entry, kind, candidate rank) for every look-up that hits, kinds
    as in ``streams.core.match``. Returns (next read, pairs written), stopping before a read whose pairs do not fit."""
    m = 0
    for i in range(i0, fresh.size):
        r = fresh[i]
        m0 = m
        code = plate_code[r]
        m = _emit_run(out, m, r, _find(p_bloom, p_shift, p_slots, p_keys, code), p_start, p_count, p_order, 0, -1)
        if m >= 0 and _valid(l_bits, l_boff, r):
            for item in range(l_offs[r], l_offs[r + 1]):
                a0, a1 = _span(c_offs, c_bits, c_boff, item)
                cc, _, ln, slow = _encode(c_data, a0, a1, fold, lut, pow37)
                if slow:
                    cc = slow_codes[np.searchsorted(slow_items, item)]
                if cc != 0 and cc != code:
                    k = _find(p_bloom, p_shift, p_slots, p_keys, cc)
                    m = _emit_run(out, m, r, k, p_start, p_count, p_order, 1, item - l_offs[r])
                    if m < 0:
                        break
        if m >= 0:
            k = _find(c_bloom, c_shift, c_slots, c_keys, canon[r])
            m = _emit_run(out, m, r, k, c_start, c_count, c_order, 2, -1)
        if m < 0:
            return i, m0
    return fresh.size, m


@_jit
def _nonascii_items(offs, data, bits, boff, n):
    flag = np.zeros(n, np.bool_)
    for i in range(n):
        a0, a1 = _span(offs, bits, boff, i)
        for k in range(a0, a1):
            if data[k] >= 128:
                flag[i] = True
                break
    return np.flatnonzero(flag)


# -- Python glue ------------------------------------------------------------------------------------------------


def _one(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_large_string(col.type):
        col = col.cast(pa.string())
    return col


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _bits(arr: pa.Array) -> tuple[np.ndarray, int]:
    b = arr.buffers()[0]
    if b is None or arr.null_count == 0:
        return _NOBITS, 0
    return np.frombuffer(b, np.uint8), arr.offset


def _strings(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(offsets of the n strings, data bytes, validity bits, bit offset), zero-copy."""
    arr = _one(arr)
    n = len(arr)
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], np.int32, count=n + 1, offset=arr.offset * 4) if n else _ro(np.zeros(1, np.int32))
    data = np.frombuffer(bufs[2], np.uint8) if n and bufs[2] is not None and bufs[2].size else _EMPTY_U8
    bits, boff = _bits(arr)
    return offs, data, bits, boff


def _fixed(arr: pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray, int]:
    arr = _one(arr)
    n = len(arr)
    if n == 0:
        return _ro(np.zeros(0, dtype)), _NOBITS, 0
    vals = np.frombuffer(arr.buffers()[1], dtype, count=n, offset=arr.offset * np.dtype(dtype).itemsize)
    bits, boff = _bits(arr)
    return vals, bits, boff


@dataclass
class Scanned:
    """What the kernel knows of a batch after the row checks and de-duplication; indices are rows of the batch."""

    reason: np.ndarray  # uint8 per row, index into REASON_CODES (0 = good)
    duplicate: np.ndarray  # bool per row (meaningful for good rows)
    good: np.ndarray  # int64 rows that passed the checks, in row order
    fresh: np.ndarray  # int64 good rows that are not duplicates, in row order
    plate_code: np.ndarray  # uint64 per row
    canon: np.ndarray  # uint64 per row: the confusable-folded code
    region_code: np.ndarray  # uint16 per distinct region
    region_id: np.ndarray  # int32 per row
    region_text: pa.Array  # normalised region per distinct region
    t_ms: np.ndarray  # int64 per row (undefined where captured_at is null)
    group_window_s: np.ndarray  # read counts: window start (s) per group
    group_first: np.ndarray  # a row of each group (its camera and site)
    group_reads: np.ndarray
    group_duplicates: np.ndarray


class Stopwatch:
    """Seconds per stage, summed over batches (``Processor.stopwatch``: benchmarks and profiling only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._t
        self._t = now


def scan(
    reads: pa.Table,
    now_ms: int,
    limits: Limits,
    reason_codes: np.ndarray,
    dedup: HashDeduplicator,
    bucket_ms: int,
    lut: np.ndarray,
    sw: Stopwatch | None = None,
) -> Scanned:
    """Passes 1 and 2 over a batch (see the module doc); updates ``dedup``."""
    n = reads.num_rows
    rid_offs, _, rid_bits, rid_boff = _strings(reads["read_id"])
    cam = _strings(reads["camera_id"])
    site = _strings(reads["site_id"])
    reg = _strings(reads["region"])
    plate = _strings(reads["plate"])
    t, t_bits, t_boff = _fixed(reads["captured_at"], np.int64)
    conf, conf_bits, conf_boff = _fixed(reads["confidence"], np.float32)
    lut8 = np.ascontiguousarray(lut, np.uint8)
    missing = np.zeros(n, np.uint8)  # bit 0: read id, bit 1: camera
    _missing(rid_offs, rid_bits, rid_boff, n, missing, 1)
    _missing(cam[0], cam[2], cam[3], n, missing, 2)
    if sw:
        sw.lap("missing fields")
    plate_code, canon, plate_len, slow = _encode_column(*plate, n, FOLD, lut8, _POW37)
    if slow.any():  # non-ASCII bytes: the exact Arrow normalisation, for these rows only
        rows = np.flatnonzero(slow)
        code, _, sym, length = encode_plates_sym(normalise_plates(_one(reads["plate"]).take(pa.array(rows))))
        plate_code[rows], plate_len[rows] = code, length
        canon[rows] = np.where(code != 0, pack(lut[sym]), 0)
    if sw:
        sw.lap("plate normalise+encode")
    cam_id, cam_first = _intern_column(*cam, n)
    site_id, _ = _intern_column(*site, n)
    reg_id, reg_first = _intern_column(*reg, n)
    if sw:
        sw.lap("intern camera/site/region")
    region_text = normalise_regions(_one(reads["region"]).take(pa.array(reg_first)))
    reg_code_d, reg_ok_d = encode_regions(region_text)
    cam_code_d = stable_codes(_one(reads["camera_id"]).take(pa.array(cam_first)))
    if sw:
        sw.lap("per distinct region/camera")
    reason, good = _checks(
        missing, t, t_bits, t_boff, plate_len, plate_code, reg_id, reg_ok_d, conf, conf_bits, conf_boff,
        now_ms, limits.max_future_skew_ms, limits.max_age_ms, reason_codes,
    )  # fmt: skip
    region, camera = _keys(good, reg_id, reg_code_d, cam_id, cam_code_d, n)
    if sw:
        sw.lap("row checks")
    order = _time_order(t, good)
    if sw:
        sw.lap("time order")
    dedup.epoch += 1
    dup = np.zeros(n, np.bool_)
    dedup.table = list(
        _dedup(*dedup.table, dedup.state, dedup.epoch, dedup.window_ms, plate_code, region, camera, t, order, dup)
    )
    if sw:
        sw.lap("dedup")
    fresh, gwin, gfirst, greads, gdups = _groups(good, dup, t, cam_id, site_id, bucket_ms)
    if sw:
        sw.lap("read counts")
    return Scanned(
        reason, dup, good, fresh, plate_code, canon, reg_code_d, reg_id, region_text, t,
        gwin, gfirst, greads, gdups,
    )  # fmt: skip


def probe(reads: pa.Table, s: Scanned, seg: object, lut: np.ndarray) -> np.ndarray:
    """Raw (read row, entry, kind, candidate rank) look-up hits of the fresh reads in one hot-list segment."""
    cands = _one(reads["candidates"])
    n = len(cands)
    l_offs = (
        np.frombuffer(cands.buffers()[1], np.int32, count=n + 1, offset=cands.offset * 4)
        if n
        else _ro(np.zeros(1, np.int32))
    )
    l_bits, l_boff = _bits(cands)
    item_plate = cands.values.field("plate") if n else pa.array([], pa.string())
    c_offs, c_data, c_bits, c_boff = _strings(item_plate)
    slow_items = _ro(np.zeros(0, np.int64))
    slow_codes = _ro(np.zeros(0, np.uint64))
    if len(c_data) and c_data.max() >= 128:
        slow_items = _nonascii_items(c_offs, c_data, c_bits, c_boff, len(item_plate))
        code, _ = _encode_slow(item_plate.take(pa.array(slow_items)))
        slow_codes = code
    bp, bc = seg.by_plate, seg.by_canonical
    lut8 = np.ascontiguousarray(lut, np.uint8)
    p_shift, c_shift = _bloom_shift(seg.plate_bloom), _bloom_shift(seg.canonical_bloom)
    parts = []
    i, size = 0, 1024
    while True:
        out = np.empty((size, 4), np.int64)
        i_next, m = _probe_rows(
            i, out, s.fresh, s.plate_code, s.canon,
            l_offs, l_bits, l_boff, c_offs, c_data, c_bits, c_boff, slow_items, slow_codes,
            FOLD, lut8, _POW37,
            seg.plate_bloom, p_shift, seg.plate_slots, bp.keys, bp.start, bp.count, bp.order,
            seg.canonical_bloom, c_shift, seg.canonical_slots, bc.keys, bc.start, bc.count, bc.order,
        )  # fmt: skip
        parts.append(out[:m])
        if i_next == len(s.fresh):
            return np.concatenate(parts) if len(parts) > 1 else parts[0]
        if i_next == i:  # one read's pairs do not fit: a bigger buffer
            size *= 2
        i = i_next


def _encode_slow(plates: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    code, ok, _, _ = encode_plates_sym(normalise_plates(plates))
    return code, ok


def symbols(code: np.ndarray) -> np.ndarray:
    """Packed plate codes -> their (n, 12) symbol rows (the inverse of ``normalise.pack``)."""
    out = np.zeros((len(code), MAX_PLATE_LEN), np.uint8)
    c = code.astype(np.uint64, copy=True)
    for j in range(MAX_PLATE_LEN - 1, -1, -1):
        out[:, j] = (c % np.uint64(37)).astype(np.uint8)
        c //= np.uint64(37)
    return out


_warm = False


def warm_up() -> None:
    """Load (or compile, the first time on a machine) every kernel, so a worker's first batch does not pay for it."""
    global _warm
    if _warm:
        return
    from streams.core.hotlist import HotList

    reads = pa.table(
        {
            "read_id": ["r1", "r2", "r3"],
            "camera_id": ["c", "c", None],
            "site_id": ["s", None, "s"],
            "captured_at": pa.array([2, 1, 3], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "plate": ["ab1", "AB1", "é"],
            "region": ["us-ca", None, "CA"],
            "confidence": pa.array([50.0, None, 1.0], pa.float32()),
            "candidates": pa.array(
                [[{"plate": "AB2", "confidence": 1.0}], None, []],
                pa.list_(pa.struct([("plate", pa.string()), ("confidence", pa.float32())])),
            ),
        }
    )
    lut = np.arange(37, dtype=np.uint8)
    d = HashDeduplicator(10)
    s = scan(reads, 3, Limits(0, 10), np.arange(1, 10, dtype=np.uint8), d, 1000, lut)
    probe(reads, s, HotList.empty(), lut)
    d.observe(np.zeros(2, np.uint64), np.zeros(2, np.uint16), np.zeros(2, np.uint64), np.array([2, 1], np.int64))
    d.expire(1)
    d.oldest_ms()
    _warm = True
