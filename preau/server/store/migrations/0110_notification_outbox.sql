-- The notification outbox (docs/protocol.md, "Notifications"): a row per
-- posted message that may notify someone (a private conversation's, an
-- announcement, a body with « @ »), written in the post's own transaction,
-- so that the sender's acknowledgement does not wait for the fan-out and a
-- crash after the commit loses no notification. The fan-out claims the row
-- (``holder`` until ``lease_until_ms``: one node at a time), and stores the
-- notifications, their e-mail and push jobs and deletes the row in one
-- transaction: each message notifies exactly once. No person's data: room
-- and seq point at the message, which retention and erasure delete (a row
-- whose message is gone is dropped by the fan-out).
CREATE TABLE notification_outbox (
    room_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    urgent          INTEGER NOT NULL DEFAULT 0,
    created_ms      BIGINT NOT NULL,
    holder          TEXT,
    lease_until_ms  BIGINT,
    PRIMARY KEY (room_id, seq)
);
