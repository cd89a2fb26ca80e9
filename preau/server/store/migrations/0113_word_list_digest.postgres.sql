-- Each word list's digest, stored with it (issue 14). The common post
-- (migration 0112) checked that the school's lists were still those its body
-- was matched against by hashing all three lists in every post: md5 over
-- up to 3 x 500 entries, about 45 µs of PostgreSQL's CPU per post with 900
-- (docs/benchmarks.md). The digest is computed when a list is written, and
-- the post compares the three digests. Otherwise the function is 0112's:
-- same checks, same order.
ALTER TABLE word_filters
    ADD COLUMN digest TEXT GENERATED ALWAYS AS (md5(action || ':' || words)) STORED;

CREATE OR REPLACE FUNCTION preau_post_plain(
    p_room TEXT, p_school TEXT, p_profile TEXT, p_sender TEXT, p_moderator BOOLEAN,
    p_lists TEXT, p_id TEXT, p_txn TEXT, p_body TEXT, p_now BIGINT, p_ack INTEGER
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_seq BIGINT;
    v_kind TEXT;
BEGIN
    IF EXISTS (SELECT 1 FROM messaging_suspensions
               WHERE school_id = p_school AND profile = p_profile)
       OR EXISTS (SELECT 1 FROM paused_accounts WHERE person_id = p_sender) THEN
        RETURN NULL;
    END IF;
    UPDATE rooms SET last_seq = last_seq + 1
     WHERE id = p_room AND school_id = p_school AND closed_ms IS NULL AND mode = 'open'
       AND premoderation = 'off' AND slow_mode_s = 0 AND quiet_hours = 'school'
    RETURNING last_seq, kind INTO v_seq, v_kind;
    IF v_seq IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT p_moderator AND (
        EXISTS (SELECT 1 FROM room_members
                WHERE room_id = p_room AND person_id = p_sender
                  AND (removed <> 0 OR muted_until_ms > p_now))
        OR (SELECT string_agg(digest, '|' ORDER BY action)
            FROM word_filters WHERE school_id = p_school) IS DISTINCT FROM p_lists
    ) THEN
        UPDATE rooms SET last_seq = last_seq - 1 WHERE id = p_room;
        RETURN NULL;
    END IF;
    INSERT INTO messages (room_id, seq, id, sender_id, txn, body, created_ms, ack_required)
    VALUES (p_room, v_seq, p_id, p_sender, p_txn, p_body, p_now, p_ack)
    ON CONFLICT (room_id, sender_id, txn) DO NOTHING;
    IF NOT FOUND THEN
        UPDATE rooms SET last_seq = last_seq - 1 WHERE id = p_room;
        RETURN NULL;
    END IF;
    -- The notification outbox, in the post's transaction (migration 0110;
    -- the condition of preau/server/store/rows.py, insert_message).
    IF p_ack <> 0 OR strpos(p_body, '@') > 0 OR v_kind = 'private' THEN
        INSERT INTO notification_outbox (room_id, seq, urgent, created_ms)
        VALUES (p_room, v_seq, 0, p_now);
    END IF;
    RETURN v_seq;
END
$$
