"""Search requests, validated before anything is queried, and the rules a search under legal process must pass.

The API's search kinds (docs/search-and-audit.md) each cite a process record::

    POST /v1/search/plate_history {"process_id": "lp-...", "reason": "...", "purpose": "",
                                   "plates": ["7ABC123"], "region": "CA", "from": ms, "to": ms}

``check_search`` is the one definition of what such a search needs: the record exists, is the caller's agency's,
unexpired, of a kind the search kind accepts, reviewed in time if an exception; the request is within the policy's
limits (400, rule = the limit's name) and inside the record's scope (403 ``outside_scope_*``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from streams.ingest.camera_sites import Positions, cameras_in, distance_m
from streams.model.search import Area, KindSearch, ProcessRecord, SearchDenied

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Ms = Annotated[int, Field(ge=0, le=2**62, strict=True)]
Plate = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ProcessId = Annotated[str, StringConstraints(pattern=r"^lp-[0-9a-f]{12}$")]
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
DAY_MS, HOUR_MS = 86_400_000, 3_600_000

__all__ = [
    "AreaBody",
    "HitTrailBody",
    "KindBody",
    "NearSceneBody",
    "PlateHistoryBody",
    "RetroactiveMatchBody",
    "area_within",
    "camera_covered",
    "check_process",
    "check_search",
    "json_rows",
    "measures",
    "resolve_cameras",
]


def json_rows(rows: pa.Table) -> list[dict]:
    """Rows of a store table as JSON-ready dicts: times as ISO 8601, NaN (a missing confidence) as null."""
    out = rows.to_pylist()
    for r in out:
        for k, v in r.items():
            if hasattr(v, "isoformat"):
                r[k] = v.isoformat()
            elif isinstance(v, float) and v != v:
                r[k] = None
    return out


class AreaBody(BaseModel):
    """A circle: centre in degrees, radius in metres."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=100_000)

    def area(self) -> Area:
        return Area(self.lat, self.lon, self.radius_m)


class KindBody(BaseModel):
    """What every search kind's body has: the process record it cites, why, and (outside agencies) for what."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    process_id: ProcessId
    reason: Text
    purpose: Purpose = ""


class Window(KindBody):
    from_ms: Ms = Field(alias="from")
    to_ms: Ms = Field(alias="to")


class PlateHistoryBody(Window):
    """Reads of one plate or a few over a time range."""

    plates: list[Plate] = Field(min_length=1, max_length=100)
    region: str | None = Field(None, max_length=16)


class NearSceneBody(Window):
    """Every read at the cameras inside an area (or at the cameras named) during a window."""

    area: AreaBody | None = None
    cameras: list[Short] = Field(default_factory=list, max_length=1_000)

    @model_validator(mode="after")
    def _somewhere(self) -> NearSceneBody:
        if self.area is None and not self.cameras:
            raise ValueError("a near-scene search names an area or cameras")
        return self


class HitTrailBody(KindBody):
    """A hit with its read, the entry as the hit keeps it, and its verifications."""

    hit_id: Text


class RetroactiveMatchBody(Window):
    """A hot-list entry's plate against the reads still within retention (the plate is hashed at once)."""

    entry_id: Short
    plate: Plate
    region: str | None = Field(None, max_length=16)


def measures(search: KindSearch) -> dict[str, float]:
    """The quantities the policy's limits (``KindPolicy.limits``) are checked against, by limit name."""
    span = search.to_ms - search.from_ms
    found = {
        "max_range_days": span / DAY_MS,
        "max_window_hours": span / HOUR_MS,
        "max_plates": float(len(search.plates)),
        "max_cameras": float(len(search.cameras)),
    }
    if search.area is not None:
        found["max_radius_m"] = search.area.radius_m
    return found


def check_process(kind: str, record: ProcessRecord | None, agency: str, requires: Collection[str], now_ms: int) -> None:
    """The rules on the record alone: it exists, is the agency's, is unexpired, of a kind the search kind accepts,
    and (an exception) reviewed by its deadline. Raises SearchDenied (403)."""
    if record is None:
        raise SearchDenied(403, "no_process", "no legal-process record with this id is registered")
    if record.agency != agency:
        raise SearchDenied(403, "process_other_agency", "the legal-process record belongs to another agency")
    if record.expires_at_ms <= now_ms:
        raise SearchDenied(403, "process_expired", "the legal-process record has expired")
    if record.kind not in requires:
        raise SearchDenied(
            403, "process_kind_not_allowed", f"a {kind} search needs a record of kind {sorted(requires)}"
        )
    if record.review_due_ms is not None and record.reviewed_at_ms is None and record.review_due_ms <= now_ms:
        raise SearchDenied(403, "process_review_overdue", "this exception was not reviewed by its deadline")


def check_search(
    search: KindSearch,
    record: ProcessRecord | None,
    agency: str,
    requires: Collection[str],
    limits: Mapping[str, float],
    now_ms: int,
    positions: Positions,
) -> None:
    """Raise SearchDenied unless ``search`` by someone of ``agency`` may run under ``record`` (see the module)."""
    check_process(search.kind, record, agency, requires, now_ms)
    assert record is not None  # check_process refuses a missing record
    if search.from_ms > search.to_ms:
        raise SearchDenied(400, "invalid_window", "the window's start (from) is after its end (to)")
    found = measures(search)
    for name, limit in limits.items():
        if found.get(name, 0.0) > limit:
            raise SearchDenied(400, name, f"the request is over the policy's {name} ({limit:g}) for {search.kind}")
    if search.from_ms < record.scope_from_ms or search.to_ms > record.scope_to_ms:
        raise SearchDenied(403, "outside_scope_time", "the window is outside the record's time window")
    plates_in = all(p & record.plate_keys for p in search.plates)
    cameras_in_scope = all(camera_covered(c, record, positions) for c in search.cameras)
    if search.kind == "hit_trail":  # a hit is in scope by its plate or by where it was read
        if not ((search.plates and plates_in) or (search.cameras and cameras_in_scope)):
            rule = "outside_scope_plates" if record.plate_keys else "outside_scope_area"
            raise SearchDenied(403, rule, "the hit is outside the record's plates and area")
        return
    if not plates_in:
        raise SearchDenied(403, "outside_scope_plates", "a plate searched for is not among the record's plates")
    if not cameras_in_scope or not area_within(search.area, record):
        raise SearchDenied(403, "outside_scope_area", "the area searched is outside the record's area or cameras")


def camera_covered(camera: str, record: ProcessRecord, positions: Positions) -> bool:
    """True when the record covers the camera: by its camera list, or by its circle and the camera's position."""
    if camera in record.cameras:
        return True
    place = positions.get(camera)
    if record.area is None or place is None:
        return False
    return distance_m(record.area.lat, record.area.lon, *place) <= record.area.radius_m


def area_within(area: Area | None, record: ProcessRecord) -> bool:
    """A search circle is inside the record's area: within its circle when the record is a circle only; a record
    with a camera list is judged camera by camera (``camera_covered``); a record with neither covers no area."""
    if area is None or record.cameras:
        return True
    if record.area is None:
        return False
    r = record.area
    return distance_m(r.lat, r.lon, area.lat, area.lon) + area.radius_m <= r.radius_m


def resolve_cameras(cameras: list[str], area: Area | None, positions: Positions) -> tuple[str, ...]:
    """The cameras a near-scene search covers: those named and those the registry places inside its area."""
    inside = cameras_in(area, positions) if area is not None else ()
    return tuple(sorted(set(cameras) | set(inside)))
