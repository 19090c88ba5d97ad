"""Arrow string columns built straight from numpy buffers (no per-row Python): plate text from symbol rows, ids.

A plate is a row of symbols (``0`` pads, ``1..36`` index ``streams.core.normalise.ALPHABET``), as the synthetic
cameras and the bench's hot lists draw them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from streams.core.normalise import ALPHABET

_ASCII = np.frombuffer(b"\0" + ALPHABET.encode(), np.uint8)  # symbol -> byte
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def symbol_strings(sym: np.ndarray) -> pa.Array:
    """Symbol rows (0-padded) -> Arrow strings, built from buffers, no per-row Python."""
    lengths = (sym > 0).sum(axis=1).astype(np.int32)
    offsets = np.zeros(len(sym) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = _ASCII[sym[sym > 0]]
    return pa.Array.from_buffers(pa.string(), len(sym), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


def hex_ids(prefix: int, seq: np.ndarray) -> pa.Array:
    """16-hex-digit ids from a 64-bit value per row (stable for a seed)."""
    v = (np.uint64(prefix) << np.uint64(40)) ^ seq.astype(np.uint64)
    nib = (v[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4))[None, :]) & np.uint64(15)
    data = _HEX[nib.astype(np.uint8)].reshape(-1)
    offsets = np.arange(0, 16 * len(v) + 1, 16, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(v), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])
