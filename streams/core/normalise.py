"""Plate and region normalisation, and packing of plate text into integers for vectorised matching.

A normalised plate is upper-case ASCII letters and digits only (separators such as spaces, dashes and dots are
removed). It packs into one ``uint64`` in base 37 (0 pads, then 0-9, then A-Z) with the first character most
significant, so integer order equals text order and up to 12 characters fit (37**12 < 2**64).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_PLATE_LEN = 12
MAX_REGION_LEN = 3
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# byte -> symbol (1..36); 0 marks a byte that is not a plate character
SYMBOL = np.zeros(256, dtype=np.uint8)
for _i, _c in enumerate(ALPHABET):
    SYMBOL[ord(_c)] = _i + 1

_SEPARATORS = r"[\s\v\-\.·_/]"  # RE2's \s leaves out the vertical tab


# bytes that are already normal: upper-case ASCII letters and digits
_NORMAL = SYMBOL > 0


def normalise_plates(plates: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Upper-case and strip separators: ``'ab-123 c'`` -> ``'AB123C'``. Nulls stay null."""
    plates = one_array(plates)
    # Most cameras already send upper-case letters and digits: one pass over the bytes finds out, and the
    # regex (the costly part) runs only when some plate needs it.
    data = plates.buffers()[2] if len(plates) else None
    if data is not None and _NORMAL[np.frombuffer(data, np.uint8)[_data_span(plates)]].all():
        return plates
    out = pc.replace_substring_regex(pc.utf8_upper(plates), _SEPARATORS, "")
    return one_array(out)


def _data_span(arr: pa.Array) -> slice:
    offsets = np.frombuffer(arr.buffers()[1], np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    return slice(int(offsets[0]), int(offsets[-1]))


def normalise_regions(regions: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Camera agents say ``us-ca``, hot lists say ``CA``: keep the part after the last dash, upper-cased.

    Null or empty becomes ``''`` (region unknown). Regions repeat a lot, so each distinct value is normalised
    once and the result is taken back out by index.
    """
    enc = pc.dictionary_encode(pc.fill_null(regions, ""))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks() if enc.num_chunks != 1 else enc.chunk(0)
    up = pc.utf8_upper(enc.dictionary)
    norm = pc.replace_substring_regex(pc.utf8_trim_whitespace(up), r"^.*-", "")
    return one_array(norm.take(enc.indices))


def one_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def symbol_matrix(text: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each string as a row of ``width`` symbols (0-padded), plus its length in bytes.

    Works on the Arrow buffers directly, one column of characters at a time: no per-string Python and no
    n-by-width index arrays.
    """
    text = one_array(text)
    n = len(text)
    if n == 0:
        return np.zeros((0, width), np.uint8), np.zeros(0, np.int32)
    bufs = text.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=text.offset * 4)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(1, np.uint8)
    lengths = np.diff(offsets)
    if text.null_count:
        lengths = np.where(text.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    start = offsets[:-1]
    last = len(data) - 1
    sym = np.zeros((n, width), np.uint8)
    # columns past the longest string in the batch stay zero: no need to visit them
    for j in range(min(width, int(lengths.max()))):
        inside = lengths > j
        col = SYMBOL[data[np.minimum(start + j, last)]]
        col[~inside] = 0
        sym[:, j] = col
    return sym, lengths


def pack(sym: np.ndarray) -> np.ndarray:
    """Base-37 pack a symbol matrix (rows of symbols) into uint64, first column most significant."""
    code = np.zeros(sym.shape[0], dtype=np.uint64)
    base = np.uint64(37)
    for j in range(sym.shape[1]):
        code *= base
        code += sym[:, j]
    return code


def encode_plates(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Pack normalised plates into uint64 codes and say which are valid.

    A plate is valid when it has 1..12 characters, all of them letters or digits. Invalid plates get code 0.
    """
    code, valid, _, _ = encode_plates_sym(norm)
    return code, valid


def encode_plates_sym(norm: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``encode_plates`` plus the symbol matrix it was packed from and each plate's length in bytes."""
    sym, lengths = symbol_matrix(norm, MAX_PLATE_LEN)
    valid = (lengths >= 1) & (lengths <= MAX_PLATE_LEN) & ((sym > 0).sum(axis=1, dtype=np.int32) == lengths)
    code = pack(sym)
    code[~valid] = 0
    return code, valid, sym, lengths


def encode_regions(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Pack normalised regions (0..3 characters) into uint16 codes; ``''`` (unknown) is code 0."""
    sym, lengths = symbol_matrix(norm, MAX_REGION_LEN)
    valid = (lengths <= MAX_REGION_LEN) & ((sym > 0).sum(axis=1) == lengths)
    code = pack(sym).astype(np.uint16)
    code[~valid] = 0
    return code, valid


def stable_codes(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A stable 64-bit code per id string (camera ids, entry ids): hashed once per distinct value in the batch,
    not per row. The same id gives the same code in every process, so partitioning and state agree."""
    enc = pc.dictionary_encode(pc.fill_null(ids, ""))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    uniq = enc.dictionary.to_pylist()
    codes = np.array(
        [int.from_bytes(hashlib.blake2b(c.encode(), digest_size=8).digest(), "little") for c in uniq], np.uint64
    )
    return codes[enc.indices.to_numpy(zero_copy_only=False)] if len(uniq) else np.zeros(len(enc), np.uint64)


_ASCII = np.frombuffer(b"\0" + ALPHABET.encode(), np.uint8)  # symbol -> ASCII byte


def decode_codes(codes: np.ndarray) -> pa.Array:
    """Packed plate codes -> their text (``decode_code`` for a whole array, without a Python loop)."""
    sym = np.zeros((len(codes), MAX_PLATE_LEN), np.uint8)
    c = np.asarray(codes, np.uint64).copy()
    for j in range(MAX_PLATE_LEN - 1, -1, -1):
        sym[:, j] = (c % np.uint64(37)).astype(np.uint8)
        c //= np.uint64(37)
    used = sym > 0
    offsets = np.zeros(len(codes) + 1, np.int32)
    np.cumsum(used.sum(axis=1), out=offsets[1:])
    data = _ASCII[sym[used]]  # row by row, left to right
    return pa.Array.from_buffers(pa.string(), len(codes), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


def decode_code(code: int, width: int = MAX_PLATE_LEN) -> str:
    """Inverse of packing, for the few rows that leave the core as text (hits). Not for the hot path."""
    chars = []
    for _ in range(width):
        code, s = divmod(int(code), 37)
        if s:
            chars.append(ALPHABET[s - 1])
    return "".join(reversed(chars))
