-- Word filter and reports. The word filter: each school's editable word lists, one row per action
-- (block | hold | alert). A school without rows uses the defaults shipped in
-- server/moderation/wordfilter.py; replacing the lists writes all three rows.
--   words: JSON array of strings, as the admin gave them.

CREATE TABLE word_filters (
    school_id   TEXT NOT NULL REFERENCES schools (id),
    action      TEXT NOT NULL CHECK (action IN ('block', 'hold', 'alert')),
    words       TEXT NOT NULL DEFAULT '[]',
    updated_by  TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (school_id, action)
);

-- Reports: a member of a room reports a message to the school's moderators.
-- One report per (message, reporter); resolving keeps or deletes the message
-- (deleting is the usual redaction) and resolves every open report of it.
CREATE TABLE reports (
    id           TEXT PRIMARY KEY,
    school_id    TEXT NOT NULL REFERENCES schools (id),
    room_id      TEXT NOT NULL REFERENCES rooms (id),
    seq          BIGINT NOT NULL,
    reporter_id  TEXT NOT NULL,
    reason       TEXT,
    created_ms   BIGINT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'kept', 'deleted')),
    resolved_by  TEXT,
    resolved_ms  BIGINT,
    UNIQUE (room_id, seq, reporter_id),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq)
);
CREATE INDEX reports_queue ON reports (school_id, status, created_ms);
