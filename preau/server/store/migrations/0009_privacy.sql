-- Data protection (docs/data-protection.md): closed accounts, erasure jobs and
-- their tombstones, the access journal, archived rooms of past school years,
-- and the lease that lets one node at a time run the retention job.
-- Same portability rules as 0001_initial.sql.

-- When an account lost its right to exist (left the school at a rollover):
-- the three-month erasure clock starts here. NULL while the account is open.
ALTER TABLE people ADD COLUMN closed_ms BIGINT;
CREATE INDEX people_closed ON people (closed_ms);

-- A requested or scheduled erasure, worked through in steps, one transaction
-- each, so a crash resumes at the step it stopped in. ``pseudonym`` replaces
-- the person's id wherever their contributions are kept; it is chosen once, so
-- a resumed job uses the same one. The row goes when the job is done (in the
-- transaction that writes the tombstone): nothing then links the pseudonym to
-- the person.
--   reason: request (the person, a guardian or the school) | closed (automatic)
--   step: the next step to run (server/privacy/erasure.py: STEPS)
CREATE TABLE erasures (
    id                    TEXT PRIMARY KEY,
    person_id             TEXT NOT NULL UNIQUE,
    school_id             TEXT NOT NULL,
    reason                TEXT NOT NULL CHECK (reason IN ('request', 'closed')),
    delete_contributions  INTEGER NOT NULL DEFAULT 0 CHECK (delete_contributions IN (0, 1)),
    pseudonym             TEXT NOT NULL,
    step                  TEXT NOT NULL,
    -- kept for the tombstone (how many pupils' accounts were erased, say)
    profile               TEXT NOT NULL,
    requested_ms          BIGINT NOT NULL,
    updated_ms            BIGINT NOT NULL
);

-- That an erasure happened, never what or whom it erased.
CREATE TABLE erasure_tombstones (
    id            TEXT PRIMARY KEY,
    school_id     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    profile       TEXT NOT NULL,
    requested_ms  BIGINT NOT NULL,
    erased_ms     BIGINT NOT NULL
);
CREATE INDEX erasure_tombstones_school ON erasure_tombstones (school_id, erased_ms);

-- Who read what in the moderation and admin views (audit log, reports queue,
-- held messages, exports run by staff, this journal itself), for the school's
-- data-protection officer. ``subject`` names what was read (a room, a person,
-- a query), never its content.
CREATE TABLE access_journal (
    id          TEXT PRIMARY KEY,
    school_id   TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    view        TEXT NOT NULL,
    subject     TEXT NOT NULL DEFAULT '',
    at_ms       BIGINT NOT NULL
);
CREATE INDEX access_journal_school ON access_journal (school_id, at_ms);
CREATE INDEX access_journal_time ON access_journal (at_ms);

-- Rooms of a past school year (rollover), read-only until ``keep_until_ms``,
-- when the retention job deletes them with their content.
CREATE TABLE archived_rooms (
    room_id        TEXT PRIMARY KEY,
    school_id      TEXT NOT NULL,
    archived_ms    BIGINT NOT NULL,
    keep_until_ms  BIGINT NOT NULL
);
CREATE INDEX archived_rooms_until ON archived_rooms (keep_until_ms);

-- Scheduled jobs shared by every node: whoever updates the row first (with
-- an expired lease and a due run) runs the job; the others find the row taken
-- and skip. ``lease_until_ms`` bounds a crashed holder's claim.
CREATE TABLE jobs (
    name            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL DEFAULT '',
    lease_until_ms  BIGINT NOT NULL DEFAULT 0,
    last_start_ms   BIGINT NOT NULL DEFAULT 0,
    last_done_ms    BIGINT NOT NULL DEFAULT 0,
    last_result     TEXT NOT NULL DEFAULT '{}'
);

-- A person's messages, for their export and their erasure (the unique index
-- on (room_id, sender_id, txn) does not serve a look-up by sender).
CREATE INDEX messages_sender ON messages (sender_id, room_id, seq);
CREATE INDEX held_messages_sender ON held_messages (sender_id);
