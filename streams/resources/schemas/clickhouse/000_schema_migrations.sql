-- Which files of this folder have been applied; `platestream migrate` reads it before applying the others.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    name       String,
    applied_at DateTime
)
ENGINE = MergeTree
ORDER BY name;
