"""The Store's moderation contract, on SQLite and on PostgreSQL.

Policy and member state are checked inside the transaction that posts, so
what one store connection (one node) commits, another one enforces on its
next call: several tests use two stores on one database for that.
"""

from __future__ import annotations

import asyncio

import pytest

from preau.server.chat.posting import post_message
from preau.server.errors import ErrorCode
from preau.server.moderation.rules import (
    MemberState,
    PolicyChange,
    Premoderation,
    RoomMode,
    RoomPolicy,
)
from preau.server.store import AuditAction, AuditQuery, HeldStatus, MessageKind, Store
from tests.server.store.contract import NOW, Room, audit, other_node, room

__all__ = ["other_node", "room"]  # fixtures


# -- policy ------------------------------------------------------------------


async def test_default_policy_and_state(room: Room) -> None:
    policy, state = await room.store.room_state(room.id, room.lea.id)
    assert policy == RoomPolicy(RoomMode.OPEN, Premoderation.OFF, 0, 3600)
    assert state == MemberState()
    with pytest.raises(LookupError):
        await room.store.room_state("no-such-room", room.lea.id)


async def test_policy_changes_are_audited_once(room: Room) -> None:
    policy, changed = await room.store.set_room_policy(
        room.id, room.claire.id, PolicyChange(mode=RoomMode.ANNOUNCEMENT, slow_mode_s=30),
        "exam week", NOW,
    )
    assert changed
    assert (policy.mode, policy.slow_mode_s, policy.premoderation) == (
        RoomMode.ANNOUNCEMENT, 30, Premoderation.OFF)
    assert (await room.store.room_state(room.id, room.lea.id))[0] == policy
    same, changed = await room.store.set_room_policy(
        room.id, room.claire.id, PolicyChange(mode=RoomMode.ANNOUNCEMENT), None, NOW + 1)
    assert (same, changed) == (policy, False)
    [entry] = await room.store.audit_entries(room.school, AuditQuery())
    assert entry.action is AuditAction.POLICY_CHANGE
    assert (entry.actor_id, entry.room_id, entry.reason) == (room.claire.id, room.id, "exam week")
    assert entry.details == {"mode": {"from": "open", "to": "announcement"},
                             "slow_mode_s": {"from": 0, "to": 30}}
    with pytest.raises(LookupError):
        await room.store.set_room_policy("nope", room.claire.id, PolicyChange(), None, NOW)


# -- posting -----------------------------------------------------------------


async def test_an_open_room_posts_like_append_message(room: Room) -> None:
    first = await room.post(room.lea, "t1")
    assert first.created
    assert first.message is not None
    assert first.held is None
    assert (first.message.seq, first.message.body) == (1, "body of t1")
    again = await room.post(room.lea, "t1", body="changed")
    assert (again.created, again.message) == (False, first.message)
    assert (await room.post(room.claire, "t1")).message.seq == 2  # type: ignore[union-attr]
    assert await room.store.room_head(room.id) == 2
    with pytest.raises(LookupError):
        await post_message(room.store, "nope", room.lea, "t", "b", "m", "h", NOW)


async def test_modes(room: Room) -> None:
    await room.policy(mode=RoomMode.ANNOUNCEMENT)
    refused = await room.post(room.lea, "a1")
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.FORBIDDEN
    assert (await room.post(room.claire, "a2")).created
    await room.policy(mode=RoomMode.READ_ONLY)
    for author in (room.lea, room.claire, room.anne):
        result = await room.post(author, "r1")
        assert result.refusal is not None
        assert result.refusal.code is ErrorCode.FORBIDDEN
    # Refusals allocate nothing: the only message is Claire's.
    assert await room.store.room_head(room.id) == 1


