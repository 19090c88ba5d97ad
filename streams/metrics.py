"""Prometheus metrics shared by every long-running process. Labels are bounded sets: never plate text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from streams import __version__
from streams.model.batch import BatchResult

REGISTRY = CollectorRegistry()
_P = "platestream"

INFO = Info(f"{_P}_build", "Version of platestream", registry=REGISTRY)
INFO.info({"version": __version__})
READS = Counter(f"{_P}_reads_total", "Good reads processed", registry=REGISTRY)
DUPLICATES = Counter(f"{_P}_duplicate_reads_total", "Reads that repeated a passage", registry=REGISTRY)
HITS = Counter(f"{_P}_hits_total", "Hot-list hits", ["match_kind", "reason"], registry=REGISTRY)
ALERTS = Counter(f"{_P}_alerts_total", "Hits that raised an alert", ["reason"], registry=REGISTRY)
DEAD_LETTERS = Counter(
    f"{_P}_dead_letters_total", "Rejected messages and rows", ["reason", "source"], registry=REGISTRY
)
HEARTBEATS = Counter(f"{_P}_camera_heartbeats_total", "Camera heartbeats (health, not reads)", registry=REGISTRY)
EXPIRED = Counter(f"{_P}_expired_reads_total", "Reads dropped at their retention limit", ["store"], registry=REGISTRY)
BATCH_SECONDS = Histogram(
    f"{_P}_batch_seconds",
    "Time to process one batch through the core",
    ["source"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HOTLIST_ENTRIES = Gauge(f"{_P}_hotlist_entries", "Admitted hot-list entries in this worker", registry=REGISTRY)
HOTLIST_REFUSED = Counter(
    f"{_P}_hotlist_refused_total", "Hot-list entries refused by policy", ["rule"], registry=REGISTRY
)
DEDUP_STATE = Gauge(f"{_P}_dedup_state_reads", "Reads held in de-duplication state", registry=REGISTRY)
SINK_ERRORS = Counter(f"{_P}_sink_errors_total", "Failed writes to a store or topic", ["sink"], registry=REGISTRY)
SINK_PENDING = Gauge(
    f"{_P}_sink_pending_batches", "Batches matched and published, their aggregates not yet written", registry=REGISTRY
)


def record(result: BatchResult, source: str, seconds: float) -> None:
    """Count one processed batch."""
    READS.inc(result.reads)
    DUPLICATES.inc(result.duplicates)
    HEARTBEATS.inc(result.heartbeats)
    EXPIRED.labels("processor_state").inc(result.expired)
    BATCH_SECONDS.labels(source).observe(seconds)
    for d in result.dead:
        DEAD_LETTERS.labels(d.reason, source).inc()
    if result.hits.num_rows:
        for row in result.hit_counts.to_pylist():
            HITS.labels(row["match_kind"], row["reason"]).inc(row["hits"])
            if row["alerts"]:
                ALERTS.labels(row["reason"]).inc(row["alerts"])


HOTLIST_CLEARS = Counter(f"{_P}_hotlist_clears_total", "Hot-list entries cleared by events", registry=REGISTRY)
HOTLIST_SOURCE_AGE = Gauge(
    f"{_P}_hotlist_source_age_seconds", "Time since a hot-list source last synced", ["source"], registry=REGISTRY
)
HOTLIST_SOURCE_STALE = Gauge(
    f"{_P}_hotlist_source_stale",
    "1 when a source is older than the policy allows (its hits do not alert)",
    ["source"],
    registry=REGISTRY,
)
VERIFICATIONS = Counter(
    f"{_P}_verifications_total", "Operator decisions on hits", ["decision", "reason"], registry=REGISTRY
)
AUDIT_RECORDS = Gauge(
    f"{_P}_audit_log_seq",
    "Sequence number of the last audit record this process appended: scraped, an outside record of the log's length",
    registry=REGISTRY,
)
