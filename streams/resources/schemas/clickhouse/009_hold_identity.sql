-- Who placed a hold and for which agency (the verified principal of its signed event; only that agency may release
-- it), and the request or order it answers.
ALTER TABLE holds ADD COLUMN IF NOT EXISTS placed_by String;
ALTER TABLE holds ADD COLUMN IF NOT EXISTS agency String;
ALTER TABLE holds ADD COLUMN IF NOT EXISTS order_ref String;
-- Audit records about what an active hold keeps (verifications of its hits, its own placement), copied like
-- held_reads: the audit trail's purge deletes the originals at the audit limit, the copy stays until the hold ends.
-- The copy keeps each record's chain fields (writer, seq, prev_hash, hash), so it can still be checked.
CREATE TABLE IF NOT EXISTS held_audit
(
    hold_id   String,
    writer    String,
    seq       UInt64,
    at        DateTime64(3, 'UTC'),
    action    LowCardinality(String),
    actor     String,
    agency    String,
    role      String,
    client    String,
    reason    String,
    case_number String,
    detail    String,
    decision  LowCardinality(String),
    rule      String,
    rows      UInt64,
    prev_hash String,
    hash      String,
    held_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (hold_id, writer, seq);
