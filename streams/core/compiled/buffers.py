"""Arrow columns as the numpy views the compiled passes read (zero-copy), and the compiled accessors of those views.

A string column becomes (offsets, data bytes, validity bits, bit offset); a fixed-width column (values, validity
bits, bit offset). Validity bits are empty when the column has no nulls.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from streams.core.compiled.jit import inline
from streams.core.normalise import one_array

NO_BITS = np.zeros(0, np.uint8)
NO_BITS.setflags(write=False)
EMPTY_BYTES = np.zeros(1, np.uint8)
EMPTY_BYTES.setflags(write=False)


# -- compiled accessors -------------------------------------------------------------------------------------------


@inline
def is_valid(bits, off, i):
    if bits.size == 0:
        return True
    j = off + i
    return ((bits[j >> 3] >> (j & 7)) & 1) == 1


@inline
def span(offs, bits, boff, i):
    """Byte range of string ``i``; a null string is empty (as ``fill_null('')`` makes it)."""
    if not is_valid(bits, boff, i):
        return 0, 0
    return offs[i], offs[i + 1]


# -- Python views -------------------------------------------------------------------------------------------------


def read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def validity(arr: pa.Array) -> tuple[np.ndarray, int]:
    """(validity bits, bit offset); no bits when nothing is null."""
    b = arr.buffers()[0]
    if b is None or arr.null_count == 0:
        return NO_BITS, 0
    return np.frombuffer(b, np.uint8), arr.offset


def list_offsets(arr: pa.Array) -> np.ndarray:
    """The n + 1 offsets of a list array into its values."""
    n = len(arr)
    if not n:
        return read_only(np.zeros(1, np.int32))
    return np.frombuffer(arr.buffers()[1], np.int32, count=n + 1, offset=arr.offset * 4)


def string_buffers(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(offsets of the n strings, data bytes, validity bits, bit offset), zero-copy."""
    arr = one_array(arr)
    n = len(arr)
    bufs = arr.buffers()
    offs = list_offsets(arr)
    data = np.frombuffer(bufs[2], np.uint8) if n and bufs[2] is not None and bufs[2].size else EMPTY_BYTES
    bits, boff = validity(arr)
    return offs, data, bits, boff


def fixed_buffers(arr: pa.ChunkedArray | pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, validity bits, bit offset) of a fixed-width column, zero-copy."""
    arr = one_array(arr)
    n = len(arr)
    if n == 0:
        return read_only(np.zeros(0, dtype)), NO_BITS, 0
    vals = np.frombuffer(arr.buffers()[1], dtype, count=n, offset=arr.offset * np.dtype(dtype).itemsize)
    bits, boff = validity(arr)
    return vals, bits, boff
