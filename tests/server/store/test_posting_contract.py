"""The one-statement post (``Store.post_plain``), on SQLite and on PostgreSQL.

It commits only what the general path would post as is, and leaves everything
else untouched for it: the moderation, scheduling and reports contracts run
every post through both (``Room.post``); these tests call it directly.
"""

from __future__ import annotations

import asyncio

from preau.server.errors import ErrorCode
from preau.server.moderation.rules import Premoderation, RoomMode
from preau.server.moderation.wordfilter import WordLists
from preau.server.store import AuditAction, Message, Store
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


def _message(room: Room, sender: str, txn: str, body: str = "bonjour") -> Message:
    return Message(room.id, 0, f"m-{txn}", sender, txn, body, NOW)


def _passes(lists: WordLists) -> bool:
    return True


async def _plain(room: Room, txn: str, store: Store | None = None, body: str = "bonjour",
                 moderator: bool = False) -> int | None:
    author = room.claire if moderator else room.lea
    return await (store or room.store).post_plain(
        _message(room, author.id, txn, body), room.school, author.profile, moderator, _passes)


async def test_a_plain_post_takes_the_next_seq_like_any_post(room: Room) -> None:
    assert await _plain(room, "a") == 1
    assert (await room.post(room.hugo, "b", plain=False)).message.seq == 2  # type: ignore[union-attr]
    assert await _plain(room, "c", moderator=True) == 3
    [first, _, third] = await room.store.messages_after(room.id, 0, 10)
    assert (first.seq, first.id, first.sender_id, first.txn, first.body, first.created_ms) == (
        1, "m-a", room.lea.id, "a", "bonjour", NOW)
    assert third.sender_id == room.claire.id


async def test_what_is_not_plain_is_left_untouched(room: Room) -> None:
    assert await _plain(room, "a") == 1
    assert await _plain(room, "a") is None  # the txn is known: the general path answers
    await room.policy(premoderation=Premoderation.PUPILS)
    assert await _plain(room, "b") is None
    await room.policy(premoderation=Premoderation.OFF, slow_mode_s=30)
    assert await _plain(room, "c") is None
    await room.policy(slow_mode_s=0, mode=RoomMode.ANNOUNCEMENT)
    assert await _plain(room, "d") is None
    assert await _plain(room, "d", moderator=True) is None  # a mode: the general path
    await room.policy(mode=RoomMode.OPEN, quiet_hours="off")
    assert await _plain(room, "e") is None  # a room's own quiet hours: decided in Python
    await room.policy(quiet_hours="school")
    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_MUTE, NOW + 60_000, None, NOW)
    assert await _plain(room, "f") is None
    assert await _plain(room, "f", moderator=True) == 2  # nobody mutes a moderator
    assert await room.store.post_plain(
        _message(room, room.lea.id, "g"), "another-school", room.lea.profile, False,
        _passes) is None
    assert await room.store.post_plain(
        _message(room, room.lea.id, "h"), room.school, room.lea.profile, False,
        lambda lists: False) is None  # the word filter matched: decided in Python
    assert await room.store.room_head(room.id) == 2  # nothing else consumed a seq


async def test_word_lists_changed_on_another_node_are_seen(
    room: Room, other_node: Store
) -> None:
    # This node matched bodies against the default lists, and remembers them...
    assert (await room.post(room.lea, "a", body="pommes")).created
    await other_node.set_word_lists(room.school, WordLists(block=("pommes",)),
                                    room.anne.id, NOW)
    # ...but the post's transaction compares them with the lists now in force.
    refused = await room.post(room.lea, "b", body="des pommes")
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.FILTERED
    assert (await room.post(room.lea, "c", body="des poires")).created
    # One school's own lists replaced by others (their digests differ too).
    await other_node.set_word_lists(room.school, WordLists(block=("poires",)),
                                    room.anne.id, NOW + 1)
    assert (await room.post(room.lea, "d", body="des poires")).refusal is not None
    assert (await room.post(room.lea, "e", body="des pommes")).created
    assert await room.store.room_head(room.id) == 3


