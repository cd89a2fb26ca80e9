-- Shared documents (docs/collab.md): metadata and rights, the Yjs update log
-- and its snapshot, named versions, and who edited when.
--
-- Person columns carry no foreign key: the data-protection tools replace a
-- person's id with an alias on erasure (server/store/privacy.py), and a
-- document outlives the accounts of the pupils who wrote it.

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    school_id     TEXT NOT NULL REFERENCES schools (id),
    class_id      TEXT NOT NULL REFERENCES classes (id),
    title         TEXT NOT NULL,
    -- How the server reads the content (export, restore): 'text' is a Y.Text
    -- named "content", 'map' a Y.Map named "content". Clients may keep other
    -- roots; the server relays and stores them all, it only reads "content".
    kind          TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'map')),
    created_by    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    -- 1: only the pupils listed as editors in document_people edit.
    restricted    INTEGER NOT NULL DEFAULT 0 CHECK (restricted IN (0, 1)),
    locked        INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    -- The update log: the last seq handed out (bumped by every append, in the
    -- append's transaction, so seqs are gapless) and the seq merged into the
    -- snapshot by the last compaction.
    head_seq      BIGINT NOT NULL DEFAULT 0,
    snapshot_seq  BIGINT NOT NULL DEFAULT 0,
    snapshot      BYTEA
);
CREATE INDEX documents_class ON documents (class_id);

-- The group of pupils who edit a restricted document, and the readers a
-- teacher named (any profile, within the teacher's circle of trust).
CREATE TABLE document_people (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    person_id    TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('editor', 'reader')),
    PRIMARY KEY (document_id, person_id)
);
CREATE INDEX document_people_person ON document_people (person_id);

-- Accepted updates above the snapshot, in seq order.
CREATE TABLE document_updates (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    seq          BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (document_id, seq)
);

-- Named versions: the whole state (one merged update) when it was taken.
CREATE TABLE document_versions (
    id           TEXT PRIMARY KEY,
    document_id  TEXT NOT NULL REFERENCES documents (id),
    name         TEXT NOT NULL,
    state        BYTEA NOT NULL,
    created_by   TEXT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX document_versions_document ON document_versions (document_id, created_ms);

-- Who edited when: one row per person and document per minute of editing
-- (a burst of keystrokes is one row). Read by the data-protection exports.
CREATE TABLE document_edits (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    person_id    TEXT NOT NULL,
    at_ms        BIGINT NOT NULL
);
CREATE INDEX document_edits_document ON document_edits (document_id, at_ms);
CREATE INDEX document_edits_person ON document_edits (person_id, document_id, at_ms);
