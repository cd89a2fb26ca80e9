-- Attachments (docs/attachments.md): files in chat, private conversations
-- and documents.
--
-- A blob is a file's bytes, named by their SHA-256 (the same worksheet posted
-- to five classes is stored once) and counted: ``refs`` is the number of
-- attachment rows naming it, changed in the transaction that adds or deletes
-- such a row, so the bytes go exactly when the last reference does. Where the
-- bytes live is the blob store's business (preau/server/blobs/): files under
-- the data directory, or ``blob_chunks`` below when every node must reach them.
CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    refs        BIGINT NOT NULL,
    stored_ms   BIGINT NOT NULL
);

-- The database blob store: a blob's bytes in numbered chunks (1 MiB), read
-- and written one chunk at a time, never whole.
CREATE TABLE blob_chunks (
    sha256      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (sha256, n)
);

-- One uploaded file. Unbound (room_id, held_id, scheduled_id and document_id
-- NULL) only its author sees it, and it is deleted after
-- PREAU_ATTACHMENT_UNBOUND_S; bound, whoever may read what it is bound to may
-- download it, checked on every request (preau/server/attachments/service.py):
-- a message (room_id, seq), a message held for a moderator (held_id) or
-- waiting for quiet hours to end (scheduled_id), a shared document.
-- ``state``: 'ready', or 'pending' while no scanner has passed it (nobody gets
-- its bytes). ``thumbnail``: a small re-encoded image (no metadata).
CREATE TABLE attachments (
    id              TEXT PRIMARY KEY,
    school_id       TEXT NOT NULL,
    author_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    mime            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    sha256          TEXT NOT NULL REFERENCES blobs (sha256),
    width           INTEGER,
    height          INTEGER,
    thumbnail       BYTEA,
    thumbnail_mime  TEXT,
    state           TEXT NOT NULL CHECK (state IN ('ready', 'pending')),
    created_ms      BIGINT NOT NULL,
    room_id         TEXT,
    seq             BIGINT,
    held_id         TEXT,
    scheduled_id    TEXT,
    document_id     TEXT,
    bound_ms        BIGINT,
    -- Pending files: when a node may try the scanner again (claimed by
    -- moving it forward), and how many times it tried.
    scan_after_ms   BIGINT,
    scan_attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attachments_author ON attachments (author_id);
CREATE INDEX attachments_school ON attachments (school_id);
CREATE INDEX attachments_message ON attachments (room_id, seq);
CREATE INDEX attachments_held ON attachments (held_id);
CREATE INDEX attachments_scheduled ON attachments (scheduled_id);
CREATE INDEX attachments_document ON attachments (document_id);
CREATE INDEX attachments_blob ON attachments (sha256);
CREATE INDEX attachments_unbound ON attachments (created_ms) WHERE bound_ms IS NULL;
CREATE INDEX attachments_pending ON attachments (scan_after_ms) WHERE state = 'pending';

-- A message's attachments as its frames show them (a JSON list, NULL: none),
-- written with the message so that history, replays and live frames render
-- them without another read; kept in step when a pending file is released.
ALTER TABLE messages ADD COLUMN attachments TEXT;