async def test_a_retried_txn_gets_its_first_message(room: Room) -> None:
    first = await room.post(room.lea, "a")
    again = await room.post(room.lea, "a")
    assert first.created
    assert not again.created
    assert again.message == first.message
    assert await room.store.room_head(room.id) == 1


async def test_concurrent_posts_each_commit_or_fall_back_as_alone(
    room: Room, other_node: Store
) -> None:
    # On PostgreSQL the posts waiting while a call is in flight go together
    # (GroupCommit, migration 0100): each is still committed, or left to the
    # general path, exactly as if posted alone, and no seq is lost.
    await room.store.moderate_member(room.id, room.claire.id, room.hugo.id,
                                     AuditAction.MEMBER_MUTE, NOW + 60_000, None, NOW)
    lea, hugo = room.lea, room.hugo

    async def post(store: Store, author_id: str, txn: str) -> int | None:
        return await store.post_plain(_message(room, author_id, txn), room.school,
                                      lea.profile, False, _passes)

    results = await asyncio.gather(
        *(post(room.store if i % 3 else other_node, lea.id, f"t{i}") for i in range(30)),
        post(room.store, hugo.id, "muted"),  # muted: the general path answers
        post(room.store, lea.id, "t1"),  # a txn posted in the same burst: one wins
    )
    seqs = [s for s in results[:30] if s is not None]
    assert results[30] is None
    assert sorted(seqs + [s for s in results[31:] if s is not None]) == list(range(1, 31))
    assert await room.store.room_head(room.id) == 30
    posted = await room.store.messages_after(room.id, 0, 100)
    assert sorted(m.txn for m in posted) == sorted(f"t{i}" for i in range(30))
    assert all(m.sender_id == lea.id for m in posted)
    group = room.store.group_commit  # type: ignore[attr-defined]
    if group.posts:  # PostgreSQL: the first went alone, most others together
        assert group.posts == 22
        assert group.batches < 10


async def test_each_check_of_the_post_sends_it_to_the_general_path(room: Room) -> None:
    """Each refusal the one-statement post makes in its transaction, alone:
    a suspended profile, a paused sender, a removed member; none consumes a
    seq, and each lifted lets the next post through."""
    await room.store.set_messaging_suspension(room.school, [room.lea.profile], True,
                                              room.anne.id, None, NOW)
    assert await _plain(room, "a") is None
    assert await _plain(room, "a", moderator=True) == 1  # teachers are not suspended
    await room.store.set_messaging_suspension(room.school, [room.lea.profile], False,
                                              room.anne.id, None, NOW)
    assert await _plain(room, "b") == 2
    assert await room.store.pause_account(room.lea.id, room.school, "burst", {}, NOW)
    assert await _plain(room, "c") is None
    assert await room.store.resume_account(room.lea.id, room.school, room.anne.id, None, NOW)
    assert await _plain(room, "c") == 3
    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_REMOVE, None, None, NOW)
    assert await _plain(room, "d") is None
    assert await room.store.room_head(room.id) == 3


async def test_the_outbox_holds_what_may_notify_and_only_that(room: Room) -> None:
    """A class room's plain message leaves no outbox row; a mention does, and
    so does any message of a private conversation (migration 0110)."""
    assert await _plain(room, "a") == 1
    assert await _plain(room, "b", body="bonjour @Hugo") == 2
    private, _ = await room.store.open_conversation(
        room.school, frozenset({room.claire.id, room.lea.id}), "Léa", None, NOW,
        opener_id=room.claire.id)
    seq = await room.store.post_plain(
        Message(private.id, 0, "m-p", room.claire.id, "p", "bonjour", NOW), room.school,
        room.claire.profile, True, _passes)
    assert seq == 1
    claimed = await room.store.claim_outbox("node", NOW, 60_000, 10)
    assert sorted((item.room_id, item.seq) for item in claimed) == sorted(
        [(room.id, 2), (private.id, 1)])
