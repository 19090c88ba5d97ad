-- A hit's evidence and the entry as it stood at match time (what a hit trail and a discovery bundle show),
-- still without plate text: the differing positions and the candidate's rank, not the characters.
ALTER TABLE hits ADD COLUMN IF NOT EXISTS entry_region LowCardinality(String);
ALTER TABLE hits ADD COLUMN IF NOT EXISTS legal_basis String;
ALTER TABLE hits ADD COLUMN IF NOT EXISTS entry_expires_at Nullable(DateTime64(3, 'UTC'));
ALTER TABLE hits ADD COLUMN IF NOT EXISTS entry_source LowCardinality(String);
ALTER TABLE hits ADD COLUMN IF NOT EXISTS source_stale UInt8;
ALTER TABLE hits ADD COLUMN IF NOT EXISTS repeat_passage UInt8;
ALTER TABLE hits ADD COLUMN IF NOT EXISTS candidate_rank Int16;
ALTER TABLE hits ADD COLUMN IF NOT EXISTS differing_positions Array(Int8);
ALTER TABLE hits ADD COLUMN IF NOT EXISTS region_unknown UInt8;
ALTER TABLE hits ADD COLUMN IF NOT EXISTS read_region LowCardinality(String);
