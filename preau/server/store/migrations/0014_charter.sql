-- The charter of use ("charte d'utilisation", docs/moderation.md, "Charter of
-- use"): each school's versions (Markdown, French first, an optional English
-- translation), and who accepted which version when. Version 1 of a school is
-- Préau's default text, written the first time the school's charter is read.
CREATE TABLE charters (
    school_id     TEXT NOT NULL REFERENCES schools (id),
    version       INTEGER NOT NULL,
    body          TEXT NOT NULL,
    body_en       TEXT,
    published_ms  BIGINT NOT NULL,
    published_by  TEXT,
    PRIMARY KEY (school_id, version)
);
-- Kept while the account lives (proof of acceptance); erasure deletes them.
CREATE TABLE charter_acceptances (
    person_id    TEXT NOT NULL,
    school_id    TEXT NOT NULL REFERENCES schools (id),
    version      INTEGER NOT NULL,
    accepted_ms  BIGINT NOT NULL,
    PRIMARY KEY (person_id, version)
);
CREATE INDEX charter_acceptances_school ON charter_acceptances (school_id, version);
