-- Camera health (issue #16): heartbeats of cameras reporting `is_streaming: false` are counted apart, as a camera
-- down, not as a healthy camera; mobile units' position only as a coarse grid-cell code (`area`, e.g. "37.6,-122.5",
-- streams.ingest.decode.area_code), part of the key so that each cell keeps its own counts. Never coordinates.
ALTER TABLE camera_health
    ADD COLUMN IF NOT EXISTS down_heartbeats UInt64 DEFAULT 0 AFTER heartbeats;

ALTER TABLE camera_health
    ADD COLUMN IF NOT EXISTS area LowCardinality(String),
    MODIFY ORDER BY (window_start, camera_id, area);
