-- Daily and weekly digests (docs/protocol.md, "Notifications"): a job per
-- notification as for an immediate mail, due at the digest's time in the
-- school's time zone; a node claims a person's due jobs of one digest
-- together and sends them as one mail (server/notifications/email.py).
ALTER TABLE email_jobs ADD COLUMN digest TEXT CHECK (digest IN ('daily', 'weekly'));
