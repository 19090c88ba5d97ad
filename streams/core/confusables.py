"""Characters that OCR commonly confuses, as data, and the canonical form that folds each group to one symbol.

Two plates with the same canonical form but different text differ only in confusable characters: a *possible*
match, never an exact one (the 2-for-7 misread behind a family held at gunpoint).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from streams.core.normalise import ALPHABET

# Each string is one group of characters a reader mistakes for each other. Deployments may pass their own.
DEFAULT_GROUPS: tuple[str, ...] = ("0ODQ", "1IL", "27Z", "5S", "6G", "8B", "HMN", "UV", "4A")


def canonical_lut(groups: Iterable[str] = DEFAULT_GROUPS) -> np.ndarray:
    """Symbol -> canonical symbol lookup (37 entries; 0 stays 0). Overlapping groups are merged."""
    parent = list(range(37))

    def find(s: int) -> int:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for group in groups:
        syms = [ALPHABET.index(c) + 1 for c in group.upper() if c in ALPHABET]
        for s in syms[1:]:
            a, b = find(syms[0]), find(s)
            parent[max(a, b)] = min(a, b)
    return np.array([find(s) for s in range(37)], dtype=np.uint8)


DEFAULT_LUT = canonical_lut()
