"""Storage adapters: ClickHouse, embedded (chDB) or server, behind one small interface.

``clickhouse`` (client, ``Store``, migrations) and ``sql``/``limits`` (SQL text) are the base; ``reads``,
``aggregates``, ``plans``, ``holds``, ``purge``, ``audit``, ``search``, ``review`` and ``deletions`` each own one
job on it; ``retention_check`` verifies the tables against the policy; ``faults`` is a test hook.
"""

__all__ = [
    "aggregates",
    "audit",
    "audit_checkpoints",
    "clickhouse",
    "deletions",
    "discovery",
    "faults",
    "grants",
    "hits",
    "holds",
    "limits",
    "plans",
    "process",
    "purge",
    "reads",
    "report_counts",
    "report_queries",
    "retention_check",
    "review",
    "search",
    "sharing",
    "sql",
]
