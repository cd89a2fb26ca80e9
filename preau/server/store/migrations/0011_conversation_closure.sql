-- Conversations follow the directory (docs/conversations.md, "When a
-- relation ends"), and parents reach their children's teachers only.
--
-- A conversation records who opened it (its opening condition: the opener may
-- reach every other person) and, once that no longer holds, when and why it was
-- closed: nobody posts any more. A person who may no longer read its history
-- (they left the school, or may no longer reach a pupil in it) gets
-- ``left_ms``; the others keep it read-only. ``pair_key`` is cleared on
-- closing, so the same two people can open a new one if they may again.

ALTER TABLE rooms ADD COLUMN opener_id TEXT;
ALTER TABLE rooms ADD COLUMN closed_ms BIGINT;
ALTER TABLE rooms ADD COLUMN closed_reason TEXT;
ALTER TABLE room_members_explicit ADD COLUMN left_ms BIGINT;

-- The French default (shared/reference/communication-rules.md): a parent
-- reaches the teachers of their children's classes, not every teacher of the
-- school. Schools whose rules still hold the old school-wide default get the
-- per-class links instead; edited rules are left alone.
INSERT INTO comm_links (school_id, from_group, to_group)
SELECT c.school_id, c.id || '/parent', c.id || '/teacher' FROM classes c
WHERE EXISTS (SELECT 1 FROM comm_links l WHERE l.school_id = c.school_id
              AND l.from_group = c.school_id || '/parent'
              AND l.to_group = c.school_id || '/teacher')
ON CONFLICT DO NOTHING;
INSERT INTO comm_links (school_id, from_group, to_group)
SELECT c.school_id, c.id || '/teacher', c.id || '/parent' FROM classes c
WHERE EXISTS (SELECT 1 FROM comm_links l WHERE l.school_id = c.school_id
              AND l.from_group = c.school_id || '/teacher'
              AND l.to_group = c.school_id || '/parent')
ON CONFLICT DO NOTHING;
DELETE FROM comm_links
WHERE (from_group = school_id || '/parent' AND to_group = school_id || '/teacher')
   OR (from_group = school_id || '/teacher' AND to_group = school_id || '/parent');
