-- A person's language (docs/protocol.md, "Notifications"): what their
-- notification e-mails and pushes are written in first ('fr' or 'en'), set
-- when they switch the web client's language. No row: French. Exported and
-- erased with the person (server/store/privacy.py).
CREATE TABLE person_settings (
    person_id   TEXT PRIMARY KEY REFERENCES people (id),
    language    TEXT NOT NULL CHECK (language IN ('fr', 'en')),
    updated_ms  BIGINT NOT NULL
);

-- A school may put a short excerpt of a private message or announcement in
-- the e-mails and pushes to adults (off by default: who and where only).
ALTER TABLE schools ADD COLUMN notification_excerpt INTEGER NOT NULL DEFAULT 0;
