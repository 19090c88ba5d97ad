-- Searches by the areas they reach, for the report's disparate impact (docs/transparency.md): a search scoped to
-- cameras (near_scene) counts once in each area the camera registry puts one of its cameras in. A search of a plate
-- everywhere reaches no area in particular and is not here. Written by the API with the request's count, under the
-- same request id; so a search reaching two areas is one row in each, and these rows do not add up to searches.
CREATE TABLE IF NOT EXISTS search_area_counts
(
    window_start DateTime('UTC'),
    area         LowCardinality(String),
    kind         LowCardinality(String),
    decision     LowCardinality(String),
    searches     UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, area, kind, decision)
TTL window_start + INTERVAL {aggregate_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 100000, merge_with_ttl_timeout = 3600;
