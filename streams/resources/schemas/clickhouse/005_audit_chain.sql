-- The audit trail as a hash chain (streams/core/audit_chain.py): an edited or deleted record breaks a link.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS writer String;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS seq UInt64;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS prev_hash String;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS hash String;
