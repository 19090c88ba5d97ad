"""The numba decorators every compiled module uses, and the 64-bit hash mix their tables share."""

from __future__ import annotations

import numba as nb
import numpy as np

from streams.core.dedup import GOLD, M1, M2

jit = nb.njit(cache=True, nogil=True)
# helpers called per row: inlined in numba IR (a call that passes arrays costs reference counting per row)
inline = nb.njit(cache=True, nogil=True, inline="always")


@inline
def mix(x):
    """splitmix64 finaliser (``streams.core.dedup.mix64`` per value)."""
    x = np.uint64(x)
    x ^= x >> np.uint64(30)
    x *= M1
    x ^= x >> np.uint64(27)
    x *= M2
    x ^= x >> np.uint64(31)
    return x


@inline
def key_hash(plate, camera, region):
    """Hash of a three-part key (``streams.core.dedup.dedup_key`` per value)."""
    return mix(np.uint64(plate) ^ mix(np.uint64(camera) * GOLD + np.uint64(region)))
