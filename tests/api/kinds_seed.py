"""The store behind the search-kind tests: cameras with positions, reads live, past their limit and held, hits
with a verification, and legal-process records of every state a rule looks at. Times relative to ``now``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa

from streams.config.retention import load_retention
from streams.core.normalise import encode_plates, normalise_plates
from streams.core.pseudonym import PlateKeys
from streams.model.batch import HIT_SCHEMA, STORED_READ_SCHEMA
from streams.model.hold import Hold
from streams.model.search import Area, ProcessRecord
from streams.store.clickhouse import Store, migrate, open_store
from streams.store.hits import write_hits
from streams.store.holds import place_hold, preserve
from streams.store.process import register_process
from streams.store.reads import write_reads
from streams.store.search import plate_pseudonyms
from tests.api.helpers import PLATE_KEYS

P1, P2, P3 = "7ABC123", "8XYZ999", "5LMN456"
CAMERAS = {  # ~100 m apart north of cam-a is cam-b; cam-c ~2 km away
    "cam-a": (37.7749, -122.4194),
    "cam-b": (37.7758, -122.4194),
    "cam-c": (37.7929, -122.4194),
}
DAY, HOUR, MIN = 86_400_000, 3_600_000, 60_000


@dataclass(frozen=True)
class Ids:
    warrant: str = "lp-a00000000001"  # P1, P2; a 300 m circle round cam-a
    cameras: str = "lp-a00000000002"  # court order: cam-a, cam-b
    expired: str = "lp-a00000000003"
    stolen: str = "lp-a00000000004"  # exception, unreviewed, not yet due
    overdue: str = "lp-a00000000005"  # exception past its review deadline
    other: str = "lp-a00000000006"  # another agency's warrant
    partner: str = "lp-a00000000007"  # the partner agency's own warrant
    review: str = "lp-a00000000008"  # an exception to review


IDS = Ids()


def write_registry(path: Path) -> None:
    path.write_text("camera_id,lat,lon\n" + "".join(f"{c},{lat},{lon}\n" for c, (lat, lon) in CAMERAS.items()))


def seed_kinds(chdb_path: Path, now: int) -> None:
    keys = PlateKeys.parse(PLATE_KEYS)
    policy = load_retention("default")
    reads = [  # read_id, plate, camera, captured, hit
        ("r1", P1, "cam-a", now - 30_000, True),
        ("r2", P1, "cam-c", now - 20_000, False),
        ("r3", P2, "cam-b", now - 25_000, False),
        ("r4", P3, "cam-c", now - 15_000, True),
        ("r-old", P1, "cam-a", now - 10 * MIN, False),  # past the 5-minute non-hit limit
        ("r-held", P1, "cam-a", now - 8 * MIN, False),  # past it too, but a hold kept a copy
    ]
    codes, ok = encode_plates(normalise_plates(pa.array([r[1] for r in reads])))
    assert ok.all()
    stored = pa.table(
        {
            "read_id": [r[0] for r in reads],
            "captured_at": pa.array([r[3] for r in reads], pa.timestamp("ms", tz="UTC")),
            "camera_id": [r[2] for r in reads],
            "site_id": ["s1"] * len(reads),
            "region": ["CA"] * len(reads),
            "plate_code": pa.array(codes, pa.uint64()),
            "confidence": pa.array([90.0] * len(reads), pa.float32()),
            "hit": [r[4] for r in reads],
        },
        schema=STORED_READ_SCHEMA,
    )
    hits = {name: [None, None] for name in HIT_SCHEMA.names}
    hits.update(
        hit_id=["hit-1", "hit-2"], read_id=["r1", "r4"], camera_id=["cam-a", "cam-c"], site_id=["s1", "s1"],
        read_time=[now - 30_000, now - 15_000], read_plate=[P1, P3], entry_id=["E-1", "E-2"],
        reason=["stolen_vehicle", "stolen_vehicle"], match_kind=["exact", "exact"], alert=[True, True],
        status=["unverified", "unverified"], verification_required=[False, False], ocr_confidence=[90.0, 90.0],
    )  # fmt: skip
    store: Store = open_store(None, chdb_path)
    try:
        migrate(store)
        write_reads(store, stored, keys, policy, "seed")
        write_hits(store, pa.Table.from_pydict(hits, schema=HIT_SCHEMA), "seed")
        store.command(
            "INSERT INTO verifications (hit_id, decision, reason, operator, decided_at) "
            f"SELECT 'hit-1', 'confirmed', '', 'op-1@metro-pd', fromUnixTimestamp64Milli(toInt64({now - 10_000}))"
        )
        # A hold placed while r-held was live keeps its copy past the limit.
        held_at = now - 8 * MIN + 1000
        hold = Hold("hold-k", "counsel", "CR-K", "preserve", (), ("r-held",), 0, held_at, now + DAY, held_at)
        place_hold(store, hold, version=1)
        assert preserve(store, policy, held_at) == 1

        def pk(*plates: str) -> frozenset[tuple[str, int]]:
            return frozenset(plate_pseudonyms(list(plates), keys))

        lat, lon = CAMERAS["cam-a"]
        base = ProcessRecord(IDS.warrant, "warrant", "W-100", "Superior Court", "CR-100", "robbery", pk(P1, P2),
                             (), Area(lat, lon, 300), now - DAY, now + HOUR, now + 30 * DAY, "clerk@metro-pd",
                             "metro-pd", now - HOUR)  # fmt: skip
        for record in (
            base,
            replace(base, process_id=IDS.cameras, kind="court_order", plate_keys=frozenset(), area=None,
                    cameras=("cam-a", "cam-b"), case_number="CR-101"),
            replace(base, process_id=IDS.expired, expires_at_ms=now - 1000),
            replace(base, process_id=IDS.stolen, kind="stolen_vehicle", review_due_ms=now + 72 * HOUR),
            replace(base, process_id=IDS.overdue, kind="emergency", review_due_ms=now - 1000),
            replace(base, process_id=IDS.other, agency="county-so", registered_by="clerk@county-so"),
            replace(base, process_id=IDS.partner, agency="state-patrol", registered_by="clerk@state-patrol"),
            replace(base, process_id=IDS.review, kind="emergency", registered_by="sup-a@metro-pd",
                    review_due_ms=now + 72 * HOUR),
        ):  # fmt: skip
            register_process(store, record)
    finally:
        store.close()
