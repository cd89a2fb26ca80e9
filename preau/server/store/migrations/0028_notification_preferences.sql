-- Notification preferences (docs/protocol.md, "Notification preferences"):
-- per person and kind, how they are told (``in_app``, ``email``, ``daily``,
-- ``weekly``, ``never``); a kind without a row follows the profile's default
-- (server/notifications/preferences.py). A school may force a kind on (the
-- person cannot choose ``never``) or off (nobody is told). Exported and
-- erased with the person (server/store/privacy.py).
CREATE TABLE notification_preferences (
    person_id   TEXT NOT NULL REFERENCES people (id),
    kind        TEXT NOT NULL,
    channel     TEXT NOT NULL
        CHECK (channel IN ('in_app', 'email', 'daily', 'weekly', 'never')),
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (person_id, kind)
);

CREATE TABLE school_notification_rules (
    school_id   TEXT NOT NULL REFERENCES schools (id),
    kind        TEXT NOT NULL,
    forced      TEXT NOT NULL CHECK (forced IN ('on', 'off')),
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (school_id, kind)
);
