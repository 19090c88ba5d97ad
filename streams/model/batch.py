"""What one batch through the core gives: hits, counts for the aggregates, reads for the read store, dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from streams.model.deadletter import DeadLetter
from streams.model.read import CANDIDATE_TYPE

__all__ = ["HIT_SCHEMA", "STORED_READ_SCHEMA", "BatchResult", "Totals"]

# A hit as published on the hits topic: the read, the entry it matched, how it matched, and its evidence.
HIT_SCHEMA = pa.schema(
    [
        ("hit_id", pa.string()),
        ("read_id", pa.string()),
        ("camera_id", pa.string()),
        ("site_id", pa.string()),
        ("read_time", pa.timestamp("ms", tz="UTC")),
        ("read_plate", pa.string()),
        ("read_region", pa.string()),
        ("ocr_confidence", pa.float32()),
        ("entry_id", pa.string()),
        ("entry_plate", pa.string()),
        ("entry_region", pa.string()),
        ("reason", pa.string()),
        ("legal_basis", pa.string()),
        ("entry_expires_at", pa.timestamp("ms", tz="UTC")),
        ("entry_source", pa.string()),
        ("source_stale", pa.bool_()),
        ("match_kind", pa.string()),
        ("alert", pa.bool_()),
        ("repeat_passage", pa.bool_()),
        ("status", pa.string()),
        ("verification_required", pa.bool_()),
        ("matched_candidate", pa.string()),
        ("candidate_rank", pa.int16()),
        ("differing_positions", pa.list_(pa.int8())),
        ("region_unknown", pa.bool_()),
        ("entry_agency", pa.string()),  # whose entry: the agency whose operators check the hit
        ("entry_expiry_rule", pa.string()),  # set when policy capped the entry's expiry (why, in words)
        ("candidates", CANDIDATE_TYPE),  # the reader's readings with their confidences, best first
    ]
)


# The first read of each passage as the read store takes it: the plate as its code only (pseudonymised by the
# sink), whether it hit, never plate text.
STORED_READ_SCHEMA = pa.schema(
    [
        ("read_id", pa.string()),
        ("captured_at", pa.timestamp("ms", tz="UTC")),
        ("camera_id", pa.string()),
        ("site_id", pa.string()),
        ("region", pa.string()),
        ("plate_code", pa.uint64()),
        ("confidence", pa.float32()),
        ("hit", pa.bool_()),
    ]
)


@dataclass
class BatchResult:
    hits: pa.Table
    read_counts: pa.Table
    hit_counts: pa.Table
    dead_letter_counts: pa.Table
    camera_health: pa.Table
    expiry_counts: pa.Table  # reads that left state with this batch (hit_only), for the deletion counts
    dead: list[DeadLetter]
    reads: int = 0  # good reads (dead letters excluded)
    duplicates: int = 0
    heartbeats: int = 0
    expired: int = 0  # reads dropped from state at the end of the batch (hit_only: state never outlives it)
    stored_reads: pa.Table = field(default_factory=STORED_READ_SCHEMA.empty_table)  # see ProcessorConfig.keep_reads

    @property
    def alerts(self) -> int:
        return int(pc.sum(self.hits["alert"]).as_py() or 0) if self.hits.num_rows else 0


@dataclass
class Totals:
    """Running counts for summaries and metrics."""

    reads: int = 0
    duplicates: int = 0
    hits: int = 0
    alerts: int = 0
    heartbeats: int = 0
    dead_letters: int = 0
    expired: int = 0
    hits_by_reason: dict[str, int] = field(default_factory=dict)
    hits_by_kind: dict[str, int] = field(default_factory=dict)
    dead_by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, r: BatchResult) -> None:
        self.reads += r.reads
        self.duplicates += r.duplicates
        self.heartbeats += r.heartbeats
        self.expired += r.expired
        self.hits += r.hits.num_rows
        self.alerts += r.alerts
        self.dead_letters += len(r.dead)
        for d in r.dead:
            self.dead_by_reason[d.reason] = self.dead_by_reason.get(d.reason, 0) + 1
        for col, acc in (("reason", self.hits_by_reason), ("match_kind", self.hits_by_kind)):
            if r.hits.num_rows:
                for c in r.hits[col].value_counts().to_pylist():
                    acc[c["values"]] = acc.get(c["values"], 0) + c["counts"]
