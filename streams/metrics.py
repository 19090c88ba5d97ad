"""Prometheus metrics shared by every long-running process (docs/operations.md, "Metrics").

Conventions (prometheus.io/docs/practices/naming): one ``platestream_`` prefix, base units (``_seconds``,
``_timestamp_seconds``), ``_total`` on counters, and labels from bounded sets only: never plate text, a user or
a process id. Which process a series comes from is the scrape's ``job``/``instance`` target labels, and
``platestream_build_info{role}``.

Scheduled jobs (purge, retention verify, audit verify) exit before any scrape: ``python -m streams.metrics job``
runs one and writes its result as a node-exporter textfile (``write_job_textfile``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    write_to_textfile,
)
from prometheus_client.parser import text_string_to_metric_families

from streams import __version__
from streams.model.batch import BatchResult

__all__ = [
    "JOB_REGISTRY",
    "MAX_SOURCE_LABELS",
    "REGISTRY",
    "describe_role",
    "observe_hotlist_source",
    "observe_api_request",
    "observe_capture_to_hit",
    "record",
    "write_job_textfile",
]

REGISTRY = CollectorRegistry()
# The default process and Python collectors (CPU, memory, file descriptors, GC, version) on the shared registry.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)
_P = "platestream"
# Seconds, from a batch matched in milliseconds to a backlog read hours late.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CAPTURE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600)
# A hot-list source is named by the signed events that feed it: a bound on its label values all the same.
MAX_SOURCE_LABELS = 64

INFO = Info(f"{_P}_build", "Version and role of this process", registry=REGISTRY)
INFO.info({"version": __version__, "role": "unknown"})


def describe_role(role: str) -> None:
    """Name this process's role (``worker``, ``api``) in ``platestream_build_info``."""
    INFO.info({"version": __version__, "role": role})