async def test_premoderation_holds_pupils_only(room: Room) -> None:
    await room.policy(premoderation=Premoderation.PUPILS)
    held = await room.post(room.lea, "h1", at=NOW + 5)
    assert held.created
    assert held.message is None
    assert held.held is not None
    assert (held.held.status, held.held.body, held.held.created_ms) == (
        HeldStatus.PENDING, "body of h1", NOW + 5)
    assert await room.store.room_head(room.id) == 0  # no seq for a held message
    again = await room.post(room.lea, "h1")
    assert (again.created, again.held) == (False, held.held)
    assert (await room.post(room.claire, "c1")).message.seq == 1  # type: ignore[union-attr]
    assert [h.id for h in await room.store.held_messages(room.id)] == [held.held.id]
    assert await room.store.held_messages(room.id, sender_id=room.hugo.id) == []


async def test_approval_posts_with_the_next_seq_and_the_authors_txn(room: Room) -> None:
    await room.policy(premoderation=Premoderation.EVERYONE)
    held = (await room.post(room.lea, "h1")).held
    assert held is not None
    await room.post(room.claire, "c1")
    decided = await room.store.decide_held(room.id, held.id, room.claire.id, True, None, "m-ok",
                                           NOW + 10)
    assert decided.changed
    assert decided.message is not None
    assert (decided.message.seq, decided.message.txn, decided.message.sender_id,
            decided.message.body, decided.message.id) == (2, "h1", room.lea.id, "body of h1",
                                                          "m-ok")
    assert (decided.held.status, decided.held.seq, decided.held.decided_by) == (
        HeldStatus.APPROVED, 2, room.claire.id)
    assert [m.seq for m in await room.store.messages_after(room.id, 0, 10)] == [1, 2]
    # Deciding again changes nothing; a retry of the author's txn is the posted message.
    again = await room.store.decide_held(room.id, held.id, room.anne.id, False, "no", "m-x",
                                         NOW + 11)
    assert (again.changed, again.held.status, again.message) == (
        False, HeldStatus.APPROVED, decided.message)
    retry = await room.post(room.lea, "h1")
    assert (retry.created, retry.message) == (False, decided.message)
    assert await room.store.held_messages(room.id) == []
    assert await audit(room, action=AuditAction.HELD_APPROVE) == [("held.approve", room.lea.id)]


async def test_rejection_keeps_the_text_for_the_audit_only(room: Room) -> None:
    await room.policy(premoderation=Premoderation.PUPILS)
    held = (await room.post(room.lea, "h1", body="gros mot")).held
    assert held is not None
    decided = await room.store.decide_held(room.id, held.id, room.claire.id, False, "langage",
                                           "m-x", NOW + 1)
    assert (decided.changed, decided.message, decided.held.status, decided.held.reason) == (
        True, None, HeldStatus.REJECTED, "langage")
    assert await room.store.room_head(room.id) == 0
    assert await room.store.messages_after(room.id, 0, 10) == []
    mine = await room.store.held_messages(
        room.id, sender_id=room.lea.id, statuses=(HeldStatus.PENDING, HeldStatus.REJECTED))
    assert [(h.id, h.status) for h in mine] == [(held.id, HeldStatus.REJECTED)]
    [entry] = await room.store.audit_entries(room.school,
                                             AuditQuery(action=AuditAction.HELD_REJECT))
    assert (entry.action, entry.content, entry.reason, entry.target_held_id) == (
        AuditAction.HELD_REJECT, "gros mot", "langage", held.id)
    # A retry of the rejected txn is told so, and is not held again.
    retry = await room.post(room.lea, "h1")
    assert (retry.created, retry.held) == (False, decided.held)
    with pytest.raises(LookupError):
        await room.store.decide_held(room.id, "no-such", room.claire.id, True, None, "m", NOW)


async def test_an_author_s_list_ends_with_their_latest(room: Room) -> None:
    """A moderator's queue is the oldest first come; an author's own list is
    the newest, so a rejection shows however many came before it."""
    await room.policy(premoderation=Premoderation.PUPILS)
    ids = []
    for i in range(5):
        held = (await room.post(room.lea, f"h{i}", at=NOW + i)).held
        assert held is not None
        ids.append(held.id)
    await room.store.decide_held(room.id, ids[4], room.claire.id, False, "non", "m-x", NOW + 10)
    oldest = await room.store.held_messages(room.id, limit=2)
    assert [h.id for h in oldest] == ids[:2]
    latest = await room.store.held_messages(
        room.id, sender_id=room.lea.id, statuses=(HeldStatus.PENDING, HeldStatus.REJECTED),
        limit=2, newest=True)
    assert [(h.id, h.status) for h in latest] == [
        (ids[3], HeldStatus.PENDING), (ids[4], HeldStatus.REJECTED)]


