"""Hot-list events from the compacted ``hotlist.events`` topic (key = entry id), JSON:

    {"op": "add",   "entry": {entry_id, plate, region, plate_type, reason, legal_basis_type, legal_basis, agency,
                              source, valid_from, expires_at}, "at": ms}
    {"op": "clear", "entry_id": "...", "reason": "recovered" | "warrant_served" | ..., "at": ms}
    {"op": "sync",  "source": "ncic_extract", "at": ms}      a source's freshness clock: it synced at ``at``
    {"op": "snapshot", "source": "ncic_extract", "snapshot": "<id>", "part": 0, "parts": n, "entries": N,
     "entry_ids": [...], "hold_below": 0.5, "confirmed": false, "at": ms}

A snapshot lists every entry id of one extract of a source, in parts of at most ``SNAPSHOT_PART_BYTES`` (a
million ids do not fit one Kafka message); each part is keyed ``snapshot:<source>:<part>``, so compaction keeps the
last snapshot's parts. Once a worker has every part it clears the source's entries the snapshot does not list that
were added before it (``cleared_by_snapshot``), unless the snapshot has fewer than ``hold_below`` times the entries
of the source's last one and ``confirmed`` is false: then it is held. It needs ``hotlist.clear``. An add may also
carry ``legal_basis_text`` (free text, as the source gave it) and ``expiry_rule`` (how its expiry was set).

Each travels in a signed envelope (``streams.ingest.control``): an add's ``entered_by`` and who cleared an entry are
the envelope's principal, which needs ``hotlist.add``, ``hotlist.clear`` or ``hotlist.sync``. Times are
milliseconds since the epoch or ISO 8601 strings. A bad event becomes a dead letter, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pyarrow as pa

from streams.core.live_hotlist import Applied, SnapshotPart
from streams.ingest.control import Authorised, ControlGate, Rejection, rejection
from streams.model import deadletter as dl
from streams.model.audit import AuditEntry
from streams.model.deadletter import DeadLetter
from streams.model.hotlist import FULL_ENTRY_SCHEMA

__all__ = [
    "ACTIONS_BY_OP",
    "CLEAR_REASONS",
    "SNAPSHOT_PART_BYTES",
    "HotlistEvents",
    "add_event",
    "audit_entries",
    "clear_event",
    "decode_hotlist_events",
    "entry_documents",
    "snapshot_events",
    "sync_event",
]

ACTIONS_BY_OP = {"add": "hotlist.add", "clear": "hotlist.clear", "sync": "hotlist.sync", "snapshot": "hotlist.clear"}
SNAPSHOT_PART_BYTES = 400_000  # ids per part: well under Kafka's 1 MB message default, envelope included
_LONG_TEXT = {"legal_basis_text": 1000, "expiry_rule": 200}
CLEAR_REASONS = ("recovered", "warrant_served", "cancelled", "expired", "entered_in_error", "other")
_TEXT_FIELDS = (
    "entry_id",
    "plate",
    "region",
    "plate_type",
    "reason",
    "legal_basis_type",
    "legal_basis",
    "agency",
    "entered_by",
    "source",
)


@dataclass
class HotlistEvents:
    """Decoded events in arrival order, consecutive events of one kind grouped: ``("add", Table)`` (entry columns
    and ``origin``), ``("clear", [(entry_id, reason, origin), ...])``, ``("sync", [(source, at_ms, origin), ...])``.
    Order matters: an add then a clear of the same id leaves it cleared. ``who``: the authorised principal of each
    decoded event, by origin; ``rejected``: the events not applied."""

    ops: list[tuple[str, Any]] = field(default_factory=list)
    who: dict[str, Authorised] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    at: dict[str, int] = field(default_factory=dict)  # each decoded event's own time, by origin (when it has one)

    @property
    def dead(self) -> list[DeadLetter]:
        return [r.dead for r in self.rejected]

    def push(self, op: str, item: Any) -> None:
        if self.ops and self.ops[-1][0] == op:
            self.ops[-1][1].append(item)
        else:
            self.ops.append((op, [item]))


class _Bad(Exception):
    pass


def _time(v: Any, name: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise _Bad(f"{name} must be milliseconds or ISO 8601")
    if isinstance(v, int | float):
        if v != v or abs(v) > 2**62:  # NaN, inf, or beyond any real date
            raise _Bad(f"{name} is out of range")
        return int(v)
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise _Bad(f"{name} is not ISO 8601") from None
        if d.tzinfo is None:
            raise _Bad(f"{name} needs a time zone")
        return int(d.timestamp() * 1000)
    raise _Bad(f"{name} must be milliseconds or ISO 8601")


def _text(doc: dict[str, Any], name: str, required: bool = False, longest: int = 128) -> str | None:
    v = doc.get(name)
    if v is None or v == "":
        if required:
            raise _Bad(f"missing {name}")
        return None
    if not isinstance(v, str) or len(v) > longest:
        raise _Bad(f"{name} must be a string of at most {longest} characters")
    return v


def _snapshot(doc: dict[str, Any], at: int) -> SnapshotPart:
    ids, part, parts, total = doc.get("entry_ids"), doc.get("part"), doc.get("parts"), doc.get("entries")
    if not isinstance(ids, list) or not all(isinstance(i, str) and 0 < len(i) <= 128 for i in ids):
        raise _Bad("a snapshot needs entry_ids, a list of entry ids")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (part, parts, total)):
        raise _Bad("a snapshot needs integer part, parts and entries")
    if not (0 <= part < parts <= 100_000) or total < 0:
        raise _Bad("snapshot part must be in 0..parts-1")
    hold = doc.get("hold_below", 0.5)
    if not isinstance(hold, int | float) or isinstance(hold, bool) or not 0 <= hold <= 1:
        raise _Bad("hold_below must be a number from 0 to 1")
    confirmed = doc.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise _Bad("confirmed must be true or false")
    source, snap = _text(doc, "source", required=True), _text(doc, "snapshot", required=True)
    return SnapshotPart(source, snap, part, parts, tuple(ids), total, float(hold), confirmed, at)  # type: ignore[arg-type]


def decode_hotlist_events(payloads: Sequence[bytes], origins: Sequence[str], gate: ControlGate) -> HotlistEvents:
    """Open, authorise and decode each event; what fails is a rejection (dead letter + audit), never raised."""
    out = HotlistEvents()
    for raw, origin in zip(payloads, origins, strict=True):
        opened = gate.open(raw, origin, "hotlist")
        if isinstance(opened, Rejection):
            out.rejected.append(opened)
            continue
        doc, principal = opened
        op = doc.get("op")
        action = ACTIONS_BY_OP.get(op) if isinstance(op, str) else None
        if action is None:
            out.rejected.append(
                rejection(dl.WRONG_SCHEMA, "op must be add, clear, sync or snapshot", raw, origin, "hotlist")
            )
            continue
        who = gate.authorise(doc, principal, action, raw, origin)
        if isinstance(who, Rejection):
            out.rejected.append(who)
            continue
        try:
            if op == "add":
                entry = doc.get("entry")
                if not isinstance(entry, dict):
                    raise _Bad("add needs an entry object")
                row: dict[str, Any] = {k: _text(entry, k) for k in _TEXT_FIELDS}
                row.update({k: _text(entry, k, longest=n) for k, n in _LONG_TEXT.items()})
                row["added_at"] = _time(doc.get("at"), "at")  # a snapshot clears only what was added before it
                if row["entry_id"] is None or row["plate"] is None:
                    raise _Bad("an entry needs entry_id and plate")
                row["entered_by"] = who.actor  # the signed principal, whatever the entry says
                row["valid_from"] = _time(entry.get("valid_from"), "valid_from")
                row["expires_at"] = _time(entry.get("expires_at"), "expires_at")  # missing: refused by policy
                row["origin"] = origin
                out.push("add", row)
            elif op == "clear":
                if "by" in doc:
                    raise _Bad("who cleared is the signed principal: a clear carries no by")
                reason = _text(doc, "reason") or "other"
                if reason not in CLEAR_REASONS:
                    raise _Bad(f"clear reason must be one of {', '.join(CLEAR_REASONS)}")
                out.push("clear", (_text(doc, "entry_id", required=True), reason, origin))
            else:
                at = _time(doc.get("at"), "at")
                if at is None:
                    raise _Bad(f"{op} needs at")
                if op == "sync":
                    out.push("sync", (_text(doc, "source", required=True), at, origin))
                else:
                    out.push("snapshot", (_snapshot(doc, at), origin))
            out.who[origin] = who
            at_ms = doc.get("at")
            if isinstance(at_ms, int) and not isinstance(at_ms, bool) and abs(at_ms) < 2**62:
                out.at[origin] = at_ms
        except (ValueError, RecursionError) as exc:  # a 5000-digit integer, ...
            out.rejected.append(rejection(dl.UNDECODABLE, type(exc).__name__, raw, origin, action, who))
        except _Bad as exc:
            out.rejected.append(rejection(dl.WRONG_SCHEMA, str(exc), raw, origin, action, who))
    out.ops = [(op, _entries_table(items) if op == "add" else items) for op, items in out.ops]
    return out


def audit_entries(events: HotlistEvents, applied: Applied, now_ms: int) -> list[AuditEntry]:
    """What the audit trail records of applied events: each add (admitted, or refused by the admission policy with
    its rule), each clear (who cleared and why), each sync, with the signed principal; then every rejection."""
    out: list[AuditEntry] = []

    def entry(origin: str, action: str, detail: dict[str, Any], **kw: Any) -> AuditEntry:
        who = events.who[origin]
        p = who.principal
        return AuditEntry(
            now_ms, action, p.actor, p.agency, who.role, origin, detail=json.dumps(detail), decision="applied", **kw
        )

    capped = set(applied.capped)
    for entry_id, origin in applied.added:
        detail: dict[str, Any] = {"entry_id": entry_id}
        if (entry_id, origin) in capped:
            detail["expiry_capped"] = True
        out.append(entry(origin, "hotlist.add", detail))
    for entry_id, origin, rule in applied.refused:
        out.append(replace(entry(origin, "hotlist.add", {"entry_id": entry_id}), decision="rejected", rule=rule))
    for entry_id, reason, origin, active in applied.cleared:
        out.append(entry(origin, "hotlist.clear", {"entry_id": entry_id, "was_active": active}, reason=reason))
    for source, at_ms, origin in applied.synced:
        out.append(entry(origin, "hotlist.sync", {"source": source, "at_ms": at_ms}))
    for snap, origin in applied.snapshots:
        detail = {
            "source": snap.source,
            "snapshot": snap.snapshot,
            "entries": snap.entries,
            "previous": snap.previous,
            "cleared_by_snapshot": len(snap.cleared),
        }
        record = entry(origin, "hotlist.snapshot", detail)
        if snap.status == "held":
            record = replace(record, decision="rejected", rule="snapshot_shrunk")
        out.append(record)
        for entry_id in snap.cleared:
            out.append(entry(origin, "hotlist.clear", {"entry_id": entry_id}, reason="cleared_by_snapshot"))
    out += [r.audit_entry(now_ms) for r in events.rejected]
    return out


def _entries_table(rows: list[dict[str, Any]]) -> pa.Table:
    ts = pa.timestamp("ms", tz="UTC")
    cols = {k: pa.array([r[k] for r in rows], pa.string()) for k in (*_TEXT_FIELDS, *_LONG_TEXT)}
    for k in ("valid_from", "expires_at", "added_at"):
        cols[k] = pa.array([r[k] for r in rows], pa.int64()).cast(ts)
    # ``origin`` rides along through admission (extra columns pass), so what was applied is audited per event.
    table = pa.table(cols).select(FULL_ENTRY_SCHEMA.names).cast(FULL_ENTRY_SCHEMA)
    return table.append_column("origin", pa.array([r["origin"] for r in rows]))


def add_event(entry: dict[str, Any], at_ms: int) -> dict[str, Any]:
    return {"op": "add", "entry": entry, "at": at_ms}


def clear_event(entry_id: str, reason: str, at_ms: int) -> dict[str, Any]:
    """A clear; who cleared it is the principal of its signed envelope."""
    return {"op": "clear", "entry_id": entry_id, "reason": reason, "at": at_ms}


def sync_event(source: str, at_ms: int) -> dict[str, Any]:
    return {"op": "sync", "source": source, "at": at_ms}


def snapshot_events(
    source: str, snapshot: str, entry_ids: Sequence[str], hold_below: float, confirmed: bool, at_ms: int
) -> list[tuple[str, dict[str, Any]]]:
    """(key, event) of each part of a snapshot listing ``entry_ids``; parts of at most ``SNAPSHOT_PART_BYTES``."""
    groups: list[list[str]] = [[]]
    size = 0
    for i in entry_ids:
        if groups[-1] and size + len(i) + 4 > SNAPSHOT_PART_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(i)
        size += len(i) + 4
    base = {"op": "snapshot", "source": source, "snapshot": snapshot, "parts": len(groups), "entries": len(entry_ids)}
    extra = {"hold_below": hold_below, "confirmed": confirmed, "at": at_ms}
    return [(f"snapshot:{source}:{n}", {**base, "part": n, "entry_ids": ids, **extra}) for n, ids in enumerate(groups)]


def entry_documents(entries: pa.Table) -> list[dict[str, Any]]:
    """Imported entries as the ``entry`` of add events: times in milliseconds, empty fields left out, and no
    ``entered_by`` or ``added_at`` (the signed principal and the event's time say those)."""
    out = []
    for row in entries.select([c for c in FULL_ENTRY_SCHEMA.names if c in entries.column_names]).to_pylist():
        for k in ("valid_from", "expires_at"):
            row[k] = int(row[k].timestamp() * 1000) if row.get(k) is not None else None
        for k in ("entered_by", "added_at"):
            row.pop(k, None)
        out.append({k: v for k, v in row.items() if v is not None and v != ""})
    return out
