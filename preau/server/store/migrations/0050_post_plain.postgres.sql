-- The common post in one round trip (issue 14): PostgreSQL only (SQLite runs
-- the same checks as statements of one in-process transaction:
-- preau/server/store/posting.py, PostingSql.post_plain).
--
-- A post is "plain" when nothing but the insert can follow from it: messaging
-- not suspended for the sender's profile, the sender not paused, the room in
-- the given school, open (mode open, no pre-moderation, no slow mode, the
-- school's quiet hours, which the caller found outside their window), not
-- closed; a member neither removed nor muted; the school's word lists the very
-- ones the caller matched the body against (their fingerprint: md5 of the
-- rows, NULL for the defaults) and the txn new. Then the room's next seq is
-- taken under its row lock and the message inserted: the seq is returned.
-- Otherwise nothing is left changed and NULL is returned: the caller then runs
-- the general path (preau/server/chat/posting.py), which decides and answers.
--
-- Under READ COMMITTED each statement of a function takes a fresh snapshot:
-- the member's state and the lists are read after the room's row lock is
-- taken, as the general path reads them, so a mute committed by a concurrent
-- transaction holds at the next post.
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
    RETURN v_seq;
END
$$
