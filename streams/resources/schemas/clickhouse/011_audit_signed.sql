-- The audit log as one signed sequence (streams/core/audit_log.py): `signed` holds the record as its writer
-- signed it (Ed25519, a key the database never holds); `seq` numbers the whole log, `prev_hash`/`hash` link it.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS signed String;
-- A hold's copies of audit records keep the signed bytes too: a copy proves itself like the original.
ALTER TABLE held_audit ADD COLUMN IF NOT EXISTS signed String;
