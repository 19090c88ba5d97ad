"""The pure core: functions over Arrow batches and numpy arrays, no I/O and no framework imports.

normalise -> dedup -> match -> retain -> aggregate, wired together by ``pipeline.Processor``. Time is always a
parameter (milliseconds since the epoch), never read from a clock here.
"""

__all__ = [
    "aggregate",
    "alerts",
    "audit_log",
    "compiled",
    "confusables",
    "dedup",
    "disclosure",
    "engine",
    "hotlist",
    "live_hotlist",
    "match",
    "normalise",
    "pipeline",
    "policy",
    "pseudonym",
    "report_counts",
    "report_period",
    "report_table",
    "review",
    "review_records",
    "signing",
    "stopwatch",
    "validate",
]
