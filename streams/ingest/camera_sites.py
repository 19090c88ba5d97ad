"""What the camera registry CSV says about each camera besides its id (the file ``load_camera_registry`` reads its
``camera_id`` column from), all columns optional:

- ``lat``, ``lon``: where it is. A near-scene search finds the cameras inside its area from these positions.
- ``area`` (the district, tract or beat it watches, by name), ``agency`` (who runs it), ``mount`` (``fixed`` or
  ``mobile``), ``deployed_on`` and ``retired_on`` (``YYYY-MM-DD``): what a transparency report publishes. A report
  names areas, never positions.

And the areas file (setting ``areas_path``, CSV ``area,kind,population``): the residents of each area the
registry names, for the report's rates per resident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from streams.errors import ConfigError
from streams.model.search import Area

__all__ = [
    "EARTH_RADIUS_M",
    "MOUNTS",
    "AreaInfo",
    "CameraSite",
    "cameras_in",
    "distance_m",
    "load_areas",
    "load_camera_positions",
    "load_camera_sites",
]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
Positions = dict[str, tuple[float, float]]


def load_camera_positions(path: str | Path) -> Positions:
    """camera id -> (lat, lon) for the registry's rows that have both; {} when the file has no such columns."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={"camera_id": pa.string(), "lat": pa.float64(), "lon": pa.float64()}
            ),
        )
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise ConfigError(f"camera registry {path}: {str(exc).splitlines()[0][:200]}") from None
    if not {"camera_id", "lat", "lon"} <= set(table.column_names):
        return {}
    positions: Positions = {}
    for row in table.select(["camera_id", "lat", "lon"]).to_pylist():
        cam, lat, lon = row["camera_id"], row["lat"], row["lon"]
        if cam is None or lat is None or lon is None:
            continue
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConfigError(f"camera registry {path}: camera {cam} has a position off the globe")
        positions[cam] = (lat, lon)
    return positions


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def cameras_in(area: Area, positions: Positions) -> tuple[str, ...]:
    """The cameras whose position lies inside ``area``, sorted."""
    return tuple(
        sorted(c for c, (lat, lon) in positions.items() if distance_m(area.lat, area.lon, lat, lon) <= area.radius_m)
    )


MOUNTS = ("fixed", "mobile")
SITE_COLUMNS = ("area", "agency", "mount", "deployed_on", "retired_on")


@dataclass(frozen=True)
class CameraSite:
    """One registry row's public description of a camera ('' where the registry leaves a column out)."""

    camera_id: str
    area: str = ""
    agency: str = ""
    mount: str = ""
    deployed_on: date | None = None
    retired_on: date | None = None


@dataclass(frozen=True)
class AreaInfo:
    """An area the registry names: its kind (district, tract, beat...) and residents (None: not known)."""

    area: str
    kind: str
    population: int | None


def _string_table(path: str | Path, what: str) -> pa.Table:
    """Every column as text (the header names them); each value is validated by the caller."""
    try:
        names = pacsv.read_csv(path).column_names
        types = dict.fromkeys(names, pa.string())
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))
    except (OSError, pa.ArrowInvalid) as exc:
        raise ConfigError(f"{what} {path}: {str(exc).splitlines()[0][:200]}") from None


def _day(value: str | None, path: str | Path, cam: str, column: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"camera registry {path}: camera {cam}: {column} {value!r} is not a date (YYYY-MM-DD)"
        ) from None


def load_camera_sites(path: str | Path) -> dict[str, CameraSite]:
    """camera id -> its registry description; ConfigError naming the camera and column of a bad value."""
    table = _string_table(path, "camera registry")
    if "camera_id" not in table.column_names:
        raise ConfigError(f"camera registry {path}: no camera_id column")
    present = [c for c in SITE_COLUMNS if c in table.column_names]
    sites: dict[str, CameraSite] = {}
    for row in table.select(["camera_id", *present]).to_pylist():
        cam = (row["camera_id"] or "").strip()
        if not cam:
            continue
        text = {c: (row.get(c) or "").strip() for c in ("area", "agency", "mount")}
        if text["mount"] and text["mount"] not in MOUNTS:
            raise ConfigError(f"camera registry {path}: camera {cam}: mount {text['mount']!r} is not one of {MOUNTS}")
        deployed = _day(row.get("deployed_on"), path, cam, "deployed_on")
        retired = _day(row.get("retired_on"), path, cam, "retired_on")
        if deployed and retired and retired < deployed:
            raise ConfigError(f"camera registry {path}: camera {cam}: retired_on is before deployed_on")
        if cam in sites:
            raise ConfigError(f"camera registry {path}: camera {cam} is listed twice")
        sites[cam] = CameraSite(cam, text["area"], text["agency"], text["mount"], deployed, retired)
    return sites


def load_areas(path: str | Path) -> dict[str, AreaInfo]:
    """area -> its kind and population, from a CSV with columns ``area, kind, population`` (population may be
    empty: not known); ConfigError naming the row of a bad value."""
    table = _string_table(path, "areas file")
    missing = [c for c in ("area", "kind", "population") if c not in table.column_names]
    if missing:
        raise ConfigError(f"areas file {path}: missing column(s) {', '.join(missing)} (need area, kind, population)")
    areas: dict[str, AreaInfo] = {}
    for i, row in enumerate(table.select(["area", "kind", "population"]).to_pylist(), start=2):
        name = (row["area"] or "").strip()
        if not name:
            raise ConfigError(f"areas file {path}: line {i} has no area name")
        if name in areas:
            raise ConfigError(f"areas file {path}: area {name!r} is listed twice")
        raw = (row["population"] or "").strip()
        population = None
        if raw:
            if not raw.isdigit():
                raise ConfigError(f"areas file {path}: area {name!r}: population {raw!r} is not a whole number")
            population = int(raw)
        areas[name] = AreaInfo(name, (row["kind"] or "").strip(), population)
    return areas
