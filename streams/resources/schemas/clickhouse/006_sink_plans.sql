-- The offset ranges (pieces) of `reads.json` whose aggregates a worker is about to write, recorded before the write.
-- After a crash or a rebalance the next worker cuts redelivered events along them, so each piece keeps its
-- de-duplication token and no count changes (streams/worker/pieces.py). Offsets only: no plate text.
CREATE TABLE IF NOT EXISTS sink_plans
(
    topic      LowCardinality(String),
    partition  UInt32,
    first      UInt64,
    last       UInt64,
    planned_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, first)
TTL planned_at + INTERVAL 7 DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000;
