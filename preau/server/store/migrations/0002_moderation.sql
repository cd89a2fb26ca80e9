-- Préau schema, version 2: moderation of class rooms (roles and modes,
-- pre-moderation, redactions, mutes and removals, slow mode, audit log).
-- Same portability rules as 0001_initial.sql.

-- A room's policy lives on its row: the UPDATE that allocates a message's
-- sequence number returns it too, under the same row lock, so a post is
-- checked against the policy in force when it is committed.
--   mode: open (everyone posts) | announcement (moderators only) | read_only (nobody)
--   premoderation: off | pupils (pupils' messages held) | everyone (every member's)
--   slow_mode_s: one message per member per this many seconds (0: off)
--   recall_window_s: how long an author may recall their own message
ALTER TABLE rooms ADD COLUMN mode TEXT NOT NULL DEFAULT 'open'
    CHECK (mode IN ('open', 'announcement', 'read_only'));
ALTER TABLE rooms ADD COLUMN premoderation TEXT NOT NULL DEFAULT 'off'
    CHECK (premoderation IN ('off', 'pupils', 'everyone'));
ALTER TABLE rooms ADD COLUMN slow_mode_s INTEGER NOT NULL DEFAULT 0
    CHECK (slow_mode_s >= 0);
ALTER TABLE rooms ADD COLUMN recall_window_s INTEGER NOT NULL DEFAULT 3600
    CHECK (recall_window_s >= 0);

-- A member's moderation state in one room; a row exists only once something
-- was set (a mute, a removal, a post in slow mode).
CREATE TABLE room_members (
    room_id         TEXT NOT NULL REFERENCES rooms (id),
    person_id       TEXT NOT NULL REFERENCES people (id),
    muted_until_ms  BIGINT,
    removed         INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    last_post_ms    BIGINT,
    PRIMARY KEY (room_id, person_id)
);

-- The room timeline carries redactions as events with their own seq:
--   kind = 'message': a message; redacted_seq is set once it was redacted,
--     and then body is '' (the original moved to redacted_messages);
--   kind = 'redaction': redacts = the seq it redacts, sender_id = who did it.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'
    CHECK (kind IN ('message', 'redaction'));
ALTER TABLE messages ADD COLUMN redacts BIGINT;
ALTER TABLE messages ADD COLUMN reason TEXT;
ALTER TABLE messages ADD COLUMN redacted_seq BIGINT;

-- Originals of redacted messages, kept for the audit retention period and
-- read only through the audit log: no path renders messages from here.
CREATE TABLE redacted_messages (
    room_id      TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    sender_id    TEXT NOT NULL,
    body         TEXT NOT NULL,
    redacted_ms  BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq)
);
CREATE INDEX redacted_messages_time ON redacted_messages (redacted_ms);

-- Messages held for pre-moderation. Idempotent by (room, sender, txn) like
-- messages; an approved one is posted with the author's txn (seq says where).
CREATE TABLE held_messages (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    sender_id   TEXT NOT NULL,
    txn         TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by  TEXT,
    decided_ms  BIGINT,
    reason      TEXT,
    seq         BIGINT,
    UNIQUE (room_id, sender_id, txn)
);
CREATE INDEX held_messages_queue ON held_messages (room_id, status, created_ms);
CREATE INDEX held_messages_decided ON held_messages (decided_ms);

-- Every moderation action: who (actor), what (action, target), when, why.
-- No foreign keys on people: the log outlives accounts. seq numbers a
-- school's entries in the order they were committed (two actions in one
-- millisecond keep their order), from audit_sequences.
CREATE TABLE audit_sequences (
    school_id  TEXT PRIMARY KEY REFERENCES schools (id),
    last       BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id                TEXT PRIMARY KEY,
    school_id         TEXT NOT NULL REFERENCES schools (id),
    seq               BIGINT NOT NULL,
    room_id           TEXT,
    actor_id          TEXT NOT NULL,
    action            TEXT NOT NULL,
    target_person_id  TEXT,
    target_seq        BIGINT,
    target_held_id    TEXT,
    reason            TEXT,
    -- JSON object: what changed (policy fields, a mute's end)
    details           TEXT NOT NULL DEFAULT '{}',
    created_ms        BIGINT NOT NULL,
    UNIQUE (school_id, seq)
);
CREATE INDEX audit_log_time ON audit_log (created_ms);
