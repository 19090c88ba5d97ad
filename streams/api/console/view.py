"""What the console shows of a hit: the two plates character by character with the positions that differ, what the
match kind means, whether it is a possible misread (typed confirmation), whether it is overdue, and which hits an
operator of an agency sees. Pure: no I/O, time is a parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.kafka.hits_feed import FeedHit
from streams.model.match_kinds import MISREAD_KINDS

__all__ = [
    "KIND_MEANINGS",
    "MISREAD_KINDS",
    "HitView",
    "PlateChar",
    "agency_of",
    "differing",
    "iso_ms",
    "normalise",
    "plate_chars",
]

KIND_MEANINGS = {
    "exact": "every character and the region match the entry",
    "candidate": "not the reader's best guess: one of its other candidate readings matches the entry",
    "confusable": "matches only if look-alike characters (such as 0/O, 8/B, 1/I) are taken for each other",
    "region_mismatch": "the characters match but the issuing region differs from the entry's",
}


def normalise(plate: str) -> str:
    """A plate as compared: upper case, without spaces, dashes and dots."""
    return "".join(c for c in plate.upper() if c not in " -.·")


def differing(read: str, entry: str) -> list[int]:
    """The 1-based positions where the two plates (normalised) differ, extra characters included."""
    a, b = normalise(read), normalise(entry)
    return [i + 1 for i in range(max(len(a), len(b))) if i >= len(a) or i >= len(b) or a[i] != b[i]]


@dataclass(frozen=True)
class PlateChar:
    position: int  # 1-based
    char: str  # "" past the plate's end
    differs: bool


def plate_chars(plate: str, other: str) -> list[PlateChar]:
    diff = set(differing(plate, other))
    p = normalise(plate)
    n = max(len(p), len(normalise(other)))
    return [PlateChar(i + 1, p[i] if i < len(p) else "", i + 1 in diff) for i in range(n)]


def iso_ms(value: str | None) -> int | None:
    """Milliseconds since the epoch of an ISO 8601 time as the hits topic writes it; None when absent or bad."""
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def agency_of(payload: dict[str, Any], home_agency: str) -> str:
    """The agency whose operators check a hit: the entry's agency (``entry_agency`` on the hits topic), else, for
    an entry that names none, the deployment's home agency."""
    agency = payload.get("entry_agency") or payload.get("agency")
    return agency if isinstance(agency, str) and agency else home_agency


@dataclass(frozen=True)
class HitView:
    """One hit as a console page shows it."""

    hit: FeedHit
    now_ms: int
    verify_within_ms: int
    low_confidence: float

    @property
    def p(self) -> dict[str, Any]:
        return self.hit.payload

    @property
    def hit_id(self) -> str:
        return self.hit.hit_id

    @property
    def captured_ms(self) -> int | None:
        return iso_ms(self.p.get("read_time"))

    @property
    def kind(self) -> str:
        return str(self.p.get("match_kind", ""))

    @property
    def kind_meaning(self) -> str:
        return KIND_MEANINGS.get(self.kind, "an unknown match kind: treat it as a possible misread")

    @property
    def confidence(self) -> float | None:
        c = self.p.get("ocr_confidence")
        return float(c) if isinstance(c, int | float) else None

    @property
    def low_confidence_read(self) -> bool:
        return self.confidence is None or self.confidence < self.low_confidence

    @property
    def possible_misread(self) -> bool:
        """A banner and a typed confirmation: a confusable or candidate match, or a low-confidence read."""
        return self.kind in MISREAD_KINDS or self.kind not in KIND_MEANINGS or self.low_confidence_read

    @property
    def read_chars(self) -> list[PlateChar]:
        return plate_chars(str(self.p.get("read_plate") or ""), str(self.p.get("entry_plate") or ""))

    @property
    def entry_chars(self) -> list[PlateChar]:
        return plate_chars(str(self.p.get("entry_plate") or ""), str(self.p.get("read_plate") or ""))

    @property
    def differing(self) -> list[int]:
        return differing(str(self.p.get("read_plate") or ""), str(self.p.get("entry_plate") or ""))

    @property
    def entry_plate(self) -> str:
        return normalise(str(self.p.get("entry_plate") or ""))

    @property
    def region_differs(self) -> bool:
        return (self.p.get("read_region") or "") != (self.p.get("entry_region") or "")

    @property
    def evidence(self) -> dict[str, Any]:
        e = self.p.get("evidence")
        return e if isinstance(e, dict) else {}

    @property
    def checks(self) -> list[str]:
        c = self.p.get("checks")
        return [str(x) for x in c] if isinstance(c, list) else []

    @property
    def waiting_ms(self) -> int:
        captured = self.captured_ms
        return 0 if captured is None else max(0, self.now_ms - captured)

    @property
    def overdue(self) -> bool:
        """Unverified past the policy's ``verify_within_seconds`` after capture."""
        return self.hit.decision is None and self.waiting_ms > self.verify_within_ms

    @property
    def due_ms(self) -> int | None:
        captured = self.captured_ms
        return None if captured is None else captured + self.verify_within_ms
