"""The compiled core: one batch in a few fused passes over the Arrow buffers (numba), instead of a dozen numpy passes.

Same semantics as the numpy reference path (``Processor(..., ProcessorConfig(engine="reference"))``); the property
tests in ``tests/core/test_kernel.py`` hold the two to identical results. What runs where:

1. ``_scan`` (one pass over every row): missing-field checks, plate normalise + base-37 encode (and the confusable
   form) for ASCII plates, and interning of camera, site and region strings into per-batch distinct ids.
2. Python, per *distinct* value only: region normalisation (Arrow), camera ids' stable codes (blake2b), and the
   exact Arrow normalisation of the rare plates holding non-ASCII bytes (Unicode upper-casing, the ``·``).
3. ``_core`` (one pass over good rows): row checks (first failing check wins), time order (counting sort), the
   de-duplication probe/insert into an open-addressing hash table that lives across batches, and read counts per
   (window, camera, site) in first-appearance order.
4. ``_probe`` (fresh reads, per hot-list segment): plate, candidate and confusable look-ups in open-addressing
   tables built with the hot list. The few (read, entry) pairs found are resolved by ``match.resolve``, shared
   with the reference path.
"""

from __future__ import annotations

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

_jit = nb.njit(cache=True, nogil=True)

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

# de-duplication table: one 64-byte row per slot
PLATE, CAMERA, REGION, LAST, BATCH_LAST, META = range(6)
_ROW = 8
EMPTY, USED, TOMB = 0, 1, 2


# -- small compiled helpers ------------------------------------------------------------------------------


@_jit
def _mix(x):
    x = np.uint64(x)
    x ^= x >> np.uint64(30)
    x *= M1
    x ^= x >> np.uint64(27)
    x *= M2
    x ^= x >> np.uint64(31)
    return x


@_jit
def _valid(bits, off, i):
    if bits.size == 0:
        return True
    j = off + i
    return ((bits[j >> 3] >> (j & 7)) & 1) == 1


@_jit
def _span(offs, bits, boff, i):
    """Byte range of string ``i``; a null string is empty (as ``fill_null('')`` makes it)."""
    if not _valid(bits, boff, i):
        return 0, 0
    return offs[i], offs[i + 1]


@_jit
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


