"""Searches of the read store and the legal process they cite (docs/search-and-audit.md): the records, the
limits of each search kind, and the refusals."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "PROCESS_KINDS",
    "SEARCH_KINDS",
    "Area",
    "KindSearch",
    "Partner",
    "ProcessRecord",
    "SearchDenied",
    "SearchRefused",
    "SearchRequest",
]

# A legal-process record is one of these; the policy names which of them are exceptions (no warrant).
PROCESS_KINDS = ("warrant", "court_order", "emergency", "stolen_vehicle", "missing_person")
# Every search cites a process record and is one of these kinds, each with its own limits in the policy.
SEARCH_KINDS = ("plate_history", "near_scene", "hit_trail", "retroactive_match")


class SearchRefused(ValueError):
    """A search without what the gate asks for (a reason, a valid plate or read id)."""


class SearchDenied(Exception):
    """A search (or a process or sharing change) that a rule refuses: the HTTP status, the rule, one sentence
    that never echoes a plate."""

    def __init__(self, status: int, rule: str, message: str):
        super().__init__(message)
        self.status, self.rule, self.message = status, rule, message


@dataclass(frozen=True)
class SearchRequest:
    """What is searched for, and why. Who asks is not part of it: that is the verified principal."""

    reason: str
    case_number: str = ""
    plates: tuple[str, ...] = ()
    region: str | None = None
    read_ids: tuple[str, ...] = ()
    captured_from_ms: int = 0
    captured_to_ms: int = 2**62


@dataclass(frozen=True)
class Area:
    """A circle on the ground: centre in degrees, radius in metres."""

    lat: float
    lon: float
    radius_m: float

    def to_json(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon, "radius_m": self.radius_m}


@dataclass(frozen=True)
class ProcessRecord:
    """One legal-process record as stored (its latest version): what it authorises, for whom, until when. Plates
    only as keyed hashes under every configured key; times in ms since the epoch."""

    process_id: str
    kind: str
    number: str
    issuer: str
    case_number: str
    offence: str
    plate_keys: frozenset[tuple[str, int]]
    cameras: tuple[str, ...]
    area: Area | None
    scope_from_ms: int
    scope_to_ms: int
    expires_at_ms: int
    registered_by: str
    agency: str
    registered_at_ms: int
    review_due_ms: int | None = None  # set for exceptions only: another supervisor reviews it by then
    reviewed_by: str | None = None
    reviewed_at_ms: int | None = None
    version: int = 1


@dataclass(frozen=True)
class KindSearch:
    """One search of a kind, as the scope rules see it. ``plates`` holds, per plate asked for, its keyed hashes
    under every key (no plate text); ``cameras`` are those asked for, or those the area resolves to."""

    kind: str
    process_id: str
    purpose: str = ""
    plates: tuple[frozenset[tuple[str, int]], ...] = ()
    cameras: tuple[str, ...] = ()
    area: Area | None = None
    from_ms: int = 0
    to_ms: int = 0
    hit_id: str | None = None
    entry_id: str | None = None
    measures: dict[str, float] = field(default_factory=dict)  # what the policy's limits are checked against


@dataclass(frozen=True)
class Partner:
    """An outside agency on the sharing allow-list and the protections it is bound by (free text)."""

    agency: str
    warrant_rules: str
    retention: str
    added_by: str
    added_at_ms: int
    removed: bool = False
    removed_by: str = ""
    removed_at_ms: int | None = None
    version: int = 1
