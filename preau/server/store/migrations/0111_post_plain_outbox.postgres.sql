-- The common post in one round trip (migration 0050), now writing the
-- notification outbox row in the same transaction (migration 0110): a post
-- that may notify someone (an announcement, a body with « @ », a private
-- conversation's) leaves its fan-out to be done after the sender's
-- acknowledgement, exactly once. Otherwise unchanged.
CREATE OR REPLACE FUNCTION preau_post_plain(
    p_room TEXT, p_school TEXT, p_profile TEXT, p_sender TEXT, p_moderator BOOLEAN,
    p_lists TEXT, p_id TEXT, p_txn TEXT, p_body TEXT, p_now BIGINT, p_ack INTEGER
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_seq BIGINT;
BEGIN
    IF EXISTS (SELECT 1 FROM messaging_suspensions
               WHERE school_id = p_school AND profile = p_profile)
       OR EXISTS (SELECT 1 FROM paused_accounts WHERE person_id = p_sender) THEN
        RETURN NULL;
    END IF;
    UPDATE rooms SET last_seq = last_seq + 1
     WHERE id = p_room AND school_id = p_school AND closed_ms IS NULL AND mode = 'open'
       AND premoderation = 'off' AND slow_mode_s = 0 AND quiet_hours = 'school'
    RETURNING last_seq INTO v_seq;
    IF v_seq IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT p_moderator AND (
        EXISTS (SELECT 1 FROM room_members
                WHERE room_id = p_room AND person_id = p_sender
                  AND (removed <> 0 OR muted_until_ms > p_now))
        OR (SELECT md5(string_agg(action || ':' || words, '|' ORDER BY action))
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
    IF p_ack <> 0 OR strpos(p_body, '@') > 0
       OR EXISTS (SELECT 1 FROM rooms WHERE id = p_room AND kind = 'private') THEN
        INSERT INTO notification_outbox (room_id, seq, urgent, created_ms)
        VALUES (p_room, v_seq, 0, p_now);
    END IF;
    RETURN v_seq;
END
$$
