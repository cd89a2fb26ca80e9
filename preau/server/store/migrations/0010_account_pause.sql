-- Hijacked-account defence: an account that posts into too many rooms in a
-- short time is paused (docs/moderation.md, "Paused accounts") until a school
-- admin resumes it. Checked in the post transaction with the kill switch.
CREATE TABLE paused_accounts (
    person_id   TEXT PRIMARY KEY,
    school_id   TEXT NOT NULL REFERENCES schools (id),
    paused_ms   BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX paused_accounts_school ON paused_accounts (school_id);