async def test_one_held_message_is_read_by_its_id(room: Room) -> None:
    """However long the queue: the check before an approval reads the one."""
    await room.policy(premoderation=Premoderation.PUPILS)
    first = (await room.post(room.lea, "h1")).held
    second = (await room.post(room.hugo, "h2", body="autre")).held
    assert first is not None
    assert second is not None
    assert await room.store.held_message(room.id, second.id) == second
    await room.store.decide_held(room.id, first.id, room.claire.id, False, "non", "m-x", NOW + 1)
    rejected = await room.store.held_message(room.id, first.id)
    assert rejected is not None
    assert (rejected.id, rejected.status, rejected.sender_id) == (
        first.id, HeldStatus.REJECTED, room.lea.id)
    assert await room.store.held_message(room.id, "no-such") is None
    # Only in its own room.
    assert await room.store.held_message("r-other", second.id) is None


async def test_racing_decisions_have_one_winner(room: Room, other_node: Store) -> None:
    await room.policy(premoderation=Premoderation.PUPILS)
    held = (await room.post(room.lea, "h1")).held
    assert held is not None
    results = await asyncio.gather(*(
        (room.store if i % 2 else other_node).decide_held(
            room.id, held.id, room.claire.id, i % 3 == 0, None, f"m{i}", NOW + i)
        for i in range(6)
    ))
    assert sum(r.changed for r in results) == 1
    assert len(await room.store.audit_entries(room.school, AuditQuery())) == 2  # + the policy
    assert await room.store.room_head(room.id) in (0, 1)


# -- member state --------------------------------------------------------------


async def test_a_mute_set_on_one_node_holds_on_the_other(room: Room, other_node: Store) -> None:
    change = await other_node.moderate_member(
        room.id, room.claire.id, room.lea.id, AuditAction.MEMBER_MUTE, NOW + 60_000, "calme",
        NOW)
    assert change.changed
    assert change.state.muted_until_ms == NOW + 60_000
    refused = await room.post(room.lea, "t1", at=NOW + 1000)
    assert refused.refusal is not None
    assert (refused.refusal.code, refused.refusal.until_ms) == (ErrorCode.MUTED, NOW + 60_000)
    assert (await room.post(room.hugo, "t2", at=NOW + 1000)).created
    # The mute ends by itself...
    assert (await room.post(room.lea, "t3", at=NOW + 60_000)).created
    # ...or earlier, lifted.
    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_MUTE, NOW + 120_000, None, NOW + 1)
    unmuted = await other_node.moderate_member(room.id, room.claire.id, room.lea.id,
                                               AuditAction.MEMBER_UNMUTE, None, None, NOW + 2)
    assert unmuted.changed
    assert unmuted.state.muted_until_ms is None
    assert (await room.post(room.lea, "t4", at=NOW + 61_000)).created
    again = await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                             AuditAction.MEMBER_UNMUTE, None, None, NOW + 3)
    assert not again.changed  # not audited
    assert await audit(room) == [("member.unmute", room.lea.id), ("member.mute", room.lea.id),
                                 ("member.mute", room.lea.id)]
    [first_mute] = (await room.store.audit_entries(room.school, AuditQuery()))[2:]
    assert (first_mute.details, first_mute.reason, first_mute.content) == (
        {"until": NOW + 60_000}, "calme", None)


async def test_a_retry_after_a_mute_returns_the_first_result(room: Room) -> None:
    posted = await room.post(room.lea, "t1")
    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_MUTE, NOW + 60_000, None, NOW)
    retry = await room.post(room.lea, "t1", at=NOW + 1)
    assert (retry.created, retry.message, retry.refusal) == (False, posted.message, None)


