"""Hot-list look-ups in compiled code: per key set a Bloom filter in front of an open-addressing table (built with
the hot list, ``build_bloom``/``build_slots``), and the probe of the fresh reads of a batch (``probe``).

Per fresh read: its plate, its candidates and its confusable-folded form are looked up; every look-up that hits
yields (read row, entry, kind, candidate rank) pairs, kinds as in ``streams.model.match_kinds``. The caller resolves the
pairs (``match.resolve_pairs``), as the numpy path does.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pyarrow as pa

from streams.core.compiled.buffers import is_valid, list_offsets, read_only, span, string_buffers, validity
from streams.core.compiled.jit import inline, jit, mix
from streams.core.compiled.strings import FOLD, POW37, encode_plate, encode_plates_exactly, nonascii_items
from streams.core.normalise import one_array
from streams.model.match_kinds import CANDIDATE, CONFUSABLE, EXACT


class KeyRuns(Protocol):
    """Unique sorted keys and the run of entry positions of each (``streams.core.hotlist.SortedKeys``)."""

    keys: np.ndarray
    start: np.ndarray  # len(keys) + 1: key k's run is order[start[k]:start[k + 1]]
    order: np.ndarray


class LookupTables(Protocol):
    """What ``probe`` reads of a hot-list segment (``streams.core.hotlist.HotList``)."""

    by_plate: KeyRuns
    by_canonical: KeyRuns
    plate_slots: np.ndarray
    canonical_slots: np.ndarray
    plate_bloom: np.ndarray
    canonical_bloom: np.ndarray


@jit
def build_slots(keys):
    """Open-addressing table (load <= 2/3) of unique uint64 keys: slot -> key position, -1 empty. Most look-ups of
    a key not in it end in the Bloom filter in front (``build_bloom``)."""
    cap = 16
    while 2 * cap < 3 * keys.size:
        cap *= 2
    slots = np.full(cap, -1, np.int32)
    mask = cap - 1
    for k in range(keys.size):
        j = np.int64(mix(keys[k]) & np.uint64(mask))
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = k
    return slots


@jit
def build_bloom(keys):
    """One-hash Bloom filter of the keys, 16 bits per key: most look-ups of a plate not on the list end in this
    small bitmap (in cache) instead of in the slot table and the keys (in memory when the list is large)."""
    nbits = 512
    while nbits < 16 * keys.size:
        nbits *= 2
    bloom = np.zeros(nbits // 64, np.uint64)
    shift = bloom_shift(bloom)
    for k in range(keys.size):
        b = np.int64(mix(keys[k]) >> shift)
        bloom[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return bloom


@jit
def bloom_shift(bloom):
    bits = 0
    while (np.int64(1) << bits) < bloom.size * 64:
        bits += 1
    return np.uint64(64 - bits)


@inline
def _find(bloom, shift, slots, keys, code):
    h = mix(code)
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


@inline
def _emit_run(out, m, r, k, start, order, kind, rank):
    """Write the entries of key ``k``'s run; returns the new length, or -1 when ``out`` is full."""
    if k >= 0:
        q0, q1 = np.int64(start[k]), np.int64(start[k + 1])
        if m + q1 - q0 > out.shape[0]:
            return -1
        for q in range(q0, q1):
            out[m, 0], out[m, 1], out[m, 2], out[m, 3] = r, order[q], kind, rank
            m += 1
    return m


@jit
def _probe_rows(
    i0, out, fresh, plate_code, canon,
    l_offs, l_bits, l_boff, c_offs, c_data, c_bits, c_boff, slow_items, slow_codes,
    fold, lut, pow37,
    p_bloom, p_shift, p_slots, p_keys, p_start, p_order,
    c_bloom, c_shift, c_slots, c_keys, c_start, c_order,
):  # fmt: skip
    """Look-ups of fresh reads ``i0``..: (read row, entry, kind, candidate rank) for every look-up that hits, kinds
    from ``streams.model.match_kinds``. Returns (next read, pairs written), stopping before a read whose pairs do
    not fit."""
    m = 0
    for i in range(i0, fresh.size):
        r = fresh[i]
        m0 = m
        code = plate_code[r]
        m = _emit_run(out, m, r, _find(p_bloom, p_shift, p_slots, p_keys, code), p_start, p_order, EXACT, -1)
        if m >= 0 and is_valid(l_bits, l_boff, r):
            for item in range(l_offs[r], l_offs[r + 1]):
                a0, a1 = span(c_offs, c_bits, c_boff, item)
                cc, _, ln, slow = encode_plate(c_data, a0, a1, fold, lut, pow37)
                if slow:
                    cc = slow_codes[np.searchsorted(slow_items, item)]
                if cc != 0 and cc != code:
                    k = _find(p_bloom, p_shift, p_slots, p_keys, cc)
                    m = _emit_run(out, m, r, k, p_start, p_order, CANDIDATE, item - l_offs[r])
                    if m < 0:
                        break
        if m >= 0:
            k = _find(c_bloom, c_shift, c_slots, c_keys, canon[r])
            m = _emit_run(out, m, r, k, c_start, c_order, CONFUSABLE, -1)
        if m < 0:
            return i, m0
    return fresh.size, m


def probe(
    candidates: pa.ChunkedArray,
    fresh: np.ndarray,
    plate_code: np.ndarray,
    canon: np.ndarray,
    seg: LookupTables,
    lut: np.ndarray,
) -> np.ndarray:
    """Raw (read row, entry, kind, candidate rank) look-up hits of the ``fresh`` rows in one hot-list segment.

    ``candidates``: the batch's candidates column; ``plate_code``/``canon``: the plate's code and confusable-folded
    code per row of the batch."""
    cands = one_array(candidates)
    n = len(cands)
    l_offs = list_offsets(cands)
    l_bits, l_boff = validity(cands)
    item_plate = cands.values.field("plate") if n else pa.array([], pa.string())
    c_offs, c_data, c_bits, c_boff = string_buffers(item_plate)
    slow_items = read_only(np.zeros(0, np.int64))
    slow_codes = read_only(np.zeros(0, np.uint64))
    if len(c_data) and c_data.max() >= 128:
        slow_items = nonascii_items(c_offs, c_data, c_bits, c_boff, len(item_plate))
        slow_codes, _ = encode_plates_exactly(item_plate.take(pa.array(slow_items)))
    bp, bc = seg.by_plate, seg.by_canonical
    lut8 = np.ascontiguousarray(lut, np.uint8)
    p_shift, c_shift = bloom_shift(seg.plate_bloom), bloom_shift(seg.canonical_bloom)
    parts = []
    i, size = 0, 1024
    while True:
        out = np.empty((size, 4), np.int64)
        i_next, m = _probe_rows(
            i, out, fresh, plate_code, canon,
            l_offs, l_bits, l_boff, c_offs, c_data, c_bits, c_boff, slow_items, slow_codes,
            FOLD, lut8, POW37,
            seg.plate_bloom, p_shift, seg.plate_slots, bp.keys, bp.start, bp.order,
            seg.canonical_bloom, c_shift, seg.canonical_slots, bc.keys, bc.start, bc.order,
        )  # fmt: skip
        parts.append(out[:m])
        if i_next == len(fresh):
            return np.concatenate(parts) if len(parts) > 1 else parts[0]
        if i_next == i:  # one read's pairs do not fit: a bigger buffer
            size *= 2
        i = i_next
