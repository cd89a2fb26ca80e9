-- Password recovery by e-mail (issue 19, docs/operations.md "Password
-- recovery"): one pending link per person, its token kept as a SHA-256
-- only; used once (used_ms set in the transaction that sets the password),
-- short-lived (expires_ms). A newer request replaces an older pending one.
-- Deleted with the person (server/store/privacy.py) and once expired.
CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people (id),
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    used_ms     BIGINT
);
CREATE INDEX password_resets_person ON password_resets (person_id);
