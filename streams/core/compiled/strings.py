"""String columns in compiled passes: plates normalised and base-37 packed, other strings interned into ids.

Plates are folded byte by byte for ASCII; a plate holding bytes >= 0x80 goes the exact Arrow way
(``streams.core.normalise``: Unicode upper-casing can turn them into ASCII letters, the ``·`` is a separator).
Camera, site and region strings become per-batch distinct ids in order of first appearance, so the Python work
that follows (region normalisation, camera codes) runs once per distinct value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from streams.core.compiled.buffers import is_valid, span, string_buffers
from streams.core.compiled.jit import inline, jit, mix
from streams.core.normalise import ALPHABET, MAX_PLATE_LEN, encode_plates_sym, normalise_plates, one_array, pack

SKIP = 255  # a separator the normalisation removes
# ASCII byte -> plate symbol 1..36 (lower case folded), SKIP for separators, 0 for anything else (a bad plate).
# Bytes >= 0x80 go the exact Arrow way (Unicode upper-casing can turn them into ASCII letters).
FOLD = np.zeros(256, np.uint8)
for _i, _c in enumerate(ALPHABET):
    FOLD[ord(_c)] = _i + 1
    FOLD[ord(_c.lower())] = _i + 1
for _b in b" \t\n\v\f\r-._/":  # normalise._SEPARATORS, ASCII part
    FOLD[_b] = SKIP

POW37 = np.array([37**k for k in range(MAX_PLATE_LEN + 1)], np.uint64)


# -- plates ---------------------------------------------------------------------------------------------------


@inline
def encode_plate(data, start, end, fold, lut, pow37):
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


@jit
def _encode_column(offs, data, bits, boff, n, fold, lut, pow37):
    code = np.empty(n, np.uint64)
    canon = np.empty(n, np.uint64)
    length = np.empty(n, np.int32)
    slow = np.zeros(n, np.bool_)
    for i in range(n):
        a0, a1 = span(offs, bits, boff, i)
        code[i], canon[i], length[i], slow[i] = encode_plate(data, a0, a1, fold, lut, pow37)
    return code, canon, length, slow


def encode_plate_column(col: pa.ChunkedArray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code, confusable-folded code, normalised length) per plate; code 0 for an empty or bad plate."""
    lut8 = np.ascontiguousarray(lut, np.uint8)
    plate = string_buffers(col)
    code, canon, length, slow = _encode_column(*plate, len(plate[0]) - 1, FOLD, lut8, POW37)
    if slow.any():  # non-ASCII bytes: the exact Arrow normalisation, for these rows only
        rows = np.flatnonzero(slow)
        slow_code, _, sym, slow_len = encode_plates_sym(normalise_plates(one_array(col).take(pa.array(rows))))
        code[rows], length[rows] = slow_code, slow_len
        canon[rows] = np.where(slow_code != 0, pack(lut[sym]), 0)
    return code, canon, length


def encode_plates_exactly(plates: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(code, valid) of plates the Arrow way (``streams.core.normalise``), for the rare non-ASCII ones."""
    code, ok, _, _ = encode_plates_sym(normalise_plates(plates))
    return code, ok


@jit
def nonascii_items(offs, data, bits, boff, n):
    """Strings holding a byte >= 0x80."""
    flag = np.zeros(n, np.bool_)
    for i in range(n):
        a0, a1 = span(offs, bits, boff, i)
        for k in range(a0, a1):
            if data[k] >= 128:
                flag[i] = True
                break
    return np.flatnonzero(flag)


def symbols(code: np.ndarray) -> np.ndarray:
    """Packed plate codes -> their (n, 12) symbol rows (the inverse of ``normalise.pack``)."""
    out = np.zeros((len(code), MAX_PLATE_LEN), np.uint8)
    c = code.astype(np.uint64, copy=True)
    for j in range(MAX_PLATE_LEN - 1, -1, -1):
        out[:, j] = (c % np.uint64(37)).astype(np.uint8)
        c //= np.uint64(37)
    return out


# -- interning ------------------------------------------------------------------------------------------------


@inline
def _str_key(offs, data, bits, boff, i):
    """(word, length) of string ``i``: up to 8 bytes packed into the word (exact), longer ones hashed."""
    a0, a1 = span(offs, bits, boff, i)
    w = np.uint64(0)
    if a1 - a0 <= 8:
        for k in range(a0, a1):
            w = (w << np.uint64(8)) | np.uint64(data[k])
    else:
        w = np.uint64(0xCBF29CE484222325)
        for k in range(a0, a1):
            w = (w ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
    return w, a1 - a0


@jit
def _intern_rows(offs, data, bits, boff, i0, n, ids, firsts, words, lens, slots, count):
    """Intern rows ``i0``.. until done or until the slot table needs to grow. Returns (next row, distinct count)."""
    mask = slots.size - 1
    for i in range(i0, n):
        if 2 * count >= slots.size:
            return i, count
        w, ln = _str_key(offs, data, bits, boff, i)
        j = np.int64(mix(w ^ np.uint64(ln)) & np.uint64(mask))
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
                a0, _ = span(offs, bits, boff, i)
                b0, _ = span(offs, bits, boff, firsts[d])
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


@jit
def _regrow(slots, words, lens, count):
    slots = np.full(slots.size * 2, -1, np.int32)
    mask = slots.size - 1
    for d in range(count):
        j = np.int64(mix(words[d] ^ np.uint64(lens[d])) & np.uint64(mask))
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = d
    return slots


@jit
def intern_column(offs, data, bits, boff, n):
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


@jit
def codes_of_rows(rows, reg_id, reg_code_d, cam_id, cam_code_d, n):
    """Region and camera code per row in ``rows`` from the codes of the distinct values (other rows undefined)."""
    region = np.empty(n, np.uint16)
    camera = np.empty(n, np.uint64)
    for i in rows:
        region[i] = reg_code_d[reg_id[i]]
        camera[i] = cam_code_d[cam_id[i]]
    return region, camera


@jit
def mark_missing(offs, bits, boff, n, out, flag):
    """Set ``flag`` in ``out`` for null or empty strings."""
    for i in range(n):
        if offs[i + 1] == offs[i] or not is_valid(bits, boff, i):
            out[i] |= flag
