-- Group commit of the common post (issue 14): the posts a node has waiting
-- while its previous call is in flight go in one round trip and one commit.
-- Each is exactly ``preau_post_plain`` (migration 0050), called in the order
-- given (the node sorts them by room, so that two nodes' batches take the
-- rooms' row locks in one order and never deadlock); its result is the
-- matching element, NULL where that post takes the general path. A post that
-- falls back leaves nothing changed (the function gives its seq back before
-- the next post runs), so the others are committed as if posted alone. Under
-- READ COMMITTED every statement of the called function takes a fresh
-- snapshot, as when it is called by itself.
CREATE OR REPLACE FUNCTION preau_post_plain_many(
    p_rooms TEXT[], p_schools TEXT[], p_profiles TEXT[], p_senders TEXT[],
    p_moderators BOOLEAN[], p_lists TEXT[], p_ids TEXT[], p_txns TEXT[], p_bodies TEXT[],
    p_nows BIGINT[], p_acks INTEGER[]
) RETURNS BIGINT[] LANGUAGE plpgsql AS $$
DECLARE
    v_seqs BIGINT[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_rooms, 1), 0) LOOP
        v_seqs := array_append(v_seqs, preau_post_plain(
            p_rooms[i], p_schools[i], p_profiles[i], p_senders[i], p_moderators[i],
            p_lists[i], p_ids[i], p_txns[i], p_bodies[i], p_nows[i], p_acks[i]));
    END LOOP;
    RETURN v_seqs;
END
$$
