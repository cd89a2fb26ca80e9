-- Reactions on messages (docs/protocol.md, "Reactions"): a small fixed set of
-- emoji, at most one of each per person per message. A message's reactions
-- go with it (redaction, retention, erasure of its author's contributions);
-- a person's go with the person (erasure). Exported with the person.
CREATE TABLE reactions (
    room_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    person_id   TEXT NOT NULL,
    reaction    TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, person_id, reaction),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq)
);
CREATE INDEX reactions_person ON reactions (person_id);

-- Per message: a revision, raised by every change of its reactions in the
-- transaction that makes it (clients keep the highest: counts are exact on
-- every node whatever order the events arrive in), and the room's head when
-- it last changed (a resume with ``since`` gets the changes at or after it).
ALTER TABLE messages ADD COLUMN reactions_rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reactions_head BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_reactions_head ON messages (room_id, reactions_head)
    WHERE reactions_rev > 0;

-- May readers of an announcement room (pupils, parents) react? Each school
-- decides (on by default); nobody reacts in a read-only room.
ALTER TABLE schools ADD COLUMN reactions_in_announcements INTEGER NOT NULL DEFAULT 1
    CHECK (reactions_in_announcements IN (0, 1));
