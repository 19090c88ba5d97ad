-- Operator decisions on hits (confirm / reject with reason), with who and when. No plate text: the hit id
-- points at the hit on the hits topic. ReplacingMergeTree: a redelivered decision is the same row.
CREATE TABLE IF NOT EXISTS verifications
(
    hit_id     String,
    decision   LowCardinality(String),
    reason     LowCardinality(String),
    operator   String,
    decided_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (hit_id, decided_at, operator)
TTL toDateTime(decided_at) + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000;
