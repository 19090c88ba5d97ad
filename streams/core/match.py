"""Vectorised hot-list matching that says how sure it is.

For each read the best plate, then its top-N candidates, then its confusable-folded form are looked up; every
(read, entry) pair keeps its strongest kind only:

    exact            same characters, same region (or the read's region unknown: flagged for verification)
    candidate        one of the camera's alternative readings matches
    confusable       differs only in commonly confused characters (0/O, 2/7, H/M, ...): a possible match
    region_mismatch  same characters, another region (the Aurora case): recorded for review
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from streams.core.confusables import DEFAULT_LUT
from streams.core.hotlist import HotList
from streams.core.normalise import pack
from streams.model.match_kinds import CANDIDATE, CONFUSABLE, EXACT, REGION_MISMATCH


@dataclass(frozen=True)
class Matches:
    """One row per (read, entry) pair; indices refer to the batch and to ``HotList.entries``."""

    read: np.ndarray  # int64
    entry: np.ndarray  # int64
    kind: np.ndarray  # uint8, index into KINDS
    candidate: np.ndarray  # int16: which candidate matched, -1 for the best plate
    differing: np.ndarray  # uint16 bit mask of character positions that differ from the entry
    region_unknown: np.ndarray  # bool: the read had no region to compare

    def __len__(self) -> int:
        return len(self.read)


@dataclass(frozen=True)
class ReadKeys:
    """What matching needs of a batch of reads, already normalised and packed."""

    plate_code: np.ndarray  # uint64
    plate_sym: np.ndarray  # uint8 [n, 12]
    region_code: np.ndarray  # uint16
    time_ms: np.ndarray  # int64
    cand_read: np.ndarray  # int64: read index of each flattened candidate
    cand_rank: np.ndarray  # int16: position of the candidate in its read's list
    cand_code: np.ndarray  # uint64


def _empty() -> Matches:
    z = np.zeros(0, np.int64)
    return Matches(z, z, z.astype(np.uint8), z.astype(np.int16), z.astype(np.uint16), z.astype(bool))


def match(hl: HotList, rk: ReadKeys, lut: np.ndarray = DEFAULT_LUT) -> Matches:
    """Every current entry each read matches, with the strongest kind per pair."""
    if len(hl) == 0 or len(rk.plate_code) == 0:
        return _empty()
    parts = []

    r, e = hl.by_plate.join(rk.plate_code)
    parts.append((r, e, np.full(len(r), EXACT, np.uint8), np.full(len(r), -1, np.int16)))

    if len(rk.cand_code):
        ci, e = hl.by_plate.join(rk.cand_code)
        r = rk.cand_read[ci]
        parts.append((r, e, np.full(len(r), CANDIDATE, np.uint8), rk.cand_rank[ci]))

    r, e = hl.by_canonical.join(pack(lut[rk.plate_sym]))
    parts.append((r, e, np.full(len(r), CONFUSABLE, np.uint8), np.full(len(r), -1, np.int16)))

    read = np.concatenate([p[0] for p in parts])
    entry = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([p[2] for p in parts])
    cand = np.concatenate([p[3] for p in parts])
    return resolve_pairs(
        hl, read, entry, kind, cand, rk.time_ms, rk.region_code, rk.plate_code, lambda idx: rk.plate_sym[idx]
    )


def resolve_pairs(
    hl: HotList,
    read: np.ndarray,
    entry: np.ndarray,
    kind: np.ndarray,
    cand: np.ndarray,
    time_ms: np.ndarray,
    region_code: np.ndarray,
    plate_code: np.ndarray,
    sym_of: Callable[[np.ndarray], np.ndarray],
) -> Matches:
    """Look-up hits (read, entry, kind, candidate rank) -> matches: current entries only, region rules, strongest
    kind per (read, entry). ``time_ms``, ``region_code`` and ``plate_code`` are indexed by ``read``; ``sym_of``
    gives the symbol rows of reads. Shared by the numpy and the compiled path."""
    # An entry counts only while it is current at the read's own time and not cleared: expired or cleared
    # entries never match, whether or not a clear event arrived.
    # The entries' fields are read for these pairs only (``HotList.entries``), a handful per batch.
    active = hl.active[entry]
    read, entry, kind, cand = read[active], entry[active], kind[active], cand[active]
    t = time_ms[read]
    current = (hl.times_ms("valid_from", entry) <= t) & (t < hl.times_ms("expires_at", entry))
    read, entry, kind, cand = read[current], entry[current], kind[current], cand[current]

    # Region: unknown on either side is compatible (the read is flagged); a known, different region is not.
    r_read, r_entry = region_code[read], hl.region_codes(entry)
    same_region = (r_read == 0) | (r_entry == 0) | (r_read == r_entry)
    kind = np.where((kind == EXACT) & ~same_region, REGION_MISMATCH, kind).astype(np.uint8)
    # A candidate or confusable reading in another region is too weak to keep.
    keep = same_region | (kind == REGION_MISMATCH)
    # A confusable hit whose text is in fact identical is the exact hit already found.
    keep &= ~((kind == CONFUSABLE) & (plate_code[read] == hl.plate_codes(entry)))
    read, entry, kind, cand = read[keep], entry[keep], kind[keep], cand[keep]

    # Strongest kind per (read, entry): sort by read, entry, kind and keep the first of each pair.
    order = np.lexsort((kind, entry, read))
    read, entry, kind, cand = read[order], entry[order], kind[order], cand[order]
    first = np.ones(len(read), bool)
    first[1:] = (read[1:] != read[:-1]) | (entry[1:] != entry[:-1])
    read, entry, kind, cand = read[first], entry[first], kind[first], cand[first]

    diff = sym_of(read) != hl.symbols(entry)
    differing = (diff * (1 << np.arange(diff.shape[1], dtype=np.uint16))).sum(axis=1).astype(np.uint16)
    differing = np.where(kind == CANDIDATE, 0, differing).astype(np.uint16)
    region_unknown = region_code[read] == 0
    return Matches(read, entry, kind, cand, differing, region_unknown)


def differing_positions(mask: int) -> list[int]:
    """Bit mask -> 0-based character positions (for the few hits that leave the core)."""
    return [i for i in range(16) if mask >> i & 1]
