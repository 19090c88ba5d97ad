"""Disparate impact (docs/transparency.md): cameras, reads, hits, false hits and searches per area the camera
registry names, per 1,000 reads, per 10,000 residents where the areas file gives a population, and the ratio of an
area's share of the cameras to its share of the residents. Pure: rows in, a table out."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from streams.core.report_table import Column, Table
from streams.run.report_tables import Inputs, active_cameras, area_of, count_by, decisions_by

__all__ = ["areas_table"]


def areas_table(i: Inputs) -> Table:
    def area(r: dict[str, Any]) -> str:
        return area_of(i, r["camera_id"])

    cameras: dict[str, int] = defaultdict(int)
    for cam in active_cameras(i):
        cameras[area_of(i, cam)] += 1
    reads, hits = count_by(i.reads, area, "reads"), count_by(i.hits, area, "hits")
    _, _, rejected = decisions_by(i.verifications, area)
    searches: dict[str, int] = defaultdict(int)
    for r in i.search_areas:
        searches[r["area"]] += int(r["searches"])
    names = sorted(set(cameras) | set(reads) | set(hits) | set(searches) | {s.area for s in i.sites.values() if s.area})
    all_cameras = sum(cameras.values())
    population = {a: info.population for a, info in i.areas.items() if info.population}
    residents = sum(population.get(a, 0) for a in names)
    rows = []
    for a in names:
        pop = population.get(a)
        camera_share = cameras.get(a, 0) / all_cameras if all_cameras else None
        pop_share = pop / residents if pop and residents else None
        rows.append(
            {
                "area": a,
                "kind": i.areas[a].kind if a in i.areas else "",
                "population": pop,
                "cameras": cameras.get(a, 0),
                "camera_share": None if camera_share is None else round(100 * camera_share, 2),
                "population_share": None if pop_share is None else round(100 * pop_share, 2),
                "camera_to_population": round(camera_share / pop_share, 2)
                if camera_share is not None and pop_share
                else None,
                "reads": reads.get(a, 0),
                "hits": hits.get(a, 0),
                "false_hits": rejected.get(a, 0),
                "searches": searches.get(a, 0),
            }
        )
    per_reads = [
        Column(f"{k}_per_1000_reads", f"{label} per 1,000 reads", "rate", k, "reads", 1000)
        for k, label in (("hits", "Hits"), ("false_hits", "False hits"), ("searches", "Searches"))
    ]
    per_residents = [
        Column(f"{k}_per_10000_residents", f"{label} per 10,000 residents", "rate", k, "population", 10_000)
        for k, label in (
            ("cameras", "Cameras"), ("reads", "Reads"), ("hits", "Hits"), ("false_hits", "False hits"),
            ("searches", "Searches"),
        )
    ]  # fmt: skip
    cols = (
        Column("area", "Area", "label"),
        Column("kind", "Kind", "label"),
        Column("population", "Residents", "fact"),
        Column("cameras", "Active cameras", "fact"),
        Column("camera_share", "Share of cameras (%)", "fact", additive=False),
        Column("population_share", "Share of residents (%)", "fact", additive=False),
        Column("camera_to_population", "Camera share / resident share", "fact", additive=False),
        Column("reads", "Reads"),
        Column("hits", "Hits"),
        Column("false_hits", "False hits (rejected)"),
        # A search reaching cameras in two areas counts in both: the column has no total.
        Column("searches", "Searches reaching the area's cameras", additive=False),
        *per_reads,
        *per_residents,
    )
    return Table(
        "areas",
        "Disparate impact: cameras, reads, hits, false hits and searches per area",
        cols,
        rows,
        total_row=True,
        note="Areas are named by the camera registry; residents come from the areas file. A ratio above 1 means an "
        "area has more of the cameras than of the residents. Searches: those scoped to cameras (near-scene), in "
        "each area where one of their cameras is; a search of a plate everywhere reaches no area in particular.",
    )
