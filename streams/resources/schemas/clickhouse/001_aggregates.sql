-- Transparency aggregates: counts only, never plate text.
-- SummingMergeTree: partial counts written for the same key by several batches or workers add up.
-- non_replicated_deduplication_window: a retried insert with the same insert_deduplication_token is dropped.
-- The TTL ({aggregate_ttl_days}, substituted by `platestream migrate`) is the retention limit of the aggregates.

CREATE TABLE IF NOT EXISTS read_counts
(
    window_start DateTime('UTC'),
    camera_id    LowCardinality(String),
    site_id      LowCardinality(String),
    reads        UInt64,
    duplicates   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, camera_id, site_id)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

CREATE TABLE IF NOT EXISTS hit_counts
(
    window_start DateTime('UTC'),
    camera_id    LowCardinality(String),
    reason       LowCardinality(String),
    match_kind   LowCardinality(String),
    hits         UInt64,
    alerts       UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, camera_id, reason, match_kind)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

CREATE TABLE IF NOT EXISTS dead_letter_counts
(
    window_start DateTime('UTC'),
    source       LowCardinality(String),
    reason       LowCardinality(String),
    dead_letters UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, source, reason)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

CREATE TABLE IF NOT EXISTS camera_health
(
    window_start DateTime('UTC'),
    camera_id    LowCardinality(String),
    heartbeats   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, camera_id)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

CREATE TABLE IF NOT EXISTS expiry_counts
(
    window_start DateTime('UTC'),
    store        LowCardinality(String),
    data_class   LowCardinality(String),
    expired      UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, store, data_class)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;
