-- A person changes their own notification address (docs/protocol.md,
-- "Notifications"): the new address is kept here until the person follows
-- the link mailed to it. Single use (the row goes when confirmed), one per
-- person (a new request replaces it), expiring; only the link's hash is
-- kept. Erased with the person (server/store/privacy.py).
CREATE TABLE email_changes (
    token_hash  TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people (id),
    school_id   TEXT NOT NULL,
    email       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX email_changes_person ON email_changes (person_id);

-- An address the person confirmed themselves wins over the import's (the
-- school's file is often older): the next import does not replace it.
ALTER TABLE person_emails ADD COLUMN self_set INTEGER NOT NULL DEFAULT 0;
