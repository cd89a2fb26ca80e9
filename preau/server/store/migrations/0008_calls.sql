-- Video calls (docs/video.md). One row per call: its whole state machine
-- (rtc/room.py) as JSON, rewritten by one short transaction per change under
-- the school's lock, so every node sees the same seats, lobby and controls.
-- Calls are live things: the row stays after the call ended (status 'ended')
-- for the school's history of who called when; seats are emptied then.
--   state: JSON of rtc.room.CallState (seats hold node and socket ids).
--   seats: number of admitted peers, kept beside the JSON so that a school's
--          capacity is one indexed SUM.

CREATE TABLE calls (
    id          TEXT PRIMARY KEY,
    school_id   TEXT NOT NULL REFERENCES schools (id),
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    status      TEXT NOT NULL CHECK (status IN ('open', 'ended')),
    seats       INTEGER NOT NULL DEFAULT 0,
    version     BIGINT NOT NULL,
    state       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX calls_school_open ON calls (school_id, status);
CREATE INDEX calls_room_open ON calls (room_id, status);

-- Nodes that hold call seats heartbeat here; seats of a node silent for
-- longer than the TTL are dropped by whichever node notices (a crashed node
-- must not keep seats, a lobby or a "last moderator" alive).
CREATE TABLE call_nodes (
    node_id     TEXT PRIMARY KEY,
    seen_ms     BIGINT NOT NULL
);
