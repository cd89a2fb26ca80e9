-- Single sign-on (issue 19, docs/operations.md "Single sign-on").
--
-- A login started at one node may come back to another: what the callback
-- checks (state, nonce, PKCE verifier) is kept here, keyed by the state's
-- SHA-256, and taken once (DELETE … RETURNING): a replayed state finds nothing.
CREATE TABLE sso_pending (
    state_hash  TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    remember    INTEGER NOT NULL DEFAULT 0 CHECK (remember IN (0, 1)),
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX sso_pending_expires ON sso_pending (expires_ms);

-- Which identity provider session opened a Préau session, so that single
-- logout (OIDC front- or back-channel, CAS SLO) finds the sessions to end.
-- ``sid``: the OIDC session id, or the CAS service ticket. Kept as long as
-- the session itself (deleted with it when it expires).
CREATE TABLE sso_sessions (
    token_hash  TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    sid         TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX sso_sessions_sid ON sso_sessions (provider, sid);
CREATE INDEX sso_sessions_subject ON sso_sessions (provider, subject);
CREATE INDEX sso_sessions_expires ON sso_sessions (expires_ms);

-- Back-channel logout tokens already used (their jti), until they expire.
CREATE TABLE sso_logout_tokens (
    jti_hash    TEXT PRIMARY KEY,
    expires_ms  BIGINT NOT NULL
);
