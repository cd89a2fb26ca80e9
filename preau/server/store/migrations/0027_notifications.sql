-- The notification centre (docs/protocol.md, "Notifications"): what concerns
-- a person, one row per recipient. ``room_id``/``seq`` name the message it is
-- about (``seq`` NULL when it is about the room itself: a conversation
-- opened); a redacted message's rows are deleted with the redaction
-- (server/notifications/service.py ``withdraw``). Exported and erased with
-- the person; purged after PREAU_NOTIFICATION_RETENTION_DAYS
-- (server/privacy/retention.py).
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people (id),
    school_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    room_id     TEXT,
    seq         BIGINT,
    actor_id    TEXT,
    data        TEXT NOT NULL DEFAULT '{}',
    created_ms  BIGINT NOT NULL,
    read_ms     BIGINT
);
CREATE INDEX notifications_person ON notifications (person_id, created_ms);
CREATE INDEX notifications_source ON notifications (room_id, seq);
CREATE INDEX notifications_created ON notifications (created_ms);
