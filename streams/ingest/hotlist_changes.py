"""What the hot list's changes count in ``hotlist_changes`` (migration 013): each entry added, refused (with the
rule), admitted with its expiry capped, cleared, cleared by a snapshot, or expired. Every worker follows the whole
hot list and derives the same rows from the same events, so a change's id is a digest of what it is and where it
came from (the event's origin, or the entry and its expiry), never of which worker saw it, and its time is the
event's own ``at``: the store keeps each change once (count with FINAL). No plate, no entry id in the row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyarrow as pa

from streams.core.live_hotlist import Applied
from streams.ingest.hotlist_events import HotlistEvents

__all__ = ["CHANGES", "HotlistChange", "expired_changes", "hotlist_changes"]

LATE = "already_expired"  # the admission rule of an entry past its expiry (streams.core.policy)
CHANGES = ("added", "refused", "expiry_capped", "cleared", "cleared_by_snapshot", "expired")


@dataclass(frozen=True)
class HotlistChange:
    change_id: str
    at_ms: int
    source: str
    reason: str  # the entry's reason (stolen_vehicle, ...), or a clear's reason (recovered, ..., snapshot)
    change: str
    rule: str = ""


def _id(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def hotlist_changes(
    events: HotlistEvents, applied: Applied, facts: dict[str, tuple[str, str]], now_ms: int
) -> list[HotlistChange]:
    """The changes ``applied`` made. ``facts``: (source, reason) of entries the list held before the events (for
    what a clear removed); an add's own columns say it for adds. Events without an ``at`` take ``now_ms``."""
    added: dict[tuple[str, str], tuple[str, str]] = {}
    expires: dict[tuple[str, str], int | None] = {}
    for op, items in events.ops:
        if op == "add":
            cols = items.select(["entry_id", "origin", "source", "reason"]).to_pylist()
            exp = items["expires_at"].cast(pa.int64()).to_pylist()
            for r, e in zip(cols, exp, strict=True):
                added[(r["entry_id"], r["origin"])] = (r["source"] or "", r["reason"] or "")
                expires[(r["entry_id"], r["origin"])] = e
    # What a clear removed: an add earlier in these same events says it, else the list as it was before them.
    known = {**facts, **{entry_id: sr for (entry_id, _), sr in added.items()}}

    def at(origin: str) -> int:
        return events.at.get(origin, now_ms)

    out: list[HotlistChange] = []
    for entry_id, origin in applied.added:
        source, reason = added.get((entry_id, origin), ("", ""))
        out.append(HotlistChange(_id(origin, "added", entry_id), at(origin), source, reason, "added"))
    for entry_id, origin in applied.capped:
        source, reason = added.get((entry_id, origin), ("", ""))
        out.append(HotlistChange(_id(origin, "expiry_capped", entry_id), at(origin), source, reason, "expiry_capped"))
    for entry_id, origin, rule in applied.refused:
        source, reason = added.get((entry_id, origin), ("", ""))
        exp = expires.get((entry_id, origin))
        if rule == LATE and origin in events.at and exp is not None and exp > events.at[origin]:
            # Current when it was sent, expired only by the time this worker read it (a restart reading the topic
            # again): what it did when it happened was an add, and the worker that applied it then counted that.
            out.append(HotlistChange(_id(origin, "added", entry_id), at(origin), source, reason, "added"))
            continue
        out.append(HotlistChange(_id(origin, "refused", entry_id), at(origin), source, reason, "refused", rule))
    for entry_id, why, origin, active in applied.cleared:
        if active:  # a clear of an entry not listed (or cleared already) changed nothing
            source = known.get(entry_id, ("", ""))[0]
            out.append(HotlistChange(_id(origin, "cleared", entry_id), at(origin), source, why, "cleared"))
    for snap, origin in applied.snapshots:
        if snap.status == "applied":
            out += [
                HotlistChange(
                    _id(snap.source, snap.snapshot, "cleared_by_snapshot", entry_id),
                    at(origin),
                    snap.source,
                    known.get(entry_id, ("", ""))[1],
                    "cleared_by_snapshot",
                )
                for entry_id in snap.cleared
            ]
    return out


def expired_changes(expired: list[tuple[str, str, str, int]]) -> list[HotlistChange]:
    """Entries whose expiry passed while listed: (entry_id, source, reason, expires_at_ms) each; the same entry and
    expiry is the same change on every worker and after a restart."""
    return [
        HotlistChange(_id("expired", entry_id, exp), exp, source, reason, "expired")
        for entry_id, source, reason, exp in expired
    ]
