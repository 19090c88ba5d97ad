-- Hits as the store keeps them: which read matched which entry, how, and what the alert said; no plate text
-- (the read and entry plates are on the hits topic only). A verification must name a hit in this table.
-- ReplacingMergeTree: a redelivered batch writes the same hit_id again, which is the same row.
-- Kept for the policy's `hits` limit (purge job), the TTL a backstop as for `verifications`.
CREATE TABLE IF NOT EXISTS hits
(
    hit_id                String,
    read_id               String,
    read_time             DateTime64(3, 'UTC'),
    camera_id             LowCardinality(String),
    site_id               LowCardinality(String),
    entry_id              String,
    reason                LowCardinality(String),
    match_kind            LowCardinality(String),
    ocr_confidence        Float32,
    alert                 UInt8,
    status                LowCardinality(String),
    verification_required UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(read_time)
ORDER BY hit_id
TTL toDateTime(read_time) + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000;
