-- Refused changes of Yjs copies nobody owns yet (docs/collab.md, "Whose
-- copy"): a copy whose changes were never accepted is bound to no one, so a
-- refusal of its change cannot condemn it for everyone (anyone may claim
-- its id). It is condemned for the person whose connection held it (its
-- awareness id) when the change was refused: a change of theirs carrying,
-- building on or deleting it is refused, on every node, from then on (a
-- pupil typing during a lock, reconnecting after it), while another
-- person's copy under the same id is not touched.
CREATE TABLE document_refused_copies (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    person_id    TEXT NOT NULL,
    client_id    BIGINT NOT NULL,
    from_clock   BIGINT NOT NULL,
    refused_ms   BIGINT NOT NULL,
    PRIMARY KEY (document_id, person_id, client_id)
);
