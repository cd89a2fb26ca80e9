-- "Remember this device" sessions (issue 19): longer idle timeout and
-- lifetime, for the profiles the deployment allows; the device they were
-- opened on, as the person sees it in their list of sessions.
ALTER TABLE sessions ADD COLUMN remember INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
