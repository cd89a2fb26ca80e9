-- Editing one's own message within the room's recall window (docs/protocol.md,
-- "Editing a message"). The message keeps its seq and shows its latest text;
-- like reactions, an edit raises the message's revision (clients keep the
-- highest: exact on every node whatever order the events arrive in) and
-- records the room's head when it was made (a resume with ``since`` gets the
-- edits at or after it).
ALTER TABLE messages ADD COLUMN edited_ms BIGINT;
ALTER TABLE messages ADD COLUMN edit_rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edit_head BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_edit_head ON messages (room_id, edit_head) WHERE edit_rev > 0;

-- The text each edit replaced, kept for the audit period and read only
-- through the audit log (as redacted_messages): no path renders it to a room.
-- edited_ms is strictly increasing per message (the audit entry of an edit
-- finds its earlier text by it).
CREATE TABLE message_edits (
    room_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    rev        BIGINT NOT NULL,
    sender_id  TEXT NOT NULL,
    body       TEXT NOT NULL,
    edited_ms  BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, rev),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq)
);
CREATE INDEX message_edits_time ON message_edits (edited_ms);
CREATE INDEX message_edits_sender ON message_edits (sender_id);
