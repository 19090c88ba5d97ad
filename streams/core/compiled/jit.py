"""The numba decorators every compiled module uses, and the 64-bit hash mix their tables share.

Compiled functions are cached on disk (``cache=True``) where numba finds a writable place: ``NUMBA_CACHE_DIR``
when set (an image sets it to a volume and fills it at build time), else beside the sources or in the user's
cache folder. With none of them writable (a read-only package, no usable ``HOME``) the functions are compiled
at every start instead of failing on import ("no locator available"), and a warning says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from streams.core.dedup import GOLD, M1, M2

log = logging.getLogger(__name__)
_uncached: list[str] = []


def _compiler(**options: Any) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        try:
            return nb.njit(cache=True, nogil=True, **options)(fn)
        except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available for file ..."
            if "no locator" not in str(exc):
                raise
            if not _uncached:
                log.warning("no writable numba cache (set NUMBA_CACHE_DIR): compiling the core at every start")
            _uncached.append(fn.__qualname__)
            return nb.njit(cache=False, nogil=True, **options)(fn)

    return decorate


jit = _compiler()
# helpers called per row: inlined in numba IR (a call that passes arrays costs reference counting per row)
inline = _compiler(inline="always")


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


@intrinsic
def pointer(typingctx, arr):  # noqa: ANN001, ANN201, ARG001 (numba's intrinsic signature)
    """The data pointer of a C-contiguous array, for helpers called per token. Numba increments and decrements an
    array's reference count around every call that passes it, about 20 ns a call here, ten times the work of a small
    helper; a pointer is not counted. Unchecked: the caller keeps ``arr`` alive and every index in bounds."""

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        return context.make_array(arr)(context, builder, value=args[0]).data

    return types.CPointer(arr.dtype)(arr), codegen
