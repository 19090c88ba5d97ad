"""Hot-list events from the compacted ``hotlist.events`` topic (key = entry id), JSON:

    {"op": "add",   "entry": {entry_id, plate, region, plate_type, reason, legal_basis_type, legal_basis, agency,
                              entered_by, source, valid_from, expires_at}, "at": ms}
    {"op": "clear", "entry_id": "...", "reason": "recovered" | "warrant_served" | ..., "by": "...", "at": ms}
    {"op": "sync",  "source": "ncic_extract", "at": ms}      a source's freshness clock: it synced at ``at``

Times are milliseconds since the epoch or ISO 8601 strings. A bad event becomes a dead letter, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from streams.model import deadletter as dl
from streams.model.deadletter import DeadLetter
from streams.model.hotlist import ENTRY_SCHEMA

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
    """Decoded events in arrival order, consecutive events of one kind grouped: ``("add", Table)``,
    ``("clear", [(entry_id, reason), ...])``, ``("sync", [(source, at_ms), ...])``. Order matters: an add then
    a clear of the same id leaves it cleared."""

    ops: list[tuple[str, Any]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def _push(self, op: str, item: Any) -> None:
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


def _text(doc: dict[str, Any], name: str, required: bool = False) -> str | None:
    v = doc.get(name)
    if v is None or v == "":
        if required:
            raise _Bad(f"missing {name}")
        return None
    if not isinstance(v, str) or len(v) > 128:
        raise _Bad(f"{name} must be a string of at most 128 characters")
    return v


def decode_hotlist_events(payloads: Sequence[bytes], origins: Sequence[str]) -> HotlistEvents:
    out = HotlistEvents()
    for raw, origin in zip(payloads, origins, strict=True):
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise _Bad("an event must be a JSON object")
            op = doc.get("op")
            if op == "add":
                entry = doc.get("entry")
                if not isinstance(entry, dict):
                    raise _Bad("add needs an entry object")
                row: dict[str, Any] = {k: _text(entry, k) for k in _TEXT_FIELDS}
                if row["entry_id"] is None or row["plate"] is None:
                    raise _Bad("an entry needs entry_id and plate")
                row["valid_from"] = _time(entry.get("valid_from"), "valid_from")
                row["expires_at"] = _time(entry.get("expires_at"), "expires_at")  # missing: refused by policy
                out._push("add", row)
            elif op == "clear":
                reason = _text(doc, "reason") or "other"
                if reason not in CLEAR_REASONS:
                    raise _Bad(f"clear reason must be one of {', '.join(CLEAR_REASONS)}")
                out._push("clear", (_text(doc, "entry_id", required=True), reason))
            elif op == "sync":
                at = _time(doc.get("at"), "at")
                if at is None:
                    raise _Bad("sync needs at")
                out._push("sync", (_text(doc, "source", required=True), at))
            else:
                raise _Bad("op must be add, clear or sync")
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, a 5000-digit integer
            out.dead.append(DeadLetter(dl.UNDECODABLE, f"not JSON: {type(exc).__name__}", raw, origin))
        except _Bad as exc:
            out.dead.append(DeadLetter(dl.WRONG_SCHEMA, str(exc), raw, origin))
    out.ops = [(op, _entries_table(items) if op == "add" else items) for op, items in out.ops]
    return out


def _entries_table(rows: list[dict[str, Any]]) -> pa.Table:
    ts = pa.timestamp("ms", tz="UTC")
    cols = {k: pa.array([r[k] for r in rows], pa.string()) for k in _TEXT_FIELDS}
    for k in ("valid_from", "expires_at"):
        cols[k] = pa.array([r[k] for r in rows], pa.int64()).cast(ts)
    return pa.table(cols, schema=ENTRY_SCHEMA)


def add_event(entry: dict[str, Any], at_ms: int) -> dict[str, Any]:
    return {"op": "add", "entry": entry, "at": at_ms}


def clear_event(entry_id: str, reason: str, by: str, at_ms: int) -> dict[str, Any]:
    return {"op": "clear", "entry_id": entry_id, "reason": reason, "by": by, "at": at_ms}


def sync_event(source: str, at_ms: int) -> dict[str, Any]:
    return {"op": "sync", "source": source, "at": at_ms}
