"""What an audit review reads and reports: the policy's thresholds, the audit and legal-process rows as the rules
see them (parsed from dicts or Arrow rows), and the flags (``streams.core.review`` holds the rules)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

__all__ = [
    "Flag",
    "Process",
    "Record",
    "RecordRef",
    "ReviewPolicy",
    "Shift",
    "latest_processes",
    "parse_process",
    "parse_record",
    "plate_key_label",
    "rows_of",
]


@dataclass(frozen=True)
class Shift:
    """Working hours in local minutes after midnight; ``end_minute < start_minute`` runs past midnight."""

    start_minute: int
    end_minute: int

    def covers(self, minute: int, grace_minutes: int = 0) -> bool:
        """Whether a local time (minutes after midnight) falls in the shift, widened by the grace either side."""
        length = (self.end_minute - self.start_minute) % 1440 or 1440
        return (minute - self.start_minute + grace_minutes) % 1440 <= length + 2 * grace_minutes


@dataclass(frozen=True)
class ReviewPolicy:
    """The thresholds of every rule (``policies/review.yaml``, loaded by ``streams.config.review_policy``)."""

    timezone: str = "UTC"
    repeat_min_searches: int = 3
    repeat_min_span_days: float = 14.0
    vague_placeholders: frozenset[str] = frozenset()
    vague_min_chars: int = 8
    vague_case_pattern: str = r"[a-z]{0,4}[-/ ]?\d[\d\-/.]*"
    vague_max_share: float = 0.25
    vague_min_count: int = 5
    unused_grace_days: float = 7.0
    prohibited_terms: tuple[str, ...] = ()
    home_agencies: frozenset[str] = frozenset()
    home_regions: frozenset[str] = frozenset()
    agency_regions: Mapping[str, str] = field(default_factory=dict)
    scope_factor: float = 4.0
    scope_min_group: int = 5
    shift_grace_minutes: int = 30
    shift_min_searches: int = 3
    role_shifts: Mapping[str, Shift] = field(default_factory=dict)
    user_shifts: Mapping[str, Shift] = field(default_factory=dict)
    spike_factor: float = 3.0
    spike_floor: int = 20
    spike_min_days: int = 5
    exception_kinds: frozenset[str] = frozenset({"emergency", "stolen_vehicle", "missing_person"})


@dataclass(frozen=True)
class RecordRef:
    """Which audit record: its ``seq`` (and ``writer``) where the log has them, else its time and actor."""

    at_ms: int
    actor: str
    action: str
    seq: int | None = None
    writer: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "writer": self.writer, "at_ms": self.at_ms, "actor": self.actor, "action": self.action}


@dataclass(frozen=True)
class Flag:
    """One finding: the rule, who (``actor``, or only ``agency`` for agency-wide rules), a one-line summary
    without plate text, the records and process records behind it, and the numbers that tripped the rule."""

    rule: str
    actor: str
    agency: str
    summary: str
    records: tuple[RecordRef, ...] = ()
    process_ids: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The user the flag is about, or the agency for an agency-wide flag."""
        return self.actor or self.agency

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "actor": self.actor,
            "agency": self.agency,
            "summary": self.summary,
            "records": [r.to_json() for r in self.records],
            "process_ids": list(self.process_ids),
            "facts": dict(self.facts),
        }


