"""The first tier of ``decode_json``: ``alpr_group`` events scanned in compiled code, straight to Arrow columns.

The whole take is one byte buffer. A compiled scanner checks each event's JSON grammar end to end (the fields it
skips too) and records where the fields the pipeline reads lie; Arrow then cuts the strings out of the buffer and
parses the numbers (``cast``, correctly rounded as Python's ``float``). No Python object is made per event.

The scanner takes only the plain shape cameras send and *declines* anything else, which then goes to the msgspec
tier (``streams.ingest.json_columns``) and, from there, to the per-event decoder that names dead letters. It
declines an event with: a byte over 127 or a backslash anywhere (no escapes, no UTF-8 to check), a wanted field of
another type than the msgspec Struct's, a wanted field twice, a number with an exponent or too long to be exact
(over 18 characters without a fraction, 24 with one), nesting over ``MAX_DEPTH``, or anything that is not JSON.
So it only ever takes an event the msgspec tier would take, with the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core.compiled.jit import inline, jit, pointer
from streams.ingest.json_grammar import (
    MAX_DEPTH,
    literal_end,
    member,
    next_member,
    number_end,
    skip_value,
    skip_ws,
    string_end,
)

__all__ = ["Candidates", "ScannedGroups", "scan_groups"]

# The keys the scanner knows, by number (a key's number is its index here).
KEYS = (
    "data_type",
    "camera_id",
    "site_id",
    "agent_uid",
    "epoch_start",
    "best_uuid",
    "uuids",
    "best_plate_number",
    "best_region",
    "best_confidence",
    "best_plate",
    "candidates",
    "plate",
    "region",
    "confidence",
)
_KEY_LEN = np.array([len(k) for k in KEYS], np.int64)
_NKEYS = len(KEYS)
_KEY_WIDTH = int(_KEY_LEN.max())
_KEY_BYTES = np.zeros(_NKEYS * _KEY_WIDTH, np.uint8)  # row after row, _KEY_WIDTH bytes each
for _n, _k in enumerate(KEYS):
    _KEY_BYTES[_n * _KEY_WIDTH : _n * _KEY_WIDTH + len(_k)] = np.frombuffer(_k.encode(), np.uint8)
_ALPR_GROUP = np.frombuffer(b"alpr_group", np.uint8).copy()
_ALPR_LEN = len(_ALPR_GROUP)

# Token slots per event: (key number, slot, wanted type) for the group, then the best plate's and the first uuid.
STR, INT, FLT = 0, 1, 2
GROUP_SLOTS = {
    1: (0, STR), 2: (1, STR), 3: (2, STR), 4: (3, INT), 5: (4, STR), 7: (5, STR), 8: (6, STR), 9: (7, FLT),
}  # fmt: skip
BEST_SLOTS = {12: (8, STR), 13: (9, STR), 14: (10, FLT)}
FIRST_UUID = 11
SLOTS = 12
_GROUP_SLOT = np.full(len(KEYS), -1, np.int64)
_GROUP_TYPE = np.zeros(len(KEYS), np.int64)
_BEST_SLOT = np.full(len(KEYS), -1, np.int64)
_BEST_TYPE = np.zeros(len(KEYS), np.int64)
for _table, _types, _slots in ((_GROUP_SLOT, _GROUP_TYPE, GROUP_SLOTS), (_BEST_SLOT, _BEST_TYPE, BEST_SLOTS)):
    for _key, (_slot, _type) in _slots.items():
        _table[_key], _types[_key] = _slot, _type

# What a token or container was: not there, JSON null, a value (string, number, object or array).
ABSENT, NULL, VALUE = 0, 1, 2


class Candidates(NamedTuple):
    """The chosen candidate list of each row, flattened: ``counts`` entries per row, list after list."""

    null: np.ndarray  # the row's list is null
    counts: np.ndarray  # candidates in each row's list (all of them)
    plate: pa.Array
    confidence: pa.Array


class ScannedGroups(NamedTuple):
    """Columns of the events the scanner took (one entry each, in event order), as the msgspec tier builds them."""

    at: np.ndarray  # the index of each taken event in the payloads
    best_plate_number: pa.Array
    best_region: pa.Array
    best_confidence: pa.Array
    best_uuid: pa.Array
    first_uuid: pa.Array  # uuids[0] (null when uuids is absent, null or empty)
    camera_id: pa.Array
    epoch_start: pa.Array
    agent_uid: pa.Array
    site_id: pa.Array
    plate: pa.Array  # best_plate.plate (null without a best plate), and so on
    region: pa.Array
    confidence: pa.Array
    candidates: Candidates


def scan_groups(payloads: Sequence[bytes], max_bytes: int) -> tuple[ScannedGroups | None, np.ndarray]:
    """The columns of the ``alpr_group`` events the scanner takes, and the indexes of the events it declines (those
    over ``max_bytes`` among them), in order."""
    sizes = np.fromiter(map(len, payloads), np.int64, len(payloads))
    small = np.flatnonzero(sizes <= max_bytes)
    if len(small) == len(payloads):
        data = b"".join(payloads)
    else:
        data = b"".join([payloads[i] for i in small])
    if not len(small) or len(data) >= 2**31:  # Arrow string offsets are 32-bit
        return None, np.arange(len(payloads))
    buf = np.frombuffer(data, np.uint8)
    ends = np.cumsum(sizes[small])
    starts = ends - sizes[small]
    took, tok_s, tok_e, tok_k, best_k, cand_k, cand_lo, cand_hi, flat = _scan(
        buf, starts, ends, _KEY_BYTES, _KEY_LEN, _GROUP_SLOT, _GROUP_TYPE, _BEST_SLOT, _BEST_TYPE, _ALPR_GROUP
    )
    taken = np.flatnonzero(took)
    declined = np.sort(np.concatenate([np.flatnonzero(sizes > max_bytes), small[~took]]))
    if not len(taken):
        return None, declined
    tok_s, tok_e, tok_k = tok_s[:, taken], tok_e[:, taken], tok_k[:, taken]

    def text(slot: int) -> pa.Array:
        return _strings(buf, tok_s[slot], tok_e[slot], tok_k[slot] == VALUE)

    # The best plate's candidates when it is an object that has the field at all, else the group's.
    src = ((best_k[taken] == VALUE) & (cand_k[1, taken] != ABSENT)).astype(np.int64)
    kind, lo, hi = cand_k[src, taken], cand_lo[src, taken], cand_hi[src, taken]
    counts = np.where(kind == VALUE, hi - lo, 0)
    first = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
    cp_s, cp_e, cc_s, cc_e, cc_k = flat
    cand_plate = _strings(buf, cp_s[first], cp_e[first], np.ones(len(first), bool))
    cand_conf = _strings(buf, cc_s[first], cc_e[first], cc_k[first] == VALUE)
    f64, i64 = pa.float64(), pa.int64()
    groups = ScannedGroups(
        at=small[taken],
        best_plate_number=text(5),
        best_region=text(6),
        best_confidence=text(7).cast(f64),
        best_uuid=text(4),
        first_uuid=text(FIRST_UUID),
        camera_id=text(0),
        epoch_start=text(3).cast(i64),
        agent_uid=text(2),
        site_id=text(1),
        plate=text(8),
        region=text(9),
        confidence=text(10).cast(f64),
        candidates=Candidates(kind != VALUE, counts, cand_plate, pc.cast(cand_conf, f64)),
    )
    return groups, declined


def _strings(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A string array of ``buf[starts[i]:ends[i]]`` (null where not ``valid``): one copy, no Python strings."""
    offsets, data = _gather(buf, starts, ends, valid)
    nulls = int(len(valid) - np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(
        pa.string(), len(valid), [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
    )


@jit
def _gather(buf, starts, ends, valid):
    n = len(starts)
    offsets = np.zeros(n + 1, np.int32)
    total = 0
    for i in range(n):
        if valid[i]:
            total += ends[i] - starts[i]
        offsets[i + 1] = total
    data = np.empty(total, np.uint8)
    source, target = pointer(buf), pointer(data)  # unchecked indexing: 4x faster than the arrays' here
    for i in range(n):
        if valid[i]:
            o, s = offsets[i], starts[i]
            for j in range(ends[i] - s):
                target[o + j] = source[s + j]
    return offsets, data


@inline
def _key(buf, s, e, keys, key_len):
    n = e - s
    for k in range(_NKEYS):
        if key_len[k] == n:
            same = True
            for j in range(n):
                if buf[s + j] != keys[k * _KEY_WIDTH + j]:
                    same = False
                    break
            if same:
                return k
    return -1


@inline
def _scalar(buf, i, end, want):
    """A wanted field's value at ``i``: (end or -1 to decline, kind, start, stop)."""
    c = buf[i]
    if c == 110:
        j = literal_end(buf, i, end)
        return j, NULL, 0, 0
    if want == STR:
        if c != 34:
            return -1, 0, 0, 0
        k = string_end(buf, i, end)
        return (k + 1 if k >= 0 else -1), VALUE, i + 1, k
    j, frac, exp = number_end(buf, i, end)
    if j < 0 or exp or (want == INT and frac) or (not frac and j - i > 18) or j - i > 24:
        return -1, 0, 0, 0
    return j, VALUE, i, j


@jit
def _candidates(buf, i, end, keys, key_len, flat, cap, m, stack):
    """The candidate list at ``i`` (``[``): (its end or -1, the flat count after it)."""
    cp_s, cp_e, cc_s, cc_e, cc_k = flat
    i = skip_ws(buf, i + 1, end)
    if i < end and buf[i] == 93:
        return i + 1, m
    while True:
        if i >= end or buf[i] != 123 or m >= cap:
            return -1, m
        i = skip_ws(buf, i + 1, end)
        if i < end and buf[i] == 125:
            return -1, m  # no plate: msgspec refuses the candidate
        has_plate, has_conf = False, False
        cc_k[m] = ABSENT
        more = True
        while more:
            k, v = member(buf, i, end)
            if v < 0:
                return -1, m
            key = _key(buf, i + 1, k, keys, key_len)
            if key == 12 or key == 14:
                if (key == 12 and has_plate) or (key == 14 and has_conf):
                    return -1, m
                j, kind, s, e = _scalar(buf, v, end, STR if key == 12 else FLT)
                if j < 0:
                    return -1, m
                if key == 12:
                    if kind != VALUE:
                        return -1, m
                    cp_s[m], cp_e[m], has_plate = s, e, True
                else:
                    cc_s[m], cc_e[m], cc_k[m], has_conf = s, e, kind, True
            else:
                j = skip_value(buf, v, end, stack)
                if j < 0:
                    return -1, m
            i, more = next_member(buf, j, end)
            if i < 0:
                return -1, m
        if not has_plate:
            return -1, m
        m += 1
        i = skip_ws(buf, i, end)
        if i < end and buf[i] == 44:
            i = skip_ws(buf, i + 1, end)
        elif i < end and buf[i] == 93:
            return i + 1, m
        else:
            return -1, m


@jit
def _uuids(buf, i, end):
    """The string array at ``i`` (``[``): (its end or -1, the first string's start and stop, or -1 if empty)."""
    i = skip_ws(buf, i + 1, end)
    if i < end and buf[i] == 93:
        return i + 1, -1, -1
    s0, e0 = -1, -1
    while True:
        if i >= end or buf[i] != 34:
            return -1, -1, -1
        k = string_end(buf, i, end)
        if k < 0:
            return -1, -1, -1
        if s0 < 0:
            s0, e0 = i + 1, k
        i = skip_ws(buf, k + 1, end)
        if i < end and buf[i] == 44:
            i = skip_ws(buf, i + 1, end)
        elif i < end and buf[i] == 93:
            return i + 1, s0, e0
        else:
            return -1, -1, -1


@jit
def _event(
    buf, i, end, keys, key_len, g_slot, g_type, b_slot, b_type, alpr, e, rows, tok, best_k, cand, flat, cap, m, stack
):
    """One event at ``buf[i:end]``: its tokens recorded for event ``e`` of ``rows`` (slot-major tables); (taken, the
    flat candidate count after it)."""
    tok_s, tok_e, tok_k = tok
    cand_k, cand_lo, cand_hi = cand
    i = skip_ws(buf, i, end)
    if i >= end or buf[i] != 123:
        return False, m
    i = skip_ws(buf, i + 1, end)
    if i < end and buf[i] == 125:
        return False, m  # no data_type
    seen = 0  # a bit per key number: a wanted key twice is declined
    depth = 0  # 0: the group's members, 1: the best plate's
    more = True
    while True:
        if not more:
            if depth == 0:
                break
            depth = 0
            i, more = next_member(buf, i, end)
            if i < 0:
                return False, m
            continue
        k, v = member(buf, i, end)
        if v < 0:
            return False, m
        key = _key(buf, i + 1, k, keys, key_len)
        bit = 1 << (key + 15 * depth) if key >= 0 else 0
        if seen & bit:
            return False, m
        seen |= bit
        slot = -1
        if key >= 0:
            slot = g_slot[key] if depth == 0 else b_slot[key]
        j = -1
        if slot >= 0:
            j, kind, s, stop = _scalar(buf, v, end, g_type[key] if depth == 0 else b_type[key])
            tok_s[slot * rows + e], tok_e[slot * rows + e], tok_k[slot * rows + e] = s, stop, kind
        elif key == 11:  # candidates, of the group (0) or the best plate (1)
            if buf[v] == 91:
                lo = m
                j, m = _candidates(buf, v, end, keys, key_len, flat, cap, m, stack)
                r = depth * rows + e
                cand_k[r], cand_lo[r], cand_hi[r] = VALUE, lo, m
            elif buf[v] == 110:
                j = literal_end(buf, v, end)
                cand_k[depth * rows + e] = NULL
        elif depth == 0 and key == 0:  # data_type: exactly "alpr_group"
            k = string_end(buf, v, end) if buf[v] == 34 else -1
            if k - v - 1 == _ALPR_LEN:
                j = k + 1
                for n in range(_ALPR_LEN):
                    if buf[v + 1 + n] != alpr[n]:
                        j = -1
        elif depth == 0 and key == 6:  # uuids: the first one is a fallback read id
            if buf[v] == 91:
                j, s, stop = _uuids(buf, v, end)
                if s >= 0:
                    r = FIRST_UUID * rows + e
                    tok_s[r], tok_e[r], tok_k[r] = s, stop, VALUE
            elif buf[v] == 110:
                j = literal_end(buf, v, end)
        elif depth == 0 and key == 10:  # best_plate: null, or an object whose members are read next
            if buf[v] == 110:
                j = literal_end(buf, v, end)
                best_k[e] = NULL
            elif buf[v] == 123:
                best_k[e] = VALUE
                depth = 1
                i = skip_ws(buf, v + 1, end)
                if i < end and buf[i] == 125:
                    i, more = i + 1, False
                continue
        else:
            j = skip_value(buf, v, end, stack)
        if j < 0:
            return False, m
        i, more = next_member(buf, j, end)
        if i < 0:
            return False, m
    if not seen & 1:
        return False, m
    return skip_ws(buf, i, end) == end, m


@jit
def _scan(buf, starts, ends, keys, key_len, g_slot, g_type, b_slot, b_type, alpr):
    n = len(starts)
    took = np.zeros(n, np.bool_)
    # Positions are read only where a kind says there is a value: no need to clear them.
    tok_s = np.empty((SLOTS, n), np.int64)
    tok_e = np.empty((SLOTS, n), np.int64)
    tok_k = np.zeros((SLOTS, n), np.int8)
    best_k = np.zeros(n, np.int8)
    cand_k = np.zeros((2, n), np.int8)  # the group's candidates, then the best plate's
    cand_lo = np.empty((2, n), np.int64)
    cand_hi = np.empty((2, n), np.int64)
    cap = len(buf) // 12 + 1  # a candidate takes at least the 12 bytes of {"plate":""}
    cp_s, cp_e = np.empty(cap, np.int64), np.empty(cap, np.int64)  # each candidate's plate
    cc_s, cc_e = np.empty(cap, np.int64), np.empty(cap, np.int64)  # and confidence
    cc_k = np.empty(cap, np.int8)  # each candidate sets its confidence kind
    stack = np.zeros(MAX_DEPTH, np.uint8)
    # The helpers get raw pointers: they run per token, and numba reference-counts every array passed to a call.
    tok = (pointer(tok_s), pointer(tok_e), pointer(tok_k))
    cand = (pointer(cand_k), pointer(cand_lo), pointer(cand_hi))
    ptrs = (pointer(cp_s), pointer(cp_e), pointer(cc_s), pointer(cc_e), pointer(cc_k))
    p_buf, p_keys, p_len, p_alpr, p_stack = pointer(buf), pointer(keys), pointer(key_len), pointer(alpr), pointer(stack)
    p_gs, p_gt, p_bs, p_bt, p_best = pointer(g_slot), pointer(g_type), pointer(b_slot), pointer(b_type), pointer(best_k)
    m = 0
    for e in range(n):
        ok, after = _event(
            p_buf, starts[e], ends[e], p_keys, p_len, p_gs, p_gt, p_bs, p_bt, p_alpr,
            e, n, tok, p_best, cand, ptrs, cap, m, p_stack,
        )  # fmt: skip
        if ok:
            took[e], m = True, after
    return took, tok_s, tok_e, tok_k, best_k, cand_k, cand_lo, cand_hi, (cp_s, cp_e, cc_s, cc_e, cc_k)