# -- the stream: reads, hits, dead letters -------------------------------------------------------------------------
READS = Counter(f"{_P}_reads_total", "Good reads processed", registry=REGISTRY)
DUPLICATES = Counter(f"{_P}_duplicate_reads_total", "Reads that repeated a passage", registry=REGISTRY)
HITS = Counter(f"{_P}_hits_total", "Hot-list hits", ["match_kind", "reason"], registry=REGISTRY)
ALERTS = Counter(f"{_P}_alerts_total", "Hits that raised an alert", ["reason"], registry=REGISTRY)
DEAD_LETTERS = Counter(
    f"{_P}_dead_letters_total", "Rejected messages and rows", ["reason", "source"], registry=REGISTRY
)
HEARTBEATS = Counter(f"{_P}_camera_heartbeats_total", "Camera heartbeats (health, not reads)", registry=REGISTRY)
BATCH_DURATION = Histogram(
    f"{_P}_batch_duration_seconds",
    "Time to decode, match and publish one batch",
    ["source"],
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
BATCH_READS = Histogram(
    f"{_P}_batch_reads",
    "Good reads per processed batch",
    ["source"],
    registry=REGISTRY,
    buckets=(1, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000),
)
CAPTURE_TO_HIT = Histogram(
    f"{_P}_capture_to_hit_seconds",
    "From a read's capture time to its hit acknowledged by the broker on the hits topic",
    registry=REGISTRY,
    buckets=CAPTURE_BUCKETS,
)
VERIFICATIONS = Counter(
    f"{_P}_verifications_total", "Operator decisions on hits", ["decision", "reason"], registry=REGISTRY
)

# -- the hot list --------------------------------------------------------------------------------------------------
HOTLIST_ENTRIES = Gauge(f"{_P}_hotlist_entries", "Admitted hot-list entries in this worker", registry=REGISTRY)
HOTLIST_REFUSED = Counter(
    f"{_P}_hotlist_refused_total", "Hot-list entries refused by policy", ["rule"], registry=REGISTRY
)
HOTLIST_CLEARS = Counter(f"{_P}_hotlist_clears_total", "Hot-list entries cleared by events", registry=REGISTRY)
HOTLIST_SOURCE_LAST_SYNC = Gauge(
    f"{_P}_hotlist_source_last_sync_timestamp_seconds",
    "When a hot-list source last synced (Unix time)",
    ["source"],
    registry=REGISTRY,
)
HOTLIST_SOURCE_STALE = Gauge(
    f"{_P}_hotlist_source_stale",
    "1 when a source is older than the policy allows (its hits do not alert)",
    ["source"],
    registry=REGISTRY,
)


_sources: set[str] = set()


def observe_hotlist_source(source: str, last_sync_ms: int, stale: bool) -> None:
    """A source's last sync and staleness. The first ``MAX_SOURCE_LABELS`` sources seen keep their name as the
    label; any later one reports as ``other`` (the last written wins)."""
    if source not in _sources and len(_sources) >= MAX_SOURCE_LABELS:
        source = "other"
    else:
        _sources.add(source)
    HOTLIST_SOURCE_LAST_SYNC.labels(source).set(last_sync_ms / 1000)
    HOTLIST_SOURCE_STALE.labels(source).set(1 if stale else 0)


# -- state, sinks, audit -------------------------------------------------------------------------------------------
DEDUP_STATE = Gauge(f"{_P}_dedup_state_reads", "Reads held in de-duplication state", registry=REGISTRY)
SINK_ERRORS = Counter(f"{_P}_sink_errors_total", "Failed writes to a store or topic", ["sink"], registry=REGISTRY)
SINK_WRITE_DURATION = Histogram(
    f"{_P}_sink_write_duration_seconds",
    "Time to write one batch's outputs to a sink, retries included",
    ["sink"],
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS + (30, 60, 300),
)
SINK_PENDING = Gauge(
    f"{_P}_sink_pending_batches", "Batches matched and published, their aggregates not yet written", registry=REGISTRY
)
AUDIT_RECORDS = Gauge(
    f"{_P}_audit_log_seq",
    "Sequence number of the last audit record this process appended: scraped, an outside record of the log's length",
    registry=REGISTRY,
)
AUDIT_WRITE_FAILURES = Counter(
    f"{_P}_audit_write_failures_total",
    "Audit records that could not be written (the API answers 503; a worker retries)",
    ["role"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    f"{_P}_api_requests_total",
    "API requests by action, decision (allowed, refused, failed) and the rule that decided",
    ["action", "decision", "rule"],
    registry=REGISTRY,
)
LABEL_WORD = re.compile(r"^[a-z0-9_.]{1,64}$")


def observe_api_request(action: str, decision: str, rule: str) -> None:
    """Count one API answer. Actions and rules are the code's own words; anything else counts as ``other``."""
    API_REQUESTS.labels(*(v if LABEL_WORD.match(v) else "other" for v in (action, decision, rule or "none"))).inc()


# -- retention -----------------------------------------------------------------------------------------------------
RETENTION_DELETED = Counter(
    f"{_P}_retention_deleted_rows_total",
    "Rows deleted at their retention limit: reads from processor state, rows from ClickHouse tables",
    ["store", "data_class"],
    registry=REGISTRY,
)
PURGE_LAST_SUCCESS = Gauge(
    f"{_P}_retention_purge_last_success_timestamp_seconds",
    "When this worker's purge job last completed (Unix time; 0: not yet in this process)",
    registry=REGISTRY,
)

# -- Kafka consumer lag (streams.kafka.lag) ------------------------------------------------------------------------
LAG_MESSAGES = Gauge(
    f"{_P}_consumer_lag_messages",
    "Messages after the worker group's committed offset: not yet processed",
    ["topic", "partition"],
    registry=REGISTRY,
)
LAG_SECONDS = Gauge(
    f"{_P}_consumer_lag_seconds",
    "Age of the oldest unprocessed message (broker append time); 0 when none waits",
    ["topic", "partition"],
    registry=REGISTRY,
)
LAG_SAMPLED = Gauge(
    f"{_P}_consumer_lag_last_sample_timestamp_seconds", "When consumer lag was last sampled", registry=REGISTRY
)
TOPIC_RETENTION = Gauge(
    f"{_P}_kafka_topic_retention_seconds",
    "The youngest age at which the broker may delete a record of this topic, read or not (retention.ms)",
    ["topic"],
    registry=REGISTRY,
)


def record(result: BatchResult, source: str, seconds: float) -> None:
    """Count one processed batch."""
    READS.inc(result.reads)
    DUPLICATES.inc(result.duplicates)
    HEARTBEATS.inc(result.heartbeats)
    RETENTION_DELETED.labels("processor_state", "non_hit_reads").inc(result.expired)
    BATCH_DURATION.labels(source).observe(seconds)
    BATCH_READS.labels(source).observe(result.reads)
    for d in result.dead:
        DEAD_LETTERS.labels(d.reason, source).inc()
    if result.hits.num_rows:
        for row in result.hit_counts.to_pylist():
            HITS.labels(row["match_kind"], row["reason"]).inc(row["hits"])
            if row["alerts"]:
                ALERTS.labels(row["reason"]).inc(row["alerts"])


def observe_capture_to_hit(hits: pa.Table, now_ms: int) -> None:
    """Each hit's time from capture (``read_time``) to ``now_ms``, when the broker has acknowledged it."""
    if not hits.num_rows:
        return
    captured = pc.cast(pc.cast(hits["read_time"], pa.timestamp("ms", "UTC")), pa.int64())
    for ms in captured.to_pylist():
        if ms is not None:
            CAPTURE_TO_HIT.observe(max(0.0, (now_ms - ms) / 1000))


# -- scheduled jobs: a textfile for node-exporter ------------------------------------------------------------------
# The label is ``task``, not ``job``: node-exporter's scrape sets ``job`` itself, which would rename ours.
JOB_REGISTRY = CollectorRegistry()
JOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
JOB_LAST_RUN = Gauge(
    f"{_P}_task_last_run_timestamp_seconds", "When the job last finished (Unix time)", ["task"], registry=JOB_REGISTRY
)
JOB_LAST_SUCCESS_NAME = f"{_P}_task_last_success_timestamp_seconds"
JOB_LAST_SUCCESS = Gauge(
    JOB_LAST_SUCCESS_NAME,
    "When the job last finished with exit status 0 (Unix time; 0: never)",
    ["task"],
    registry=JOB_REGISTRY,
)
JOB_EXIT_CODE = Gauge(
    f"{_P}_task_last_exit_code",
    "Exit status of the job's last run: 0 passed, 1 a check failed, 2 bad settings or a store unreachable",
    ["task"],
    registry=JOB_REGISTRY,
)
JOB_DURATION = Gauge(
    f"{_P}_task_last_duration_seconds", "How long the job's last run took", ["task"], registry=JOB_REGISTRY
)


def _previous_success(path: Path, job: str) -> float:
    try:
        text = path.read_text()
    except OSError:
        return 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == JOB_LAST_SUCCESS_NAME and s.labels.get("task") == job:
                return float(s.value)
    return 0.0


def write_job_textfile(path: Path, job: str, exit_code: int, duration_s: float, now_s: float | None = None) -> None:
    """Write one job run's result to ``path`` (atomically: node-exporter never reads half a file). The last
    success carries over from the file's previous contents when this run failed."""
    if not JOB_NAME.match(job):
        raise ValueError(f"job name {job!r}: lower-case letters, digits and _ only")
    now = time.time() if now_s is None else now_s
    JOB_LAST_RUN.labels(job).set(now)
    JOB_LAST_SUCCESS.labels(job).set(now if exit_code == 0 else _previous_success(path, job))
    JOB_EXIT_CODE.labels(job).set(exit_code)
    JOB_DURATION.labels(job).set(duration_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), JOB_REGISTRY)


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.metrics job --name NAME --textfile PATH -- COMMAND...``: run COMMAND, write its
    result, and exit with COMMAND's status (so the CronJob's status says the same)."""
    ap = argparse.ArgumentParser(prog="python -m streams.metrics", description=main.__doc__)
    sub = ap.add_subparsers(dest="what", required=True)
    job = sub.add_parser("job", help="run a scheduled job and record its result for Prometheus")
    job.add_argument("--name", required=True, help="the job label, e.g. retention_verify")
    job.add_argument("--textfile", required=True, type=Path, help="e.g. /textfile/platestream-NAME.prom")
    job.add_argument("command", nargs=argparse.REMAINDER, help="-- and the command to run")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")
    if not JOB_NAME.match(args.name):
        ap.error(f"--name {args.name!r}: lower-case letters, digits and _ only")
    t0 = time.monotonic()
    try:
        code = subprocess.call(command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr)
        code = 127
    write_job_textfile(args.textfile, args.name, code, time.monotonic() - t0)
    return code


if __name__ == "__main__":
    sys.exit(main())