@dataclass(frozen=True)
class Record:
    """An audit row as the rules read it (``detail`` parsed; a malformed detail reads as empty)."""

    ref: RecordRef
    agency: str
    role: str
    reason: str
    case_number: str
    decision: str
    detail: Mapping[str, Any]

    @property
    def at_ms(self) -> int:
        return self.ref.at_ms

    @property
    def actor(self) -> str:
        return self.ref.actor

    @property
    def action(self) -> str:
        return self.ref.action

    @property
    def purpose(self) -> str:
        return str(self.detail.get("purpose") or "")

    @property
    def plate_keys(self) -> tuple[str, ...]:
        keys = self.detail.get("plate_keys")
        return tuple(plate_key_label(k) for k in keys) if isinstance(keys, list) else ()

    @property
    def process_id(self) -> str:
        return str(self.detail.get("process_id") or "")

    def number(self, name: str) -> float | None:
        """A number in ``detail`` (``from_ms``, ``to_ms``, ...), None when absent or not a number."""
        v = self.detail.get(name)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class Process:
    """The latest state of a legal-process record, times in ms (None when not set)."""

    process_id: str
    kind: str
    case_number: str
    offence: str
    plate_keys: frozenset[str]
    scope_from: int | None
    scope_to: int | None
    expires_at: int | None
    registered_by: str
    agency: str
    registered_at: int | None
    reviewed_at: int | None
    review_due: int | None

    def in_force(self, at_ms: int) -> bool:
        return self.expires_at is None or at_ms <= self.expires_at

    def covers(self, search: Record, plate_key: str) -> bool:
        """The record names the plate, its window holds the search's window, and it was in force then."""
        lo = search.number("from_ms") or 0
        hi = search.number("to_ms") or search.at_ms
        return (
            plate_key in self.plate_keys
            and (self.scope_from is None or self.scope_from <= lo)
            and (self.scope_to is None or hi <= self.scope_to)
            and self.in_force(search.at_ms)
        )


def plate_key_label(key: Any) -> str:
    """A plate key as audit details write it, ``key_id:16-hex``, from that text, a (key_id, hash) pair or a
    ``{"key_id", "plate_key"}`` struct (an Arrow tuple column)."""
    if isinstance(key, Mapping):
        key = (key.get("key_id"), key.get("plate_key"))
    if isinstance(key, tuple | list) and len(key) == 2:
        return f"{key[0]}:{int(key[1]):016x}"
    return str(key).lower()


def _ms(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return int((v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp() * 1000)
    return int(v)


def rows_of(rows: pa.Table | Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """Rows as mappings, from an Arrow table, any iterable of mappings, or None (no rows)."""
    if rows is None:
        return []
    return rows.to_pylist() if isinstance(rows, pa.Table) else list(rows)


def parse_record(row: Mapping[str, Any]) -> Record:
    """An audit row (``audit_log`` columns; ``writer`` and ``seq`` when the log has them). A row without an
    agency takes the one its actor (subject@agency) names."""
    try:
        detail = json.loads(row.get("detail") or "{}")
    except (TypeError, ValueError):
        detail = {}
    seq = row.get("seq")
    actor = str(row.get("actor") or "")
    ref = RecordRef(
        int(row["at_ms"]),
        actor,
        str(row.get("action") or ""),
        None if seq is None else int(seq),
        str(row.get("writer") or ""),
    )
    return Record(
        ref,
        str(row.get("agency") or "") or (actor.rpartition("@")[2] if "@" in actor else ""),
        str(row.get("role") or ""),
        str(row.get("reason") or ""),
        str(row.get("case_number") or ""),
        str(row.get("decision") or ""),
        detail if isinstance(detail, dict) else {},
    )


def parse_process(row: Mapping[str, Any]) -> Process:
    """A ``legal_process`` row (timestamps as ms or datetimes)."""
    return Process(
        str(row["process_id"]),
        str(row.get("kind") or ""),
        str(row.get("case_number") or ""),
        str(row.get("offence") or ""),
        frozenset(plate_key_label(k) for k in row.get("plate_keys") or ()),
        _ms(row.get("scope_from")),
        _ms(row.get("scope_to")),
        _ms(row.get("expires_at")),
        str(row.get("registered_by") or ""),
        str(row.get("agency") or ""),
        _ms(row.get("registered_at")),
        _ms(row.get("reviewed_at")),
        _ms(row.get("review_due")),
    )


def latest_processes(rows: Iterable[Mapping[str, Any]]) -> list[Process]:
    """The latest state (highest ``version``) of each process record, as the rules read it."""
    best: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        pid = str(r["process_id"])
        if pid not in best or int(r.get("version") or 0) >= int(best[pid].get("version") or 0):
            best[pid] = r
    return [parse_process(r) for r in best.values()]
