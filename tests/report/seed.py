"""A small period of aggregates planted in a real chDB store, with its ground truth, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

from streams.store.clickhouse import Store

REGISTRY = """camera_id,lat,lon,area,agency,mount,deployed_on,retired_on
cam-n1,47.6,-122.3,North,City PD,fixed,2025-01-10,
cam-n2,47.61,-122.31,North,City PD,fixed,2025-02-01,
cam-s1,47.5,-122.3,South,County SO,mobile,2026-06-01,
cam-s2,47.51,-122.29,South,County SO,fixed,2024-05-05,2026-01-01
"""
AREAS = """area,kind,population
North,district,60000
South,district,20000
"""

# (hour, camera, reads, duplicates)
READS = [
    ("2026-07-02 10:00:00", "cam-n1", 5000, 40),
    ("2026-07-02 11:00:00", "cam-n2", 3000, 10),
    ("2026-07-15 09:00:00", "cam-s1", 2000, 7),
    ("2026-08-01 09:00:00", "cam-s1", 999, 1),  # outside the period 2026-07
]
# (hour, camera, list, reason, kind, hits, alerts)
HITS = [
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "stolen_vehicle", "exact", 40, 38),
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "stolen_vehicle", "confusable", 25, 20),
    ("2026-07-02 11:00:00", "cam-n2", "state", "amber_alert", "exact", 3, 3),
    ("2026-07-15 09:00:00", "cam-s1", "ncic", "stolen_vehicle", "exact", 30, 30),
]
# (hour, camera, list, reason, kind, disposition, bucket, n)
VERIFICATIONS = [
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "stolen_vehicle", "exact", "confirmed", "lt_1m", 30),
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "stolen_vehicle", "confusable", "misread", "1m_5m", 18),
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "stolen_vehicle", "exact", "wrong_region", "5m_15m", 4),
    ("2026-07-02 11:00:00", "cam-n2", "state", "amber_alert", "exact", "confirmed", "lt_1m", 3),
    ("2026-07-15 09:00:00", "cam-s1", "ncic", "stolen_vehicle", "exact", "confirmed", "15m_1h", 20),
]
# (hour, camera, list, kind, outcome, n)
OUTCOMES = [
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "exact", "arrest", 12),
    ("2026-07-02 10:00:00", "cam-n1", "ncic", "exact", "vehicle_recovered", 15),
    ("2026-07-15 09:00:00", "cam-s1", "ncic", "exact", "no_action", 2),
]
# (hour, agency, partner, action, kind, justification, purpose, decision, rule, n)
REQUESTS = [
    ("2026-07-03 08:00:00", "city-pd", 0, "search", "plate_history", "warrant", "", "allowed", "", 25),
    ("2026-07-03 08:00:00", "city-pd", 0, "search", "plate_history", "none", "", "refused", "needs_legal_process", 4),
    ("2026-07-04 08:00:00", "state-patrol", 1, "search", "near_scene", "subpoena", "investigation", "allowed", "", 17),
    (
        "2026-07-04 08:00:00",
        "state-patrol",
        1,
        "search",
        "near_scene",
        "none",
        "investigation",
        "refused",
        "needs_legal_process",
        2,
    ),
]
# (hour, area, kind, decision, n): the 17 allowed near-scene searches reached North's cameras, 3 of them South's too
SEARCH_AREAS = [
    ("2026-07-04 08:00:00", "North", "near_scene", "allowed", 17),
    ("2026-07-04 08:00:00", "South", "near_scene", "allowed", 3),
    ("2026-07-04 08:00:00", "North", "near_scene", "refused", 2),  # refused: reached no data, not counted
]
NOW_MS = 1_790_000_000_000  # 2026-09-21: every July hit is past the 30-day outcome deadline


def plant(store: Store) -> None:
    def values(rows):  # noqa: ANN001, ANN202
        return ", ".join("(" + ", ".join(repr(v) for v in row) + ")" for row in rows)

    store.command(f"INSERT INTO read_counts (window_start, camera_id, reads, duplicates) VALUES {values(READS)}")
    store.command(
        f"INSERT INTO camera_health (window_start, camera_id, heartbeats) VALUES "
        f"{values([('2026-07-20 00:00:00', 'cam-n2', 5)])}"
    )
    store.command(
        "INSERT INTO hit_counts (window_start, camera_id, list_source, reason, match_kind, hits, alerts) VALUES "
        + values(HITS)
    )
    store.command(
        "INSERT INTO verification_counts (window_start, camera_id, list_source, reason, match_kind, disposition, "
        "delay_bucket, verifications, alert) VALUES " + values([(*v, 1) for v in VERIFICATIONS])  # all alerting hits
    )
    store.command(
        "INSERT INTO outcome_counts (window_start, camera_id, list_source, match_kind, outcome, outcomes) VALUES "
        + values(OUTCOMES)
    )
    store.command(
        "INSERT INTO request_counts (window_start, agency, partner, action, kind, justification, purpose, decision, "
        "rule, requests) VALUES " + values(REQUESTS)
    )
    store.command(
        "INSERT INTO search_area_counts (window_start, area, kind, decision, searches) VALUES " + values(SEARCH_AREAS)
    )
    store.command(
        "INSERT INTO hold_changes (change_id, window_start, agency, change, rule) VALUES "
        + values([(f"h{i}", "2026-07-05 00:00:00", "city-pd", "placed", "") for i in range(3)])
        + ", ('h0', '2026-07-05 00:00:00', 'city-pd', 'placed', '')"  # the same change from a second worker
    )
    store.command(
        "INSERT INTO expiry_counts (window_start, store, data_class, expired) VALUES "
        + values(
            [
                ("2026-07-09 00:00:00", "clickhouse", "non_hit_reads", 9000),
                ("2026-07-09 00:00:00", "processor", "non_hit_reads", 250),
            ]
        )
    )
    store.command(
        "INSERT INTO sharing (agency, version, warrant_rules, retention, added_by, added_at, removed, removed_by, "
        "removed_at) VALUES ('state-patrol', 1, 'warrant or subpoena', '30 days', 'admin', '2026-01-01 00:00:00', 0, "
        "'', NULL), ('county-da', 1, 'warrant', '90 days', 'admin', '2026-02-01 00:00:00', 0, '', NULL)"
    )


HOLDS = [  # (hold id, agency, placed, released or None)
    ("hold-1", "city-pd", "2026-07-05 00:00:00", None),
    ("hold-2", "city-pd", "2026-07-06 00:00:00", None),
    ("hold-3", "state-patrol", "2026-07-07 00:00:00", "2026-07-20 00:00:00"),  # released before the period's end
]
CHECKPOINTS = [(41, 1_783_000_000_000), (97, 1_785_000_000_000), (130, 1_786_000_000_000)]  # the last in August


def plant_holds(store: Store) -> None:
    for hold_id, agency, placed, released in HOLDS:
        store.command(
            "INSERT INTO holds (hold_id, version, requested_by, case_number, reason, plate_keys, read_ids, "
            "captured_from, captured_to, expires_at, placed_at, released_at, released_by, release_reason, agency) "
            f"VALUES ('{hold_id}', {2 if released else 1}, 'det', 'case', 'r', [], [], '2026-06-01 00:00:00', "
            f"'2026-06-30 00:00:00', '2027-06-01 00:00:00', '{placed}', "
            f"{repr(released) if released else 'NULL'}, '', '', '{agency}')"
        )


def write_checkpoints(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seq, at_ms in CHECKPOINTS:
        doc = {"seq": seq, "head": f"{seq:064x}", "at_ms": at_ms, "head_at_ms": at_ms - 1000, "kid": "k1", "sig": "s"}
        (folder / f"{seq:012d}.json").write_text(json.dumps(doc))


def write_registry(folder: Path) -> tuple[Path, Path]:
    cams, areas = folder / "cameras.csv", folder / "areas.csv"
    cams.write_text(REGISTRY)
    areas.write_text(AREAS)
    return cams, areas
