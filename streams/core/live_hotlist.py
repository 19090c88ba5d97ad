"""The hot-list replica a worker matches against, kept current by bulk loads, add and clear events.

Entries live in segments (``HotList``): a large main segment and a small delta that takes adds. A clear marks the
entry inactive in place, so it stops matching on the next batch without a rebuild; the delta is folded into the
main segment when it grows. Each source has a freshness clock: when a source has not synced within the policy's
limit, its entries still match but no longer alert (hits are marked ``source_stale``).

An explicit expiry beyond the reason's maximum is admitted capped at the maximum (``cap_expiry``), the cap written
on the entry. A snapshot (every entry id of one extract of a source, in parts) clears the entries of that source it
does not list, applied before it; one much smaller than the source's last is held back until a person confirms it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core.confusables import DEFAULT_LUT
from streams.core.hotlist import HotList, plain_column
from streams.core.policy import DAY_MS, Admission, AdmissionPolicy, admit
from streams.model.hotlist import FULL_ENTRY_SCHEMA, add_details, with_details

FOLD_AT = 50_000  # delta size at which it is merged into the main segment
_TS = pa.timestamp("ms", tz="UTC")


def cap_expiry(entries: pa.Table, policy: AdmissionPolicy, now_ms: int) -> tuple[pa.Table, np.ndarray]:
    """(entries with any expiry beyond its reason's ``max_days`` capped at valid_from (else now) plus the maximum,
    which rows were capped). A capped entry's ``expiry_rule`` says so, with the expiry the source gave."""
    entries = add_details(entries)
    # each distinct reason's maximum, then per row through the dictionary indices (no Python string per row)
    reason = pc.dictionary_encode(pc.fill_null(entries["reason"], "").combine_chunks())
    limits = [policy.reasons.get(r) for r in reason.dictionary.to_pylist()]
    per_reason = np.array([-1 if r is None or r.max_days is None else r.max_days * DAY_MS for r in limits], np.int64)
    max_ms = per_reason[reason.indices.to_numpy(zero_copy_only=False)] if len(per_reason) else np.zeros(0, np.int64)
    start = pc.fill_null(entries["valid_from"].cast(pa.int64()), now_ms).to_numpy(zero_copy_only=False)
    given = entries["expires_at"].cast(pa.int64())
    exp = pc.fill_null(given, -1).to_numpy(zero_copy_only=False)
    capped = (max_ms >= 0) & given.is_valid().to_numpy(zero_copy_only=False) & (exp > start + max_ms)
    if not capped.any():
        return entries, capped
    limit = np.where(capped, start + max_ms, exp)
    iso = pc.strftime(entries["expires_at"], format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    days = (max_ms // DAY_MS).tolist()
    reasons = pc.fill_null(entries["reason"], "").to_pylist()
    note = [
        f"expiry_capped: {d} days for {r} (given {g})" if c else e
        for c, d, r, g, e in zip(capped, days, reasons, iso, entries["expiry_rule"].to_pylist(), strict=True)
    ]
    capped_exp = pa.array(limit, pa.int64()).cast(_TS)
    entries = entries.set_column(
        entries.schema.get_field_index("expires_at"),
        "expires_at",
        pc.if_else(pa.array(capped), capped_exp, entries["expires_at"].combine_chunks().cast(_TS)),
    )
    at = entries.schema.get_field_index("expiry_rule")
    return entries.set_column(at, "expiry_rule", pa.array(note, pa.string())), capped


def release_freed_memory() -> None:
    """Give the memory a rebuild freed back to the system: Arrow's pool and the C allocator otherwise keep it,
    and a worker's resident size after loading a large list would be that of its peak."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc
        return None


_LIBC = _libc()


@dataclass(frozen=True)
class SnapshotPart:
    """One part of a snapshot event: the source, the snapshot's id, this part of ``parts``, the ids it lists, the
    snapshot's total, the share of the last snapshot under which it is held, whether a person confirmed a shrink,
    and when it was made."""

    source: str
    snapshot: str
    part: int
    parts: int
    entry_ids: tuple[str, ...]
    entries: int
    hold_below: float
    confirmed: bool
    at_ms: int


@dataclass(frozen=True)
class SnapshotOutcome:
    """What a complete snapshot did: ``applied`` (with the ids it cleared) or ``held`` (a shrink not confirmed)."""

    source: str
    snapshot: str
    status: str
    entries: int
    previous: int | None
    cleared: tuple[str, ...] = ()


class LiveHotList:
    def __init__(self, policy: AdmissionPolicy, lut: np.ndarray = DEFAULT_LUT):
        self.policy = policy
        self.lut = lut
        self.main = HotList.empty()
        self.delta = HotList.empty()
        self.last_sync_ms: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.cleared = 0
        self.capped = 0
        self.snapshot_sizes: dict[str, int] = {}  # source -> entries of its last applied snapshot
        self.snapshot_parts: dict[tuple[str, str], dict[int, SnapshotPart]] = {}

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
        entries, capped = cap_expiry(self._stamped(entries, now_ms), self.policy, now_ms)
        self.capped += int(capped.sum())
        adm = admit(entries, self.policy, now_ms)
        self._count_refused(adm)
        sources = {source} if source else set(pc.unique(entries["source"]).to_pylist()) if entries.num_rows else set()
        keep = [self._active_rows(seg, exclude_sources=sources) for seg in (self.main, self.delta)]
        adm_rows = with_details(adm.admitted)
        merged = pa.concat_tables([*keep, adm_rows])
        del keep, entries, adm_rows
        self.main = HotList.build(merged, self.lut)
        self.delta = HotList.empty()
        del merged
        release_freed_memory()
        for s in sources:
            self.last_sync_ms[s] = now_ms
        return adm

    def add(self, entries: pa.Table, now_ms: int) -> Admission:
        """Incremental adds: admitted entries replace any entry with the same id; expiries beyond the maximum are
        capped (``adm.admitted`` has a ``capped`` column)."""
        entries, capped = cap_expiry(self._stamped(entries, now_ms), self.policy, now_ms)
        self.capped += int(capped.sum())
        entries = entries.append_column("capped", pa.array(capped))
        adm = admit(entries, self.policy, now_ms)
        self._count_refused(adm)
        if adm.admitted.num_rows:
            self.clear(adm.admitted["entry_id"].to_pylist())
            rows = pa.concat_tables([self._active_rows(self.delta), with_details(adm.admitted)])
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

    def snapshot(self, part: SnapshotPart) -> SnapshotOutcome | None:
        """Take one part of a snapshot; once every part is in, apply it (None until then). Parts may arrive in any
        order and on any partition; a part of another snapshot of the source does not mix with this one."""
        key = (part.source, part.snapshot)
        got = self.snapshot_parts.setdefault(key, {})
        got[part.part] = part
        if len(got) < part.parts:
            return None
        del self.snapshot_parts[key]
        for other in [k for k in self.snapshot_parts if k[0] == part.source]:
            del self.snapshot_parts[other]  # an older snapshot still incomplete will never be applied now
        listed = pa.array(sorted({i for p in got.values() for i in p.entry_ids}), pa.string())
        previous = self.snapshot_sizes.get(part.source)
        base = (part.source, part.snapshot)
        if previous and part.entries < part.hold_below * previous and not part.confirmed:
            return SnapshotOutcome(*base, "held", part.entries, previous)
        cleared: list[str] = []
        for seg in (self.main, self.delta):
            if not len(seg):
                continue
            e = seg.entries
            added = pc.fill_null(plain_column(e["added_at"]).cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
            of_source = pc.fill_null(pc.equal(plain_column(e["source"]), part.source), False)
            stale = seg.active & of_source.to_numpy(zero_copy_only=False) & (added < part.at_ms)
            stale &= ~pc.is_in(e["entry_id"], value_set=listed).to_numpy(zero_copy_only=False)
            cleared += e["entry_id"].filter(pa.array(stale)).to_pylist()
            seg.active[stale] = False
        self.snapshot_sizes[part.source] = part.entries
        self.sync(part.source, part.at_ms)  # a snapshot is the source's refresh
        return SnapshotOutcome(*base, "applied", part.entries, previous, tuple(cleared))

    @staticmethod
    def _stamped(entries: pa.Table, now_ms: int) -> pa.Table:
        """``added_at`` of entries that have none: now (an add event carries its own time)."""
        entries = add_details(entries)
        at = entries.schema.get_field_index("added_at")
        return entries.set_column(at, "added_at", pc.fill_null(entries["added_at"], pa.scalar(now_ms, _TS)))

    def sync(self, source: str, at_ms: int) -> None:
        self.last_sync_ms[source] = at_ms

    def stale_sources(self, now_ms: int) -> set[str]:
        limit = int(self.policy.source_max_age_hours * 3_600_000)
        return {s for s, t in self.last_sync_ms.items() if now_ms - t > limit}

    def source_ages_s(self, now_ms: int) -> dict[str, float]:
        return {s: (now_ms - t) / 1000 for s, t in self.last_sync_ms.items()}

    def facts(self, entry_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(source, reason) of each of ``entry_ids`` the list holds, listed or cleared; the newest segment wins."""
        wanted = pa.array(sorted(set(entry_ids)), pa.string())
        out: dict[str, tuple[str, str]] = {}
        if not len(wanted):
            return out
        for seg in (self.main, self.delta):
            if len(seg):
                rows = seg.entries.filter(pc.is_in(seg.entries["entry_id"], value_set=wanted))
                for r in rows.select(["entry_id", "source", "reason"]).to_pylist():
                    out[r["entry_id"]] = (r["source"] or "", r["reason"] or "")
        return out

    def expired(self, now_ms: int, since_ms: int | None = None) -> list[tuple[str, str, str, int]]:
        """Entries still listed (not cleared) whose expiry is at or before ``now_ms`` (and after ``since_ms``, when
        given): (entry_id, source, reason, expires_at_ms) each. They no longer match; a report counts them expired."""
        out: list[tuple[str, str, str, int]] = []
        for seg in (self.main, self.delta):
            if not len(seg):
                continue
            idx, at_ms = seg.expiring(now_ms, since_ms)
            if len(idx):
                rows = seg.entries.take(pa.array(idx)).select(["entry_id", "source", "reason"]).to_pylist()
                out += [
                    (r["entry_id"], r["source"] or "", r["reason"] or "", int(t))
                    for r, t in zip(rows, at_ms.tolist(), strict=True)
                ]
        return out

    def fold(self) -> None:
        rows = pa.concat_tables([self._active_rows(self.main), self._active_rows(self.delta)])
        self.main = HotList.build(rows, self.lut)
        self.delta = HotList.empty()
        del rows
        release_freed_memory()

    @staticmethod
    def _active_rows(seg: HotList, exclude_sources: set[str] | None = None) -> pa.Table:
        if not len(seg):
            return FULL_ENTRY_SCHEMA.empty_table()
        keep = seg.active.copy()
        if exclude_sources:
            keep &= ~pc.is_in(seg.entries["source"], value_set=pa.array(sorted(exclude_sources))).to_numpy(
                zero_copy_only=False
            )
        return seg.rows(keep)


@dataclass
class Applied:
    """What ``apply_ops`` did, event by event (each item ends with the event's origin): the adds admitted, the adds
    the admission policy refused (with the rule), the clears (and whether the entry was active), the syncs."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (entry_id, origin)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (entry_id, origin, rule)
    cleared: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (entry_id, reason, origin, active)
    synced: list[tuple[str, int, str]] = field(default_factory=list)  # (source, at_ms, origin)
    capped: list[tuple[str, str]] = field(default_factory=list)  # (entry_id, origin): admitted, expiry capped
    snapshots: list[tuple[SnapshotOutcome, str]] = field(default_factory=list)  # (complete snapshot, origin)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "refused": len(self.refused),
            "cleared": sum(active for *_, active in self.cleared),
            "synced": len(self.synced),
            "expiry_capped": len(self.capped),
            "cleared_by_snapshot": sum(len(o.cleared) for o, _ in self.snapshots if o.status == "applied"),
            "snapshots_held": sum(o.status == "held" for o, _ in self.snapshots),
        }


def apply_ops(live: LiveHotList, ops: list[tuple[str, Any]], now_ms: int) -> Applied:
    """Apply decoded hot-list events in order (``streams.ingest.hotlist_events``); returns what each did."""
    done = Applied()
    for op, items in ops:
        if op == "add":
            adm = live.add(items, now_ms)
            ids, origins = adm.admitted["entry_id"].to_pylist(), adm.admitted["origin"].to_pylist()
            done.added += zip(ids, origins, strict=True)
            capped = adm.admitted["capped"].to_pylist()
            done.capped += [(i, o) for i, o, c in zip(ids, origins, capped, strict=True) if c]
            refused = adm.refused.select(["entry_id", "origin", "rule"]).to_pylist()
            done.refused += [(r["entry_id"], r["origin"], r["rule"]) for r in refused]
        elif op == "clear":
            for entry_id, reason, origin in items:
                done.cleared.append((entry_id, reason, origin, live.clear([entry_id]) > 0))
        elif op == "sync":
            for source, at, origin in items:
                live.sync(source, at)
                done.synced.append((source, at, origin))
        elif op == "snapshot":
            for part, origin in items:
                outcome = live.snapshot(part)
                if outcome is not None:
                    done.snapshots.append((outcome, origin))
    return done
