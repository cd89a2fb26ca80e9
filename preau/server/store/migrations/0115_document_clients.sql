-- Whose copy each Yjs client id of a document is (docs/collab.md, "Whose
-- copy"): bound to the person whose accepted change first carried structs
-- under it. A change carrying new structs under another person's client id
-- is refused (a writer cannot write in someone else's name, nor make their
-- next keystrokes vanish as duplicates), and a refused change condemns only
-- its sender's own copies (a reader sending structs under the editors' ids
-- could otherwise stop every editor from saving). Erasure pseudonymises
-- person_id like the document's other authors.
CREATE TABLE document_clients (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    client_id    BIGINT NOT NULL,
    person_id    TEXT NOT NULL,
    bound_ms     BIGINT NOT NULL,
    PRIMARY KEY (document_id, client_id)
);
