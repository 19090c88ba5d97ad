"""The hot list as sorted integer arrays, replicated whole in every worker, and its vectorised lookup.

Built from admitted entries only (admission is ``streams.core.policy``); entries refused there never reach here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core.compiled.lookup import build_bloom, build_slots
from streams.core.confusables import DEFAULT_LUT
from streams.core.normalise import encode_plates_sym, encode_regions, normalise_plates, normalise_regions, pack
from streams.model.hotlist import FULL_ENTRY_SCHEMA, with_details


@dataclass(frozen=True)
class SortedKeys:
    """Unique sorted keys with the run of entry positions each one stands for."""

    keys: np.ndarray  # uint64, unique, ascending
    start: np.ndarray  # int64: first position in ``order`` for each key
    count: np.ndarray  # int64
    order: np.ndarray  # int64: entry positions grouped by key

    @classmethod
    def build(cls, codes: np.ndarray) -> SortedKeys:
        order = np.argsort(codes)  # order within a run of equal keys does not matter
        ordered = codes[order]
        # runs of equal keys in the sorted codes (np.unique would sort a second time)
        first = np.ones(len(ordered), bool)
        first[1:] = ordered[1:] != ordered[:-1]
        start = np.flatnonzero(first)
        count = np.diff(np.append(start, len(ordered)))
        return cls(ordered[start], start.astype(np.int64), count.astype(np.int64), order.astype(np.int64))

    def join(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All (query index, entry position) pairs with equal keys, vectorised."""
        if len(self.keys) == 0 or len(query) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(self.keys) > 65_536:
            # Looking up sorted queries walks a large list in order, cache-friendly: ~4x faster at 10M entries.
            by_value = np.argsort(query)
            pos = np.empty(len(query), np.int64)
            pos[by_value] = np.searchsorted(self.keys, query[by_value])
        else:
            pos = np.searchsorted(self.keys, query)
        pos = np.minimum(pos, len(self.keys) - 1)
        found = np.flatnonzero(self.keys[pos] == query)
        if len(found) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = pos[found]
        counts = self.count[k]
        q_idx = np.repeat(found, counts)
        first = np.repeat(self.start[k], counts)
        within = np.arange(len(q_idx)) - np.repeat(np.cumsum(counts) - counts, counts)
        return q_idx.astype(np.int64), self.order[first + within]


@dataclass(frozen=True)
class HotList:
    """Admitted, current entries in matching form. Rebuilt (not mutated) when the list changes."""

    entries: pa.Table  # FULL_ENTRY_SCHEMA, normalised plate/region
    plate_code: np.ndarray  # uint64 per entry
    region_code: np.ndarray  # uint16 per entry (0 = any region)
    plate_sym: np.ndarray  # uint8 [n, 12]: for differing positions
    valid_from_ms: np.ndarray  # int64
    expires_at_ms: np.ndarray  # int64
    by_plate: SortedKeys
    by_canonical: SortedKeys
    active: np.ndarray  # bool per entry; a clear sets it False in place, effective for the next batch
    plate_slots: np.ndarray  # int32 open-addressing table over by_plate.keys (the compiled core's look-up)
    canonical_slots: np.ndarray  # int32, the same over by_canonical.keys
    plate_bloom: np.ndarray  # uint64 bitmap: a Bloom filter of by_plate.keys, in front of the table
    canonical_bloom: np.ndarray  # uint64, the same for by_canonical.keys

    @classmethod
    def build(cls, entries: pa.Table, lut: np.ndarray = DEFAULT_LUT) -> HotList:
        entries = with_details(entries)
        plate = normalise_plates(entries["plate"])
        region = normalise_regions(entries["region"])
        entries = entries.set_column(1, "plate", plate).set_column(2, "region", region)
        code, valid, sym, _ = encode_plates_sym(plate)
        if not valid.all():
            raise ValueError("hot list contains plates that did not pass admission")
        rcode, _ = encode_regions(region)
        by_plate, by_canonical = SortedKeys.build(code), SortedKeys.build(pack(lut[sym]))
        return cls(
            entries=entries,
            plate_code=code,
            region_code=rcode,
            plate_sym=sym,
            valid_from_ms=_ms(entries["valid_from"], np.iinfo(np.int64).min),
            expires_at_ms=_ms(entries["expires_at"], np.iinfo(np.int64).max),
            by_plate=by_plate,
            by_canonical=by_canonical,
            active=np.ones(len(code), bool),
            plate_slots=build_slots(by_plate.keys),
            canonical_slots=build_slots(by_canonical.keys),
            plate_bloom=build_bloom(by_plate.keys),
            canonical_bloom=build_bloom(by_canonical.keys),
        )

    @classmethod
    def empty(cls) -> HotList:
        return cls.build(FULL_ENTRY_SCHEMA.empty_table())

    def __len__(self) -> int:
        return len(self.plate_code)


def _ms(col: pa.ChunkedArray, fill: int) -> np.ndarray:
    # fill nulls in Arrow: to_numpy would turn a column with nulls into float64 and lose int64's extremes
    filled = pc.fill_null(col.cast(pa.int64()), pa.scalar(fill, pa.int64()))
    return np.ascontiguousarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64)
