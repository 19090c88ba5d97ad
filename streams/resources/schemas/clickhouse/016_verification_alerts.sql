-- Whether the verified hit raised an alert, so "alerts not verified in time" counts alerts only (a quick check of a
-- hit that raised none, a repeat passage or a region mismatch, says nothing about how fast alerts are checked).
-- Rows from before have 0.
ALTER TABLE verification_counts ADD COLUMN IF NOT EXISTS alert UInt8,
    MODIFY ORDER BY (window_start, camera_id, list_source, reason, match_kind, disposition, delay_bucket, alert);
