-- Whether parents see when the school's teachers and staff are online
-- (docs/moderation.md, "The school's settings"): off by default, as ENTs do.
ALTER TABLE schools ADD COLUMN staff_presence_to_parents INTEGER NOT NULL DEFAULT 0
    CHECK (staff_presence_to_parents IN (0, 1));
