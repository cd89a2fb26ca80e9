-- Refused edits (docs/collab.md, "Refused edits"): the Yjs client ids whose
-- changes a document refused (a lock, a read-only connection, a change too
-- large), with the first clock refused. Every node refuses their structs from
-- that clock on, so a client reconnecting to any node with a refused change
-- still in its copy is refused, never merged. A Yjs client id is a random
-- number a browser tab draws for one copy of the document: no person here.
CREATE TABLE document_refused_clients (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    client_id    BIGINT NOT NULL,
    from_clock   BIGINT NOT NULL,
    refused_ms   BIGINT NOT NULL,
    PRIMARY KEY (document_id, client_id)
);
