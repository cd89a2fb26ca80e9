-- An admin's urgent message goes through quiet hours, its mails too
-- (docs/protocol.md, "Notifications"). Every other mail's next attempt (a
-- retry, a per-minute deferral) that falls in the school's quiet hours waits
-- for the delivery window to open; an urgent one's job says so here, so its
-- retries go through them as its first attempt did. (A push job's urgency
-- says it already: push_jobs.urgency.)
ALTER TABLE email_jobs ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
