-- The mood of the day (docs/protocol.md, "Mood of the day"): classes a
-- school's admins mark as kindergarten or primary, and their pupils' daily
-- picks. One row per pupil and school day (the school's time zone); kept for
-- the school year at most (server/privacy/retention.py), exported and erased
-- with the person (server/store/privacy.py).
CREATE TABLE class_levels (
    class_id    TEXT PRIMARY KEY REFERENCES classes (id),
    school_id   TEXT NOT NULL REFERENCES schools (id),
    level       TEXT NOT NULL CHECK (level IN ('maternelle', 'elementaire')),
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX class_levels_school ON class_levels (school_id);

CREATE TABLE moods (
    person_id   TEXT NOT NULL REFERENCES people (id),
    day         TEXT NOT NULL,
    school_id   TEXT NOT NULL REFERENCES schools (id),
    class_id    TEXT NOT NULL,
    mood        TEXT,
    night       TEXT,
    breakfast   TEXT,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (person_id, day)
);
CREATE INDEX moods_class_day ON moods (class_id, day);
CREATE INDEX moods_day ON moods (day);
