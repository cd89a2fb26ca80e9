-- The kinds of attachments a school accepts (docs/attachments.md): a
-- comma-separated subset of document, image, audio, video, within what the
-- deployment accepts (PREAU_ATTACHMENT_KINDS); NULL: the deployment's.
ALTER TABLE schools ADD COLUMN attachment_kinds TEXT;
