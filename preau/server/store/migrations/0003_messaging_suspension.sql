-- The messaging kill switch (hijacked-account defence): a school's admins
-- suspend posting for one or more profiles (e.g. every pupil) at once. Every
-- node enforces it inside the post transaction, so it holds everywhere at once.

CREATE TABLE messaging_suspensions (
    school_id   TEXT NOT NULL REFERENCES schools (id),
    profile     TEXT NOT NULL CHECK (profile IN ('pupil', 'teacher', 'parent', 'staff')),
    actor_id    TEXT NOT NULL,
    reason      TEXT,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (school_id, profile)
);
