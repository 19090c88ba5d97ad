-- Deletions per day, store and data class, for transparency reports: what the retention clock dropped from
-- processor state and what the purge job deleted from ClickHouse (both counted in expiry_counts), and what Kafka
-- deleted (the advance of each partition's log start offset, sampled into kafka_log_starts; the first day of a
-- partition counts from offset 0, every record before its log start having been deleted).
CREATE VIEW IF NOT EXISTS deletions_per_day AS
SELECT toDate(window_start) AS day, store, data_class, sum(expired) AS deleted
FROM expiry_counts
GROUP BY day, store, data_class
UNION ALL
SELECT day, 'kafka' AS store, data_class, sum(advance) AS deleted
FROM
(
    SELECT topic, partition, data_class, day,
           greatest(toInt64(top) - toInt64(lagInFrame(top, 1, 0) OVER (PARTITION BY topic, partition ORDER BY day ASC
                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)), 0) AS advance
    FROM
    (
        SELECT topic, partition, any(data_class) AS data_class, toDate(sampled_at) AS day, max(log_start) AS top
        FROM kafka_log_starts
        GROUP BY topic, partition, day
    )
)
GROUP BY day, data_class;
