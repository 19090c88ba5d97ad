-- What transparency reports publish (docs/transparency.md), as aggregates with no plate and no read id, kept for
-- {aggregate_ttl_days} days: long enough for a reporting period, then gone. Counted where the event happens, by
-- the writer that owns it, idempotently: a replay or a restart never changes a count.
-- - SummingMergeTree tables are written by whoever alone handles the event (a partition's worker, the API for its
--   own requests), each insert with its de-duplication token.
-- - *_changes tables are written by every worker that follows a control topic (each follows all of it): the same
--   change has the same change_id everywhere, so ReplacingMergeTree keeps it once; count them with FINAL.
-- Areas and agencies of cameras are not here: the camera registry names them, and the report joins it.

-- Dispositions and outcomes (streams/model/disposition.py). `decision` and `reason` stay for older readers.
ALTER TABLE verifications ADD COLUMN IF NOT EXISTS disposition LowCardinality(String);
ALTER TABLE verifications ADD COLUMN IF NOT EXISTS note String;

CREATE TABLE IF NOT EXISTS hit_outcomes
(
    hit_id      String,
    outcome     LowCardinality(String),
    note        String,
    recorded_by String,
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (hit_id, recorded_at, recorded_by)
TTL toDateTime(recorded_at) + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000;

-- Hits by list source too (the entry's `source`, e.g. ncic_extract); rows from before have ''.
ALTER TABLE hit_counts ADD COLUMN IF NOT EXISTS list_source LowCardinality(String),
    MODIFY ORDER BY (window_start, camera_id, reason, match_kind, list_source);

-- Dispositions, by the hour the hit was captured (so a period's funnel follows the same captures from read to
-- decision), its camera, list, reason and match kind. delay_bucket: capture to decision, one of
-- lt_1m, 1m_5m, 5m_15m, 15m_1h, 1h_1d, ge_1d; delay_seconds_sum / verifications is the mean.
CREATE TABLE IF NOT EXISTS verification_counts
(
    window_start      DateTime('UTC'),
    camera_id         LowCardinality(String),
    list_source       LowCardinality(String),
    reason            LowCardinality(String),
    match_kind        LowCardinality(String),
    disposition       LowCardinality(String),
    delay_bucket      LowCardinality(String),
    verifications     UInt64,
    delay_seconds_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, camera_id, list_source, reason, match_kind, disposition, delay_bucket)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

-- Outcomes of confirmed hits, by the hour the hit was captured. One outcome counts per hit (the first recorded).
CREATE TABLE IF NOT EXISTS outcome_counts
(
    window_start DateTime('UTC'),
    camera_id    LowCardinality(String),
    list_source  LowCardinality(String),
    reason       LowCardinality(String),
    match_kind   LowCardinality(String),
    outcome      LowCardinality(String),
    outcomes     UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, camera_id, list_source, reason, match_kind, outcome)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

-- Requests to the API that reach data (searches, discovery exports, holds...), allowed, refused and failed, by the
-- hour asked. partner = 1 when the requesting agency is not the deployment's own. kind: the search kind, '' for
-- other actions; justification: the cited legal-process record's kind, 'none' when none was cited; purpose: a
-- partner's declared purpose, ''; rule: the refusal's rule, '' when allowed.
CREATE TABLE IF NOT EXISTS request_counts
(
    window_start  DateTime('UTC'),
    agency        LowCardinality(String),
    partner       UInt8,
    action        LowCardinality(String),
    kind          LowCardinality(String),
    justification LowCardinality(String),
    purpose       LowCardinality(String),
    decision      LowCardinality(String),
    rule          LowCardinality(String),
    requests      UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, agency, partner, action, kind, justification, purpose, decision, rule)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;

-- Hot-list changes: change is one of added, refused, expired, cleared, cleared_by_snapshot, expiry_capped; rule
-- names a refusal's rule ('' otherwise); reason is the entry's reason (stolen_vehicle, ...) or a clear's reason.
CREATE TABLE IF NOT EXISTS hotlist_changes
(
    change_id    String,
    window_start DateTime('UTC'),
    source       LowCardinality(String),
    reason       LowCardinality(String),
    change       LowCardinality(String),
    rule         LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, source, change, rule, reason, change_id)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000;

-- Holds: change is one of placed, refused, released, expired; agency is the placing agency.
CREATE TABLE IF NOT EXISTS hold_changes
(
    change_id    String,
    window_start DateTime('UTC'),
    agency       LowCardinality(String),
    change       LowCardinality(String),
    rule         LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, agency, change, rule, change_id)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000;
