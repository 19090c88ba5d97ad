"""Hits in the store (``hits``): what a verification must name, and what the operator's queue lists. No plate
text: the table keeps ids, the match kind and the alert's state."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from streams.model.match_kinds import MISREAD_KINDS
from streams.store.clickhouse import Store
from streams.store.sql import sql_literal

__all__ = [
    "HIT_COLUMNS",
    "HitFacts",
    "confirmed_hits",
    "hit_facts",
    "known_hits",
    "possible_misreads",
    "write_hits",
]

HIT_COLUMNS = (
    "hit_id",
    "read_id",
    "read_time",
    "camera_id",
    "site_id",
    "entry_id",
    "reason",
    "match_kind",
    "ocr_confidence",
    "alert",
    "status",
    "verification_required",
    # the evidence, and the entry as it stood (migration 013)
    "read_region",
    "entry_region",
    "legal_basis",
    "entry_expires_at",
    "entry_source",
    "source_stale",
    "repeat_passage",
    "candidate_rank",
    "differing_positions",
    "region_unknown",
)


def write_hits(store: Store, hits: pa.Table, token: str) -> int:
    """Insert a batch's hits (``HIT_SCHEMA`` rows) without their plate columns (read, entry and candidate plate
    text stay on the hits topic); idempotent on ``token``."""
    if hits.num_rows == 0:
        return 0
    flags = ("source_stale", "repeat_passage", "region_unknown")
    rows = pa.table(
        {
            **{c: hits[c] for c in ("hit_id", "read_id", "read_time", "camera_id", "entry_id", "reason", "match_kind")},
            "site_id": pc.fill_null(hits["site_id"], ""),
            "ocr_confidence": pc.fill_null(hits["ocr_confidence"], float("nan")),
            "alert": pc.cast(hits["alert"], pa.uint8()),
            "status": hits["status"],
            "verification_required": pc.cast(hits["verification_required"], pa.uint8()),
            **{c: pc.fill_null(hits[c], "") for c in ("read_region", "entry_region", "legal_basis", "entry_source")},
            "entry_expires_at": hits["entry_expires_at"],
            **{c: pc.cast(pc.fill_null(hits[c], False), pa.uint8()) for c in flags},
            "candidate_rank": pc.fill_null(hits["candidate_rank"], -1),
            "differing_positions": pc.fill_null(hits["differing_positions"], pa.scalar([], pa.list_(pa.int8()))),
        }
    ).select(list(HIT_COLUMNS))
    store.insert_arrow("hits", rows, dedup_token=f"{token}:hits")
    return rows.num_rows


def known_hits(store: Store, hit_ids: list[str]) -> set[str]:
    """Which of ``hit_ids`` the store has."""
    if not hit_ids:
        return set()
    found = store.query_arrow(
        "SELECT DISTINCT hit_id FROM hits WHERE hit_id IN (" + ", ".join(sql_literal(h) for h in hit_ids) + ")"
    )
    return set(found["hit_id"].to_pylist())


def confirmed_hits(store: Store, hit_ids: list[str]) -> set[str]:
    """Which of ``hit_ids`` a person has confirmed, at any time: an outcome belongs to a hit that was acted on, and
    a stop found wrongful later (outcome ``wrongful_stop``) is recorded even after the disposition was corrected."""
    if not hit_ids:
        return set()
    found = store.query_arrow(
        "SELECT hit_id FROM verifications WHERE hit_id IN (" + ", ".join(sql_literal(h) for h in hit_ids) + ") "
        "GROUP BY hit_id HAVING countIf(decision = 'confirmed') > 0"
    )
    return set(found["hit_id"].to_pylist())


@dataclass(frozen=True)
class HitFacts:
    """What the report counts a hit's verifications and outcomes by, as the store has the hit: when it was captured,
    where, and the entry it matched (its list, reason and match kind). No plate, no read id."""

    read_ms: int
    camera_id: str
    list_source: str
    reason: str
    match_kind: str
    alert: bool = False  # the hit raised an alert (a repeat passage or a region mismatch does not)


def hit_facts(store: Store, hit_ids: list[str]) -> dict[str, HitFacts]:
    """The facts of each of ``hit_ids`` the store has (one row per hit, however often it was written)."""
    if not hit_ids:
        return {}
    rows = store.query_arrow(
        "SELECT hit_id, toUnixTimestamp64Milli(read_time) AS read_ms, camera_id, entry_source, reason, match_kind, "
        "alert "
        "FROM hits WHERE hit_id IN (" + ", ".join(sql_literal(h) for h in hit_ids) + ") "
        "ORDER BY hit_id LIMIT 1 BY hit_id"
    ).to_pylist()
    return {
        r["hit_id"]: HitFacts(
            int(r["read_ms"]), r["camera_id"], r["entry_source"], r["reason"], r["match_kind"], bool(r["alert"])
        )
        for r in rows
    }


def possible_misreads(store: Store, hit_ids: list[str], low_confidence: float) -> set[str]:
    """Which of ``hit_ids`` may be misreads: a candidate or confusable match, or a read under ``low_confidence``
    (the admission policy's). Confirming one needs every character compared (``CHARACTER_CHECK``)."""
    if not hit_ids:
        return set()
    kinds = ", ".join(sql_literal(k) for k in sorted(MISREAD_KINDS))
    found = store.query_arrow(
        "SELECT DISTINCT hit_id FROM hits WHERE hit_id IN (" + ", ".join(sql_literal(h) for h in hit_ids) + ") "
        f"AND (match_kind IN ({kinds}) OR ocr_confidence < {float(low_confidence)!r})"
    )
    return set(found["hit_id"].to_pylist())
