"""platestream: licence-plate reads in, hot-list hits and short-lived aggregates out, with privacy limits built in.

Data flow (folders): ingest -> core (normalise, dedup, match, retain, aggregate) -> store / transport.
The core is pure (numpy/pyarrow, no I/O); adapters for Kafka, ClickHouse and HTTP stay thin.
"""

__version__ = "0.1.0"
