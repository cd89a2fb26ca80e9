-- Préau schema, version 1. Runs unchanged on SQLite (>= 3.35) and PostgreSQL.
--
-- Portability rules for every migration in this directory (the runner in
-- server/store/sql.py relies on them):
--   * ids are TEXT; times are BIGINT milliseconds since the epoch (*_ms);
--   * flags are INTEGER 0/1, not BOOLEAN, so that both drivers take and return
--     the same Python ints;
--   * each statement ends with ';' at the end of a line; no ';' inside literals;
--     comments are whole lines starting with '--'.
-- The table schema_migrations(version, applied_ms) is created by the runner
-- itself, since it must exist before the runner can tell what to apply.

CREATE TABLE schools (
    id          TEXT PRIMARY KEY,
    uai         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    -- Bumped by every import: nodes poll it to reload a school's directory
    -- changed by another process (a `preau import` beside running nodes).
    directory_version BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE classes (
    id          TEXT PRIMARY KEY,
    school_id   TEXT NOT NULL REFERENCES schools (id),
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    UNIQUE (school_id, name)
);

CREATE TABLE people (
    id                     TEXT PRIMARY KEY,
    school_id              TEXT NOT NULL REFERENCES schools (id),
    external_id            TEXT NOT NULL,
    -- Always stored lowercase (logins are generated that way), so a
    -- case-insensitive look-up is an equality on this unique index.
    login                  TEXT NOT NULL UNIQUE,
    profile                TEXT NOT NULL
        CHECK (profile IN ('pupil', 'teacher', 'parent', 'staff')),
    first_name             TEXT NOT NULL,
    last_name              TEXT NOT NULL,
    is_admin               INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    active                 INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    password_hash          TEXT,
    activation_hash        TEXT,
    activation_expires_ms  BIGINT,
    -- The code last consumed, so that presenting it again gets "already used".
    activation_used_hash   TEXT,
    activated_ms           BIGINT,
    created_ms             BIGINT NOT NULL,
    updated_ms             BIGINT NOT NULL,
    UNIQUE (school_id, external_id)
);

-- A pupil's class or a teacher's classes; which one follows from the profile.
CREATE TABLE class_members (
    class_id   TEXT NOT NULL REFERENCES classes (id),
    person_id  TEXT NOT NULL REFERENCES people (id),
    PRIMARY KEY (class_id, person_id)
);
CREATE INDEX class_members_person ON class_members (person_id);

CREATE TABLE guardianships (
    parent_id  TEXT NOT NULL REFERENCES people (id),
    child_id   TEXT NOT NULL REFERENCES people (id),
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX guardianships_child ON guardianships (child_id);

-- Communication rules as directed links between groups; a self-link (g, g)
-- means the members of g may talk with each other.
CREATE TABLE comm_links (
    school_id   TEXT NOT NULL REFERENCES schools (id),
    from_group  TEXT NOT NULL,
    to_group    TEXT NOT NULL,
    PRIMARY KEY (school_id, from_group, to_group)
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL REFERENCES people (id),
    kind          TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX sessions_person ON sessions (person_id);
CREATE INDEX sessions_expires ON sessions (expires_ms);

CREATE TABLE rooms (
    id          TEXT PRIMARY KEY,
    school_id   TEXT NOT NULL REFERENCES schools (id),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    class_id    TEXT REFERENCES classes (id),
    -- The room's last allocated sequence number. Bumping it with
    -- UPDATE ... RETURNING takes the row lock, which serialises senders.
    last_seq    BIGINT NOT NULL DEFAULT 0,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX rooms_school ON rooms (school_id);
-- One class room per class (other kinds of room may point at a class too).
CREATE UNIQUE INDEX rooms_class_room ON rooms (class_id) WHERE kind = 'class';

-- sender_id has no foreign key on purpose: a room's history is kept when an
-- account goes away, and senders may later include non-person authors.
CREATE TABLE messages (
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    sender_id   TEXT NOT NULL,
    txn         TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, sender_id, txn)
);
