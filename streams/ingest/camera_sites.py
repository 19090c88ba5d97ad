"""Where the cameras are: the optional ``lat`` and ``lon`` columns of the camera registry CSV (the file
``load_camera_registry`` reads its ``camera_id`` column from). A near-scene search finds the cameras inside its
area from these positions."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from streams.errors import ConfigError
from streams.model.search import Area

__all__ = ["EARTH_RADIUS_M", "cameras_in", "distance_m", "load_camera_positions"]

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
