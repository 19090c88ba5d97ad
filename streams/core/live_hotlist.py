"""The hot-list replica a worker matches against, kept current by bulk loads, add and clear events.

Entries live in segments (``HotList``): a large main segment and a small delta that takes adds. A clear marks the
entry inactive in place, so it stops matching on the next batch without a rebuild; the delta is folded into the
main segment when it grows. Each source has a freshness clock: when a source has not synced within the policy's
limit, its entries still match but no longer alert (hits are marked ``source_stale``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core.confusables import DEFAULT_LUT
from streams.core.hotlist import HotList
from streams.core.policy import Admission, AdmissionPolicy, admit
from streams.model.hotlist import ENTRY_SCHEMA

FOLD_AT = 50_000  # delta size at which it is merged into the main segment


class LiveHotList:
    def __init__(self, policy: AdmissionPolicy, lut: np.ndarray = DEFAULT_LUT):
        self.policy = policy
        self.lut = lut
        self.main = HotList.empty()
        self.delta = HotList.empty()
        self.last_sync_ms: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.cleared = 0

    @classmethod
    def of(cls, hotlist: HotList, policy: AdmissionPolicy | None = None, lut: np.ndarray = DEFAULT_LUT) -> LiveHotList:
        """Wrap an already admitted list (tests, benchmarks)."""
        live = cls(policy or AdmissionPolicy(reasons={}), lut)
        live.main = hotlist
        return live

    @property
    def segments(self) -> list[HotList]:
        return [s for s in (self.main, self.delta) if len(s)]

    def __len__(self) -> int:
        return int(sum(int(s.active.sum()) for s in (self.main, self.delta)))

    def _count_refused(self, adm: Admission) -> None:
        for rule, n in adm.refused_by_rule().items():
            self.refused[rule] = self.refused.get(rule, 0) + n

    def load(self, entries: pa.Table, now_ms: int, source: str | None = None) -> Admission:
        """Bulk import (a CSV extract): replaces every entry of the same source(s); counts as a sync."""
        adm = admit(entries, self.policy, now_ms)
        self._count_refused(adm)
        sources = {source} if source else set(pc.unique(entries["source"]).to_pylist()) if entries.num_rows else set()
        keep = [self._active_rows(seg, exclude_sources=sources) for seg in (self.main, self.delta)]
        merged = pa.concat_tables([*keep, adm.admitted.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA)])
        self.main = HotList.build(merged, self.lut)
        self.delta = HotList.empty()
        for s in sources:
            self.last_sync_ms[s] = now_ms
        return adm

    def add(self, entries: pa.Table, now_ms: int) -> Admission:
        """Incremental adds: admitted entries replace any entry with the same id."""
        adm = admit(entries, self.policy, now_ms)
        self._count_refused(adm)
        if adm.admitted.num_rows:
            self.clear(adm.admitted["entry_id"].to_pylist())
            rows = pa.concat_tables(
                [self._active_rows(self.delta), adm.admitted.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA)]
            )
            self.delta = HotList.build(rows, self.lut)
            if len(self.delta) >= FOLD_AT:
                self.fold()
        return adm

    def clear(self, entry_ids: Iterable[str]) -> int:
        """Vehicle recovered, warrant served: the entries stop matching at once. Returns how many were active."""
        ids = pa.array(list(entry_ids), pa.string())
        if len(ids) == 0:
            return 0
        n = 0
        for seg in (self.main, self.delta):
            if len(seg):
                hit = pc.is_in(seg.entries["entry_id"], value_set=ids).to_numpy(zero_copy_only=False)
                hit &= seg.active
                n += int(hit.sum())
                seg.active[hit] = False
        self.cleared += n
        return n

    def sync(self, source: str, at_ms: int) -> None:
        self.last_sync_ms[source] = at_ms

    def stale_sources(self, now_ms: int) -> set[str]:
        limit = int(self.policy.source_max_age_hours * 3_600_000)
        return {s for s, t in self.last_sync_ms.items() if now_ms - t > limit}

    def source_ages_s(self, now_ms: int) -> dict[str, float]:
        return {s: (now_ms - t) / 1000 for s, t in self.last_sync_ms.items()}

    def fold(self) -> None:
        rows = pa.concat_tables([self._active_rows(self.main), self._active_rows(self.delta)])
        self.main = HotList.build(rows, self.lut)
        self.delta = HotList.empty()

    @staticmethod
    def _active_rows(seg: HotList, exclude_sources: set[str] | None = None) -> pa.Table:
        if not len(seg):
            return ENTRY_SCHEMA.empty_table()
        keep = seg.active.copy()
        if exclude_sources:
            keep &= ~pc.is_in(seg.entries["source"], value_set=pa.array(sorted(exclude_sources))).to_numpy(
                zero_copy_only=False
            )
        return seg.entries.filter(pa.array(keep))


@dataclass
class Applied:
    """What ``apply_ops`` did, event by event (each item ends with the event's origin): the adds admitted, the adds
    the admission policy refused (with the rule), the clears (and whether the entry was active), the syncs."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (entry_id, origin)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (entry_id, origin, rule)
    cleared: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (entry_id, reason, origin, active)
    synced: list[tuple[str, int, str]] = field(default_factory=list)  # (source, at_ms, origin)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "refused": len(self.refused),
            "cleared": sum(active for *_, active in self.cleared),
            "synced": len(self.synced),
        }


def apply_ops(live: LiveHotList, ops: list[tuple[str, Any]], now_ms: int) -> Applied:
    """Apply decoded hot-list events in order (``streams.ingest.hotlist_events``); returns what each did."""
    done = Applied()
    for op, items in ops:
        if op == "add":
            adm = live.add(items, now_ms)
            done.added += zip(adm.admitted["entry_id"].to_pylist(), adm.admitted["origin"].to_pylist(), strict=True)
            refused = adm.refused.select(["entry_id", "origin", "rule"]).to_pylist()
            done.refused += [(r["entry_id"], r["origin"], r["rule"]) for r in refused]
        elif op == "clear":
            for entry_id, reason, origin in items:
                done.cleared.append((entry_id, reason, origin, live.clear([entry_id]) > 0))
        elif op == "sync":
            for source, at, origin in items:
                live.sync(source, at)
                done.synced.append((source, at, origin))
    return done
