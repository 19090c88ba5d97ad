-- Who acted, from where, and what was decided (streams/model/audit.py): every attempt is recorded, allowed,
-- refused and failed alike. The hash chain covers these columns too (streams/core/audit_log.py).
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS agency String;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS role String;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS client String;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS decision LowCardinality(String);
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS rule String;
