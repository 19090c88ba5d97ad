"""What a built hot list holds per entry (issue #15): every numpy array and every Arrow buffer it references,
counted here from its fields (not from ``HotList.nbytes``), stays within the budget; the compact entry columns
give back exactly the entries they were built from."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from streams.core.hotlist import HotList
from streams.loadtest.bench import random_entries
from streams.model.hotlist import FULL_ENTRY_SCHEMA, with_details
from tests.core.conftest import T0

N = 100_000
# Bytes per entry of everything a 100k-entry list holds. Issue #15's goal is 64 at 10M entries; the slot tables
# and Bloom filters, rounded up to powers of two, cost more per entry at 100k than at 10M (about 26 against 19).
BUDGET = 96


def _buffers(obj: object, seen: dict[int, int]) -> None:
    if isinstance(obj, np.ndarray):
        seen[obj.__array_interface__["data"][0]] = obj.nbytes
    elif isinstance(obj, pa.Table):
        for col in obj.columns:
            for chunk in col.chunks:
                _buffers(chunk, seen)
    elif isinstance(obj, pa.Array):
        for b in obj.buffers():
            if b is not None:
                seen[b.address] = max(seen.get(b.address, 0), b.size)
        if pa.types.is_dictionary(obj.type):
            _buffers(obj.dictionary, seen)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            _buffers(getattr(obj, f.name), seen)


def test_a_built_list_holds_at_most_the_budget_per_entry() -> None:
    hl = HotList.build(random_entries(N, T0, prefix="HL"))
    seen: dict[int, int] = {}
    _buffers(hl, seen)
    held = sum(seen.values())
    assert len(seen) > 20  # the walk found the arrays: key runs, slot tables, Bloom filters, entry columns
    assert held / N <= BUDGET, f"{held / N:.1f} bytes per entry"
    assert hl.nbytes() == held


def test_compact_entries_give_back_the_entries() -> None:
    entries = random_entries(5_000, T0, prefix="HL")
    # some variety: nulls, distinct values in a column (kept plain), a null expiry
    rng = np.random.default_rng(3)
    n = entries.num_rows
    agency = pa.array([None if i % 7 == 0 else f"AG{i}" for i in range(n)], pa.string())
    expires = pa.array(
        [None if i % 5 == 0 else T0 + int(d) for i, d in enumerate(rng.integers(1, 10**9, n))], pa.int64()
    ).cast(pa.timestamp("ms", tz="UTC"))
    entries = entries.set_column(entries.schema.get_field_index("agency"), "agency", agency)
    entries = entries.set_column(entries.schema.get_field_index("expires_at"), "expires_at", expires)
    hl = HotList.build(entries)
    assert pa.types.is_dictionary(hl.entries["reason"].type)
    assert hl.entries["agency"].type == pa.string()  # distinct per entry: not encoded
    assert hl.rows().equals(with_details(entries).cast(FULL_ENTRY_SCHEMA))
    idx = np.array([0, 1, 5, n - 1])
    want = [v if v is not None else np.iinfo(np.int64).max for v in expires.cast(pa.int64()).take(idx).to_pylist()]
    assert hl.times_ms("expires_at", idx).tolist() == want
    hl.active[1] = False
    due, at = hl.expiring(T0 + 10**9)
    assert 1 not in due and 0 not in due and len(due) == n - len(range(0, n, 5)) - 1
    assert (at <= T0 + 10**9).all()
