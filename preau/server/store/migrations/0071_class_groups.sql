-- Pupils in several groups (issue 19): a "class" row is either a division
-- (kind 'class': a pupil is in exactly one) or a group (kind 'group':
-- options, languages, half-classes; a pupil in any number). Both have a
-- room and the same communication rules; membership is class_members for
-- both.
ALTER TABLE classes ADD COLUMN kind TEXT NOT NULL DEFAULT 'class';