async def test_removal_and_readmission(room: Room, other_node: Store) -> None:
    await room.store.moderate_member(room.id, room.anne.id, room.hugo.id,
                                     AuditAction.MEMBER_REMOVE, None, "exclu", NOW)
    assert (await other_node.room_state(room.id, room.hugo.id))[1].removed
    refused = await post_message(other_node, room.id, room.hugo, "t", "b", "m", "h", NOW)
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.NOT_FOUND  # as if the room did not exist
    assert await other_node.removed_members([room.id, "other"]) == {(room.id, room.hugo.id)}
    assert await other_node.removed_members([]) == set()
    assert set(await room.store.member_states(room.id)) == {room.hugo.id}
    await other_node.moderate_member(room.id, room.anne.id, room.hugo.id,
                                     AuditAction.MEMBER_READMIT, None, None, NOW + 1)
    assert await room.store.removed_members([room.id]) == set()
    assert (await room.post(room.hugo, "t")).created
    assert await audit(room) == [("member.readmit", room.hugo.id),
                                 ("member.remove", room.hugo.id)]
    with pytest.raises(LookupError):
        await room.store.moderate_member("nope", room.anne.id, room.hugo.id,
                                         AuditAction.MEMBER_REMOVE, None, None, NOW)
    with pytest.raises(ValueError, match="not an action"):
        await room.store.moderate_member(room.id, room.anne.id, room.hugo.id,
                                         AuditAction.HELD_APPROVE, None, None, NOW)


async def test_slow_mode_per_member(room: Room) -> None:
    await room.policy(slow_mode_s=10)
    assert (await room.post(room.lea, "t1", at=NOW)).created
    refused = await room.post(room.lea, "t2", at=NOW + 4000)
    assert refused.refusal is not None
    assert (refused.refusal.code, refused.refusal.retry_after_s) == (ErrorCode.RATE_LIMITED, 6.0)
    assert (await room.post(room.hugo, "t3", at=NOW + 4000)).created  # each member on their own
    assert (await room.post(room.claire, "c1", at=NOW + 4000)).created  # moderators unslowed
    assert (await room.post(room.claire, "c2", at=NOW + 4001)).created
    assert (await room.post(room.lea, "t2", at=NOW + 10_000)).created
    # Held messages count too.
    await room.policy(premoderation=Premoderation.PUPILS)
    assert (await room.post(room.hugo, "t4", at=NOW + 20_000)).held is not None
    assert (await room.post(room.hugo, "t5", at=NOW + 21_000)).refusal is not None


async def test_slow_mode_holds_across_racing_nodes(room: Room, other_node: Store) -> None:
    await room.policy(slow_mode_s=60)
    results = await asyncio.gather(*(
        post_message(
            room.store if i % 2 else other_node,
            room.id, room.lea, f"t{i}", "b", f"m{i}", f"h{i}", NOW + i,
            school_id=room.school)
        for i in range(8)
    ))
    assert sum(r.created for r in results) == 1
    assert await room.store.room_head(room.id) == 1


# -- redaction -----------------------------------------------------------------