@_jit
def _hash_bytes(data, start, end):
    h = np.uint64(0xCBF29CE484222325)
    for k in range(start, end):
        h = (h ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
    return _mix(h)


@_jit
def _same_bytes(data, a0, a1, b0, b1):
    if a1 - a0 != b1 - b0:
        return False
    for k in range(a1 - a0):
        if data[a0 + k] != data[b0 + k]:
            return False
    return True


@_jit
def _grow_intern(slots, hashes, count):
    cap = slots.size * 2
    new = np.full(cap, -1, np.int32)
    mask = cap - 1
    for d in range(count):
        j = np.int64(hashes[d] & np.uint64(mask))
        while new[j] >= 0:
            j = (j + 1) & mask
        new[j] = d
    return new


@_jit
def _intern(offs, data, bits, boff, i, slots, hashes, firsts, count):
    """Distinct id of string ``i`` (nulls and '' share one); ``count`` is how many ids exist. Returns (id, count)."""
    a0, a1 = _span(offs, bits, boff, i)
    h = _hash_bytes(data, a0, a1)
    mask = slots.size - 1
    j = np.int64(h & np.uint64(mask))
    while True:
        d = slots[j]
        if d < 0:
            slots[j] = count
            hashes[count] = h
            firsts[count] = i
            return count, count + 1
        if hashes[d] == h:
            b0, b1 = _span(offs, bits, boff, firsts[d])
            if _same_bytes(data, a0, a1, b0, b1):
                return np.int64(d), count
        j = (j + 1) & mask


# -- pass 1: every row ------------------------------------------------------------------------------------


@_jit
def _scan(
    n,
    rid_offs, rid_bits, rid_boff,
    cam_offs, cam_data, cam_bits, cam_boff,
    site_offs, site_data, site_bits, site_boff,
    reg_offs, reg_data, reg_bits, reg_boff,
    pl_offs, pl_data, pl_bits, pl_boff,
    fold, lut, pow37,
):  # fmt: skip
    missing = np.zeros(n, np.uint8)  # bit 0: read id, bit 1: camera
    plate_code = np.empty(n, np.uint64)
    canon = np.empty(n, np.uint64)
    plate_len = np.empty(n, np.int32)
    slow = np.zeros(n, np.bool_)
    ids = np.empty((3, n), np.int32)
    firsts = np.empty((3, max(n, 1)), np.int64)
    hashes = np.empty((3, max(n, 1)), np.uint64)
    counts = np.zeros(3, np.int64)
    cam_slots = np.full(64, -1, np.int32)
    site_slots = np.full(64, -1, np.int32)
    reg_slots = np.full(64, -1, np.int32)
    for i in range(n):
        if not _valid(rid_bits, rid_boff, i) or rid_offs[i + 1] == rid_offs[i]:
            missing[i] |= 1
        if not _valid(cam_bits, cam_boff, i) or cam_offs[i + 1] == cam_offs[i]:
            missing[i] |= 2

        if 2 * counts[0] >= cam_slots.size:
            cam_slots = _grow_intern(cam_slots, hashes[0], counts[0])
        ids[0, i], counts[0] = _intern(
            cam_offs, cam_data, cam_bits, cam_boff, i, cam_slots, hashes[0], firsts[0], counts[0]
        )
        if 2 * counts[1] >= site_slots.size:
            site_slots = _grow_intern(site_slots, hashes[1], counts[1])
        ids[1, i], counts[1] = _intern(
            site_offs, site_data, site_bits, site_boff, i, site_slots, hashes[1], firsts[1], counts[1]
        )
        if 2 * counts[2] >= reg_slots.size:
            reg_slots = _grow_intern(reg_slots, hashes[2], counts[2])
        ids[2, i], counts[2] = _intern(
            reg_offs, reg_data, reg_bits, reg_boff, i, reg_slots, hashes[2], firsts[2], counts[2]
        )

        a0, a1 = _span(pl_offs, pl_bits, pl_boff, i)
        plate_code[i], canon[i], plate_len[i], slow[i] = _encode(pl_data, a0, a1, fold, lut, pow37)
    return missing, plate_code, canon, plate_len, slow, ids, firsts, counts


# -- de-duplication table -----------------------------------------------------------------------------------


def _new_table(cap: int) -> np.ndarray:
    """``cap`` rows of 64 bytes, the first one on a 64-byte boundary (one cache line per probe)."""
    raw = np.zeros(cap * _ROW + _ROW, np.int64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip : skip + cap * _ROW].reshape(cap, _ROW)


@_jit
def _rehash(tab, cap):
    raw = np.zeros(cap * 8 + 8, np.int64)
    skip = 0  # alignment is best effort here: numba cannot read the address
    new = raw[skip : skip + cap * 8].reshape(cap, 8)
    mask = cap - 1
    used = 0
    for s in range(tab.shape[0]):
        if tab[s, META] & 3 != USED:
            continue
        j = np.int64(_key_hash(tab[s, PLATE], tab[s, CAMERA], tab[s, REGION]) & np.uint64(mask))
        while new[j, META] & 3 != EMPTY:
            j = (j + 1) & mask
        for c in range(8):
            new[j, c] = tab[s, c]
        used += 1
    return new


@_jit
def _key_hash(plate, camera, region):
    return _mix(np.uint64(plate) ^ _mix(np.uint64(camera) * GOLD + np.uint64(region)))


@_jit
def _dedup(tab, state, epoch, window, plate, region, camera, t, rows, dup):
    """Mark ``dup[r]`` for ``r`` in ``rows`` (time order): a read is a duplicate when the previous read of its
    (plate, region, camera) in this batch came less than ``window`` before it or, for the batch's first read of the
    key, when the stored last time is less than ``window`` away on either side. Stores the latest time per key.
    ``state`` = [used, tombstones]. Returns the table (a new one when it had to grow)."""
    for r in rows:
        if 2 * (state[0] + state[1] + 1) > tab.shape[0]:
            cap = 1024
            while cap < 4 * (state[0] + 1):
                cap *= 2
            tab = _rehash(tab, cap)
            state[1] = 0
        p, c, g, tr = np.int64(plate[r]), np.int64(camera[r]), np.int64(region[r]), t[r]
        mask = tab.shape[0] - 1
        j = np.int64(_key_hash(p, c, g) & np.uint64(mask))
        free = -1
        while True:
            kind = tab[j, META] & 3
            if kind == EMPTY:
                break
            if kind == TOMB:
                if free < 0:
                    free = j
            elif tab[j, PLATE] == p and tab[j, CAMERA] == c and tab[j, REGION] == g:
                break
            j = (j + 1) & mask
        if tab[j, META] & 3 == USED:
            if tab[j, META] >> 2 == epoch:  # seen earlier in this batch: compare with that read
                dup[r] = tr - tab[j, BATCH_LAST] < window
            else:
                dup[r] = abs(tr - tab[j, LAST]) < window
            tab[j, BATCH_LAST] = tr
            if tr > tab[j, LAST]:
                tab[j, LAST] = tr
            tab[j, META] = (epoch << 2) | USED
        else:
            if free >= 0:
                j = free
                state[1] -= 1
            tab[j, PLATE], tab[j, CAMERA], tab[j, REGION] = p, c, g
            tab[j, LAST] = tr
            tab[j, BATCH_LAST] = tr
            tab[j, META] = (epoch << 2) | USED
            state[0] += 1
            dup[r] = False
    return tab


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
def _expire(tab, state, cutoff):
    dropped = 0
    for s in range(tab.shape[0]):
        if tab[s, META] & 3 == USED and tab[s, LAST] < cutoff:
            tab[s, META] = TOMB
            dropped += 1
    state[0] -= dropped
    state[1] += dropped
    return dropped


@_jit
def _oldest(tab):
    best = np.iinfo(np.int64).max
    found = False
    for s in range(tab.shape[0]):
        if tab[s, META] & 3 == USED:
            found = True
            best = min(best, tab[s, LAST])
    return found, best


@_jit
def _observe(tab, state, epoch, window, plate, region, camera, t):
    n = plate.size
    dup = np.zeros(n, np.bool_)
    rows = _time_order(t, np.arange(n))
    tab = _dedup(tab, state, epoch, window, plate, region, camera, t, rows, dup)
    return tab, dup


class HashDeduplicator:
    """``streams.core.dedup.Deduplicator`` semantics on a hash table that lives across batches (the kernel path).

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
        self._tab, dup = _observe(
            self._tab,
            self._state,
            self._epoch,
            self.window_ms,
            np.ascontiguousarray(plate, np.uint64),
            np.ascontiguousarray(region, np.uint16),
            np.ascontiguousarray(camera, np.uint64),
            np.ascontiguousarray(t_ms, np.int64),
        )
        return dup

    def expire(self, cutoff_ms: int) -> int:
        """Forget reads last seen before ``cutoff_ms``; returns how many were dropped."""
        cutoff_ms = max(min(int(cutoff_ms), np.iinfo(np.int64).max), np.iinfo(np.int64).min)
        dropped = int(_expire(self._tab, self._state, cutoff_ms))
        if self._state[1] > self._tab.shape[0] // 4:  # many tombstones: probe chains get long
            self._tab = _rehash(self._tab, self._tab.shape[0])
            self._state[1] = 0
        return dropped

    def clear(self) -> int:
        """Forget every read. Returns how many were held."""
        held = int(self._state[0]) if hasattr(self, "_state") else 0
        self._tab = _new_table(1024)
        self._state = np.zeros(2, np.int64)  # used, tombstones
        self._epoch = 0
        return held

    def oldest_ms(self) -> int | None:
        found, best = _oldest(self._tab)
        return int(best) if found else None

    def state(self) -> dict[tuple[int, int, int], int]:
        """(plate, region, camera) -> last time seen: for tests that compare it with the reference."""
        live = self._tab[(self._tab[:, META] & 3) == USED]
        return {
            (int(np.uint64(p)), int(g), int(np.uint64(c))): int(t)
            for p, g, c, t in zip(
                live[:, PLATE].view(np.uint64),
                live[:, REGION],
                live[:, CAMERA].view(np.uint64),
                live[:, LAST],
                strict=True,
            )
        }


# -- pass 2: checks, time order, de-duplication, read counts --------------------------------------------------


@_jit
def _core(
    missing, t, t_bits, t_boff, plate_len, plate_code, reg_id, reg_code_d, reg_ok_d,
    cam_id, cam_code_d, site_id, conf, conf_bits, conf_boff,
    now, skew, max_age, codes, window, bucket, tab, state, epoch,
):  # fmt: skip
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
    good = good[:ng]

    region = np.empty(n, np.uint16)
    camera = np.empty(n, np.uint64)
    for i in good:
        region[i] = reg_code_d[reg_id[i]]
        camera[i] = cam_code_d[cam_id[i]]
    dup = np.zeros(n, np.bool_)
    tab = _dedup(tab, state, epoch, window, plate_code, region, camera, t, _time_order(t, good), dup)

    # read counts per (window, camera, site), groups in order of first appearance (as Arrow's group_by)
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
    return reason, dup, good, fresh[:nf], tab, gwin[:ngroups], gfirst[:ngroups], greads[:ngroups], gdups[:ngroups]


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
def _find(slots, keys, code):
    mask = slots.size - 1
    j = np.int64(_mix(code) & np.uint64(mask))
    while True:
        k = slots[j]
        if k < 0:
            return -1
        if keys[k] == code:
            return k
        j = (j + 1) & mask


@_jit
def _emit(out, m, r, e, kind, rank):
    if m == out.shape[0]:
        bigger = np.empty((2 * m, 4), np.int64)
        bigger[:m] = out
        out = bigger
    out[m, 0], out[m, 1], out[m, 2], out[m, 3] = r, e, kind, rank
    return out


@_jit
def _emit_run(out, m, r, k, start, count, order, kind, rank):
    if k >= 0:
        for q in range(start[k], start[k] + count[k]):
            out = _emit(out, m, r, order[q], kind, rank)
            m += 1
    return out, m


@_jit
def _probe(
    fresh, plate_code, canon,
    l_offs, l_bits, l_boff, c_offs, c_data, c_bits, c_boff, slow_items, slow_codes,
    fold, lut, pow37,
    p_slots, p_keys, p_start, p_count, p_order,
    c_slots, c_keys, c_start, c_count, c_order,
):  # fmt: skip
    """(read row, entry, kind, candidate rank) for every look-up that hits; kinds as in ``streams.core.match``."""
    out = np.empty((64, 4), np.int64)
    m = 0
    for r in fresh:
        code = plate_code[r]
        out, m = _emit_run(out, m, r, _find(p_slots, p_keys, code), p_start, p_count, p_order, 0, -1)
        if _valid(l_bits, l_boff, r):
            for item in range(l_offs[r], l_offs[r + 1]):
                a0, a1 = _span(c_offs, c_bits, c_boff, item)
                cc, _, ln, slow = _encode(c_data, a0, a1, fold, lut, pow37)
                if slow:
                    q = np.searchsorted(slow_items, item)
                    cc = slow_codes[q]
                if cc != 0 and cc != code:
                    k = _find(p_slots, p_keys, cc)
                    out, m = _emit_run(out, m, r, k, p_start, p_count, p_order, 1, item - l_offs[r])
        out, m = _emit_run(out, m, r, _find(c_slots, c_keys, canon[r]), c_start, c_count, c_order, 2, -1)
    return out[:m]


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


def scan(
    reads: pa.Table,
    now_ms: int,
    limits: object,
    reason_codes: np.ndarray,
    dedup: HashDeduplicator,
    bucket_ms: int,
    lut: np.ndarray,
) -> Scanned:
    """Passes 1 and 2 over a batch (see the module doc); updates ``dedup``."""
    n = reads.num_rows
    rid_offs, _, rid_bits, rid_boff = _strings(reads["read_id"])
    cam = _strings(reads["camera_id"])
    site = _strings(reads["site_id"])
    reg = _strings(reads["region"])
    plate = _strings(reads["plate"])
    lut8 = np.ascontiguousarray(lut, np.uint8)
    missing, plate_code, canon, plate_len, slow, ids, firsts, counts = _scan(
        n, rid_offs, rid_bits, rid_boff, *cam, *site, *reg, *plate, FOLD, lut8, _POW37
    )
    if slow.any():  # non-ASCII bytes: the exact Arrow normalisation, for these rows only
        rows = np.flatnonzero(slow)
        code, _, sym, length = encode_plates_sym(normalise_plates(_one(reads["plate"]).take(pa.array(rows))))
        plate_code[rows], plate_len[rows] = code, length
        canon[rows] = np.where(code != 0, pack(lut[sym]), 0)

    reg_first = pa.array(firsts[2, : counts[2]])
    region_text = normalise_regions(_one(reads["region"]).take(reg_first))
    reg_code_d, reg_ok_d = encode_regions(region_text)
    cam_code_d = stable_codes(_one(reads["camera_id"]).take(pa.array(firsts[0, : counts[0]])))

    t, t_bits, t_boff = _fixed(reads["captured_at"], np.int64)
    conf, conf_bits, conf_boff = _fixed(reads["confidence"], np.float32)
    dedup._epoch += 1
    reason, dup, good, fresh, dedup._tab, gwin, gfirst, greads, gdups = _core(
        missing, t, t_bits, t_boff, plate_len, plate_code, ids[2], reg_code_d, reg_ok_d,
        ids[0], cam_code_d, ids[1], conf, conf_bits, conf_boff,
        now_ms, limits.max_future_skew_ms, limits.max_age_ms, reason_codes,
        dedup.window_ms, bucket_ms, dedup._tab, dedup._state, dedup._epoch,
    )  # fmt: skip
    return Scanned(
        reason, dup, good, fresh, plate_code, canon, reg_code_d, ids[2], region_text, t,
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
    return _probe(
        s.fresh, s.plate_code, s.canon,
        l_offs, l_bits, l_boff, c_offs, c_data, c_bits, c_boff, slow_items, slow_codes,
        FOLD, np.ascontiguousarray(lut, np.uint8), _POW37,
        seg.plate_slots, bp.keys, bp.start, bp.count, bp.order,
        seg.canonical_slots, bc.keys, bc.start, bc.count, bc.order,
    )  # fmt: skip


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
    from streams.core.validate import Limits

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
