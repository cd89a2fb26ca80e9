-- Notification e-mails (docs/operations.md, "E-mail"): a person's address
-- from the directory import's optional ``courriel`` column, marked bouncing
-- when the relay refuses it for good (5xx); and the mails to send, one job
-- per notification sent by e-mail, claimed by one node at a time (a lease,
-- as the retention job), retried with back-off on transient (4xx) errors.
-- A withdrawn notification's pending job goes with it. Exported and erased
-- with the person (server/store/privacy.py).
CREATE TABLE person_emails (
    person_id    TEXT PRIMARY KEY REFERENCES people (id),
    school_id    TEXT NOT NULL,
    email        TEXT NOT NULL,
    bouncing_ms  BIGINT,
    updated_ms   BIGINT NOT NULL
);
CREATE INDEX person_emails_school ON person_emails (school_id);

CREATE TABLE email_jobs (
    id               TEXT PRIMARY KEY,
    notification_id  TEXT NOT NULL,
    person_id        TEXT NOT NULL,
    school_id        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'bounced', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_ms          BIGINT NOT NULL,
    holder           TEXT,
    lease_until_ms   BIGINT,
    unsubscribe_token TEXT NOT NULL,  -- in the mail's link: sets the kind to in_app, nothing else
    last_error       TEXT,
    created_ms       BIGINT NOT NULL,
    done_ms          BIGINT
);
CREATE INDEX email_jobs_due ON email_jobs (status, next_ms);
CREATE INDEX email_jobs_notification ON email_jobs (notification_id);
CREATE INDEX email_jobs_person ON email_jobs (person_id);
CREATE UNIQUE INDEX email_jobs_unsubscribe ON email_jobs (unsubscribe_token);
