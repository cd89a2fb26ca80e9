-- Web Push (docs/protocol.md, "Notifications"; docs/operations.md, "Web Push").
-- The deployment's VAPID key pair, generated once by the first node that
-- needs it (unless the operator sets PREAU_VAPID_PRIVATE_KEY): every node
-- signs with the same key, so a browser's subscription works on all of them.
CREATE TABLE deployment_keys (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

-- A person's devices: one row per browser subscription (its push service's
-- endpoint and the keys to encrypt for it, RFC 8291). The endpoint is one
-- device's: subscribing it again (another person on the same browser) moves
-- it. Removed by its owner, or when the push service answers 404/410.
-- Exported and erased with the person (server/store/privacy.py).
CREATE TABLE push_subscriptions (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people (id),
    school_id   TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    p256dh      TEXT NOT NULL,
    auth        TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    created_ms  BIGINT NOT NULL,
    last_ok_ms  BIGINT
);
CREATE UNIQUE INDEX push_subscriptions_endpoint ON push_subscriptions (endpoint);
CREATE INDEX push_subscriptions_person ON push_subscriptions (person_id);

-- A push to send: one per (notification, device), claimed by one node at a
-- time (a lease, as e-mail jobs), retried with back-off on 429/5xx, given up
-- ('gone') when the subscription expired (404/410). A withdrawn
-- notification's pending pushes go with it.
CREATE TABLE push_jobs (
    id               TEXT PRIMARY KEY,
    notification_id  TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    person_id        TEXT NOT NULL,
    school_id        TEXT NOT NULL,
    urgency          TEXT NOT NULL CHECK (urgency IN ('very-low', 'low', 'normal', 'high')),
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'gone', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_ms          BIGINT NOT NULL,
    holder           TEXT,
    lease_until_ms   BIGINT,
    last_error       TEXT,
    created_ms       BIGINT NOT NULL,
    done_ms          BIGINT
);
CREATE INDEX push_jobs_due ON push_jobs (status, next_ms);
CREATE INDEX push_jobs_notification ON push_jobs (notification_id);
CREATE INDEX push_jobs_person ON push_jobs (person_id);
CREATE INDEX push_jobs_subscription ON push_jobs (subscription_id);