async def test_a_moderator_deletes_any_message(room: Room) -> None:
    posted = (await room.post(room.lea, "t1", body="secret")).message
    assert posted is not None
    result = await room.store.redact_message(room.id, 1, room.claire.id, True, "hors sujet",
                                             "r-1", NOW + 10)
    assert result.created
    assert result.event is not None
    event = result.event
    assert (event.seq, event.kind, event.redacts, event.sender_id, event.reason, event.id) == (
        2, MessageKind.REDACTION, 1, room.claire.id, "hors sujet", "r-1")
    timeline = await room.store.messages_after(room.id, 0, 10)
    assert timeline[1] == event
    tombstone = timeline[0]
    assert (tombstone.seq, tombstone.redacted, tombstone.body, tombstone.sender_id) == (
        1, True, "", room.lea.id)
    assert await room.store.messages_before(room.id, 3, 10) == timeline
    # Idempotent: a second redaction (by anyone) returns the first.
    again = await room.store.redact_message(room.id, 1, room.anne.id, True, None, "r-2",
                                            NOW + 11)
    assert (again.created, again.event) == (False, event)
    assert await room.store.room_head(room.id) == 2
    # The original is readable through the audit log only.
    [entry] = await room.store.audit_entries(room.school, AuditQuery())
    assert (entry.action, entry.target_seq, entry.target_person_id, entry.content) == (
        AuditAction.MESSAGE_DELETE, 1, room.lea.id, "secret")
    # A retry of the redacted message's txn is still a duplicate, not a new post.
    retry = await room.post(room.lea, "t1")
    assert retry.created is False
    assert retry.message is not None
    assert retry.message.redacted


async def test_unknown_targets(room: Room) -> None:
    await room.post(room.lea, "t1")
    await room.store.redact_message(room.id, 1, room.claire.id, True, None, "r-1", NOW)
    for seq in (0, 3, 99, 2):  # 2 is the redaction itself
        result = await room.store.redact_message(room.id, seq, room.claire.id, True, None,
                                                 "r-x", NOW)
        assert result.refusal is not None
        assert result.refusal.code is ErrorCode.NOT_FOUND
    assert await room.store.room_head(room.id) == 2
    with pytest.raises(LookupError):
        await room.store.redact_message("nope", 1, room.claire.id, True, None, "r", NOW)


async def test_authors_recall_within_the_window(room: Room) -> None:
    await room.post(room.lea, "t1", at=NOW)
    await room.post(room.hugo, "t2", at=NOW)
    others = await room.store.redact_message(room.id, 2, room.lea.id, False, None, "r1", NOW)
    assert others.refusal is not None
    assert others.refusal.code is ErrorCode.FORBIDDEN
    recalled = await room.store.redact_message(room.id, 1, room.lea.id, False, None, "r2",
                                               NOW + 3600_000)
    assert recalled.created
    late = await room.store.redact_message(room.id, 2, room.hugo.id, False, None, "r3",
                                           NOW + 3600_001)
    assert late.refusal is not None
    assert "too late" in late.refusal.message
    # The window is the room's policy.
    await room.policy(recall_window_s=7200)
    assert (await room.store.redact_message(room.id, 2, room.hugo.id, False, None, "r4",
                                            NOW + 3600_001)).created
    assert [a for a, _ in await audit(room)] == [  # newest (last committed) first
        "message.recall", "policy.change", "message.recall"]


async def test_removed_members_cannot_recall(room: Room) -> None:
    await room.post(room.lea, "t1")
    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_REMOVE, None, None, NOW)
    result = await room.store.redact_message(room.id, 1, room.lea.id, False, None, "r", NOW)
    assert result.refusal is not None
    assert result.refusal.code is ErrorCode.FORBIDDEN


async def test_concurrent_redactions_and_posts_stay_gapless(
    room: Room, other_node: Store
) -> None:
    for i in range(10):
        await room.post(room.lea, f"t{i}")
    tasks = []
    for i in range(10):
        store = room.store if i % 2 else other_node
        tasks.append(store.redact_message(room.id, 1 + i // 2, room.claire.id, True, None,
                                          f"r{i}", NOW))
        tasks.append(post_message(store, room.id, room.hugo, f"p{i}", "b", f"mp{i}", f"hp{i}",
                                  NOW, school_id=room.school))
    await asyncio.gather(*tasks)
    timeline = await room.store.messages_after(room.id, 0, 100)
    assert [m.seq for m in timeline] == list(range(1, 26))  # 10 + 5 redactions + 10 posts
    redactions = [m for m in timeline if m.kind is MessageKind.REDACTION]
    assert sorted(m.redacts for m in redactions) == [1, 2, 3, 4, 5]  # type: ignore[type-var]
    assert [m.seq for m in timeline if m.redacted] == [1, 2, 3, 4, 5]
