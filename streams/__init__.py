"""platestream: licence-plate reads in, hot-list hits and short-lived aggregates out, with privacy limits built in.

A read flows through the folders in this order (docs/architecture.md draws the tree):
ingest (bytes -> reads or dead letters) -> core (validate, normalise, dedup, match, retain, aggregate; pure) ->
store (ClickHouse) and kafka (topics, followers, dead letters), wired by worker (Kafka) or run (embedded, replay);
cli on top. model holds the records every layer shares; resources the package data.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
