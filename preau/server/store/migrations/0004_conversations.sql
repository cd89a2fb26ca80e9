-- Private conversations and parents' rooms (docs/conversations.md).
--
-- A private conversation is a room of kind 'private' whose members are listed
-- here, fixed when it is opened. A one-to-one conversation carries a
-- ``pair_key`` (the two person ids, sorted) so opening it twice returns it.

ALTER TABLE rooms ADD COLUMN pair_key TEXT;
CREATE UNIQUE INDEX rooms_pair_key ON rooms (pair_key);
-- One parents' room per class.
CREATE UNIQUE INDEX rooms_parents_room ON rooms (class_id) WHERE kind = 'parents';

CREATE TABLE room_members_explicit (
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    person_id   TEXT NOT NULL,
    PRIMARY KEY (room_id, person_id)
);
CREATE INDEX room_members_explicit_person ON room_members_explicit (person_id);
