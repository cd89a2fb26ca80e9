-- Quiet hours, announcements with acknowledgements, read markers, school
-- settings for parents (docs/moderation.md). Same portability rules as 0001.

-- A school's delivery window in its time zone ('HH:MM-HH:MM', or 'off'), and
-- whether parents of a class may open conversations with each other.
ALTER TABLE schools ADD COLUMN quiet_hours TEXT NOT NULL DEFAULT '07:00-20:00';
ALTER TABLE schools ADD COLUMN parents_may_message INTEGER NOT NULL DEFAULT 0
    CHECK (parents_may_message IN (0, 1));

-- A room follows the school's window ('school'), has none ('off'), or its own.
ALTER TABLE rooms ADD COLUMN quiet_hours TEXT NOT NULL DEFAULT 'school';

-- One school-wide parents' room at most (class_id NULL; the per-class index
-- of 0004 does not cover it: NULLs are distinct there).
CREATE UNIQUE INDEX rooms_school_parents_room ON rooms (school_id)
    WHERE kind = 'parents' AND class_id IS NULL;

-- Messages committed during quiet hours, delivered (posted on the timeline
-- with the next seq and the author's txn) when the window opens. Idempotent by
-- (room, sender, txn) like messages; seq is set once released.
CREATE TABLE scheduled_messages (
    id           TEXT PRIMARY KEY,
    room_id      TEXT NOT NULL REFERENCES rooms (id),
    sender_id    TEXT NOT NULL,
    txn          TEXT NOT NULL,
    body         TEXT NOT NULL,
    ack_required INTEGER NOT NULL DEFAULT 0 CHECK (ack_required IN (0, 1)),
    created_ms   BIGINT NOT NULL,
    release_ms   BIGINT NOT NULL,
    seq          BIGINT,
    UNIQUE (room_id, sender_id, txn)
);
CREATE INDEX scheduled_messages_due ON scheduled_messages (release_ms) WHERE seq IS NULL;

-- An announcement asks its readers to acknowledge it ("J'ai lu").
ALTER TABLE messages ADD COLUMN ack_required INTEGER NOT NULL DEFAULT 0
    CHECK (ack_required IN (0, 1));
CREATE TABLE message_acks (
    room_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    person_id  TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, person_id),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq)
);

-- How far each person has read each room: unread counts, and read receipts
-- in private conversations. Only ever moves forward.
CREATE TABLE read_markers (
    room_id    TEXT NOT NULL REFERENCES rooms (id),
    person_id  TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    PRIMARY KEY (room_id, person_id)
);
CREATE INDEX read_markers_person ON read_markers (person_id);
