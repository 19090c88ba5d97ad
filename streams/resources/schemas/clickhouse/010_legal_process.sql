-- Legal process as data (docs/search-and-audit.md): every search cites one of these records and stays inside its
-- scope. One row per state of a record (registered, then reviewed), the latest version wins. No plate text: the
-- plates it covers are keyed hashes under every configured key, as holds keep them.
-- review_due is set for exceptions only (kinds the policy allows without a warrant): another supervisor reviews
-- the record by then; NULL for a warrant or court order, which need no review.
CREATE TABLE IF NOT EXISTS legal_process
(
    process_id    String,
    version       UInt64,
    kind          LowCardinality(String),
    number        String,
    issuer        String,
    case_number   String,
    offence       LowCardinality(String),
    plate_keys    Array(Tuple(key_id String, plate_key UInt64)),
    cameras       Array(String),
    centre_lat    Nullable(Float64),
    centre_lon    Nullable(Float64),
    radius_m      Nullable(Float64),
    scope_from    DateTime64(3, 'UTC'),
    scope_to      DateTime64(3, 'UTC'),
    expires_at    DateTime64(3, 'UTC'),
    registered_by String,
    agency        String,
    registered_at DateTime64(3, 'UTC'),
    reviewed_by   Nullable(String),
    reviewed_at   Nullable(DateTime64(3, 'UTC')),
    review_due    Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY process_id
SETTINGS non_replicated_deduplication_window = 100000;

-- Outside agencies allowed to search (the sharing allow-list) and the equivalent protections each is bound by.
-- One row per state (added, changed, removed), the latest version wins; a removed partner keeps its history.
CREATE TABLE IF NOT EXISTS sharing
(
    agency        String,
    version       UInt64,
    warrant_rules String,
    retention     String,
    added_by      String,
    added_at      DateTime64(3, 'UTC'),
    removed       UInt8,
    removed_by    String,
    removed_at    Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY agency
SETTINGS non_replicated_deduplication_window = 100000;
