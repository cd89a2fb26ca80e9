-- A report shows its moderators the reported message and the context its
-- reporter could see when reporting, never what was posted after
-- (docs/moderation.md, "Reports"): ``context_to`` is the room's last seq in
-- the report's transaction, and every read of the context stops there.
-- Reports made before this migration are bounded by the reported message
-- itself (what they saw after it is unknown).

ALTER TABLE reports ADD COLUMN context_to BIGINT;
UPDATE reports SET context_to = seq;
