-- The audit chain's head carries its length too, so a head published outside the database
-- (`SEQ:HASH` in notifications and closing summaries) names one entry: the SEQ-th.
ALTER TABLE audit_head ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET seq = (SELECT COUNT(*) FROM audit_log) WHERE id = 1;
