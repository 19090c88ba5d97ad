-- The read store, preservation holds and the audit trail (docs/retention.md).
-- No plate text anywhere: a plate is its keyed hash (plate_key, under the key named by key_id).

-- Reads kept by the retention policy (first frame of each passage). expires_at is set from the policy when the
-- row is written; the purge job also deletes by the policy in force now, so a shortened limit applies at once.
-- Partitions by hour of expiry: once an hour's rows are all due, the partition is dropped whole.
-- The TTL is a backstop only, an hour past expiry: the purge job keeps the limit (and counts what it deletes);
-- the TTL deletes what it left only if it stopped, and the verifier reports that as a failure first.
CREATE TABLE IF NOT EXISTS reads
(
    read_id     String,
    captured_at DateTime64(3, 'UTC'),
    expires_at  DateTime('UTC'),
    data_class  LowCardinality(String),
    camera_id   LowCardinality(String),
    site_id     LowCardinality(String),
    region      LowCardinality(String),
    plate_key   UInt64,
    key_id      LowCardinality(String),
    confidence  Float32,
    hit         UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toStartOfHour(expires_at)
ORDER BY (plate_key, captured_at, read_id)
TTL expires_at + INTERVAL 1 HOUR DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

-- Copies of the reads a preservation hold covers, kept until the hold is released or expires. A read covered by
-- two holds is here twice, once per hold: releasing one hold leaves the other's copy.
CREATE TABLE IF NOT EXISTS held_reads
(
    hold_id     String,
    read_id     String,
    captured_at DateTime64(3, 'UTC'),
    data_class  LowCardinality(String),
    camera_id   LowCardinality(String),
    site_id     LowCardinality(String),
    region      LowCardinality(String),
    plate_key   UInt64,
    key_id      LowCardinality(String),
    confidence  Float32,
    hit         UInt8,
    held_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (hold_id, read_id)
SETTINGS non_replicated_deduplication_window = 100000;

-- Preservation holds: one row per state of a hold (placed, then released), the latest version wins.
-- Selected by pseudonymised plates (every configured key) and/or read ids, within a capture-time range.
CREATE TABLE IF NOT EXISTS holds
(
    hold_id        String,
    version        UInt64,
    requested_by   String,
    case_number    String,
    reason         String,
    plate_keys     Array(Tuple(key_id String, plate_key UInt64)),
    read_ids       Array(String),
    captured_from  DateTime64(3, 'UTC'),
    captured_to    DateTime64(3, 'UTC'),
    expires_at     DateTime64(3, 'UTC'),
    placed_at      DateTime64(3, 'UTC'),
    released_at    Nullable(DateTime64(3, 'UTC')),
    released_by    String,
    release_reason String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY hold_id
SETTINGS non_replicated_deduplication_window = 100000;

-- Who searched for what, why, and what it returned; every purge and hold change. Plates as keyed hashes only.
CREATE TABLE IF NOT EXISTS audit_log
(
    at           DateTime64(3, 'UTC'),
    action       LowCardinality(String),
    actor        String,
    reason       String,
    case_number  String,
    detail       String,
    rows         UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, action)
SETTINGS non_replicated_deduplication_window = 100000;

-- Kafka deletes whole segments on its own; what it deleted shows as the advance of each partition's log start
-- offset (records deleted so far). Samples from any worker may repeat: per day, max - the previous max counts.
CREATE TABLE IF NOT EXISTS kafka_log_starts
(
    topic      LowCardinality(String),
    data_class LowCardinality(String),
    partition  UInt32,
    sampled_at DateTime('UTC'),
    log_start  UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(sampled_at)
ORDER BY (topic, partition, sampled_at)
TTL sampled_at + INTERVAL {aggregate_ttl_days} DAY DELETE;
