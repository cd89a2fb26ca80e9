"""The Store's reports and oversight contract, on SQLite and on PostgreSQL:
the audit log, the messaging kill switch, the school's word lists (defaults
until replaced), their effect inside the post transaction, and reports
(created once per reporter, resolved once, audited)."""

from __future__ import annotations

import pytest

from preau.server.chat.posting import post_message
from preau.server.directory.model import Profile
from preau.server.errors import ErrorCode
from preau.server.moderation.rules import Premoderation
from preau.server.moderation.wordfilter import DEFAULT_LISTS, FilterAction, WordLists
from preau.server.store import AuditAction, AuditQuery, HeldStatus, ReportStatus, Store
from tests.server.store.contract import (
    NOW,
    Room,
    audit,
    by_external_id,
    class_room,
    import_and_load,
    make_batch,
    other_node,
    pupil,
    room,
    teacher,
)

__all__ = ["other_node", "room"]  # fixtures


# -- audit ---------------------------------------------------------------------


async def test_audit_log_filters_and_pages(room: Room) -> None:
    for i in range(5):
        await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                         AuditAction.MEMBER_MUTE, NOW + 10_000 + i, None, NOW + i)
    await room.store.moderate_member(room.id, room.anne.id, room.hugo.id,
                                     AuditAction.MEMBER_REMOVE, None, None, NOW + 2)
    everything = await room.store.audit_entries(room.school, AuditQuery())
    assert [e.seq for e in everything] == [6, 5, 4, 3, 2, 1]  # commit order, newest first
    assert [e.created_ms for e in everything] == [NOW + 2, NOW + 4, NOW + 3, NOW + 2, NOW + 1,
                                                  NOW]
    pages, before = [], None
    while True:
        page = await room.store.audit_entries(room.school, AuditQuery(limit=4, before=before))
        if not page:
            break
        pages.append(page)
        before = page[-1].seq
    assert [len(p) for p in pages] == [4, 2]
    assert [e for p in pages for e in p] == everything
    assert await audit(room, actor_id=room.anne.id) == [("member.remove", room.hugo.id)]
    assert len(await audit(room, target_person_id=room.lea.id)) == 5
    assert len(await audit(room, room_id=room.id, action=AuditAction.MEMBER_MUTE)) == 5
    assert await audit(room, room_id="other") == []
    assert await room.store.audit_entries("other-school", AuditQuery()) == []
    assert await room.store.audit_entries(room.school, AuditQuery(limit=0)) == []


async def test_purge_forgets_what_is_kept_only_for_the_audit(room: Room) -> None:
    await room.policy(premoderation=Premoderation.PUPILS, at=NOW)
    pending = (await room.post(room.lea, "h1", at=NOW)).held
    rejected = (await room.post(room.hugo, "h2", at=NOW)).held
    assert pending is not None
    assert rejected is not None
    await room.store.decide_held(room.id, rejected.id, room.claire.id, False, None, "m", NOW)
    await room.post(room.claire, "c1", at=NOW)
    await room.store.redact_message(room.id, 1, room.claire.id, True, None, "r", NOW)
    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_REMOVE, None, None, NOW + 100)
    assert await room.store.purge_moderation_records(NOW + 50) == 5  # 3 audit, 1 text, 1 held
    assert await audit(room) == [("member.remove", room.lea.id)]
    assert [h.id for h in await room.store.held_messages(
        room.id, statuses=tuple(HeldStatus))] == [pending.id]
    assert await room.store.purge_moderation_records(NOW + 50) == 0
    # The timeline itself is untouched: the tombstone and the redaction stay.
    assert [m.seq for m in await room.store.messages_after(room.id, 0, 10)] == [1, 2]


async def test_audit_entries_keep_commit_order_within_a_millisecond(
    room: Room, other_node: Store
) -> None:
    actions = [AuditAction.MEMBER_MUTE, AuditAction.MEMBER_UNMUTE] * 5
    for i, action in enumerate(actions):
        await (room.store if i % 2 else other_node).moderate_member(
            room.id, room.claire.id, room.lea.id, action, NOW + 60_000 if i % 2 == 0 else None,
            None, NOW)
    entries = await room.store.audit_entries(room.school, AuditQuery())
    assert [e.action for e in reversed(entries)] == actions
    assert [e.seq for e in reversed(entries)] == list(range(1, 11))
    # Each school counts on its own.
    result, _ = await import_and_load(room.store, make_batch(
        pupil("q1", "Jade", "Leroy", "5B"), teacher("q2", "Paul", "Roy", "5B"), uai="0751234B"))
    view = await room.store.load_school(result.school.id)
    assert view is not None
    ids = by_external_id(view)
    await room.store.moderate_member(class_room(view, "5B"), ids["q2"], ids["q1"],
                                     AuditAction.MEMBER_REMOVE, None, None, NOW)
    [entry] = await room.store.audit_entries(result.school.id, AuditQuery())
    assert entry.seq == 1


# -- the messaging kill switch -------------------------------------------------


async def test_the_kill_switch_suspends_whole_profiles_on_every_node(
    room: Room, other_node: Store
) -> None:
    assert await room.store.messaging_suspensions(room.school) == []
    now = await room.store.set_messaging_suspension(
        room.school, [Profile.PUPIL], True, room.anne.id, "comptes piratés", NOW)
    assert now == [Profile.PUPIL]
    # Set through one store, enforced by the other (another node) at once.
    refused = await post_message(
        other_node, room.id, room.lea, "k1", "x", "m-k1", "h-k1", NOW)
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.SUSPENDED
    assert await room.store.room_head(room.id) == 0  # no seq consumed
    posted = await room.post(room.claire, "k2")  # teachers are not suspended
    assert posted.message is not None
    # Setting it again changes nothing and audits nothing more.
    await room.store.set_messaging_suspension(
        room.school, [Profile.PUPIL], True, room.anne.id, None, NOW)
    assert await audit(room, action=AuditAction.MESSAGING_SUSPEND) == [
        ("messaging.suspend", None)]
    assert await room.store.set_messaging_suspension(
        room.school, [Profile.PUPIL], False, room.anne.id, None, NOW + 1) == []
    assert (await room.post(room.lea, "k3")).message is not None
    assert [a for a, _ in await audit(room)][:2] == ["messaging.resume", "messaging.suspend"]


# -- word filter and reports ------------------------------------------------


LISTS = WordLists(block=("connard",), hold=("kill yourself",), alert=("débile",))


async def test_defaults_until_replaced_then_audited(room: Room, other_node: Store) -> None:
    assert await room.store.word_lists(room.school) == DEFAULT_LISTS
    await room.store.set_word_lists(room.school, LISTS, room.anne.id, NOW)
    assert await other_node.word_lists(room.school) == LISTS
    empty = WordLists()
    await room.store.set_word_lists(room.school, empty, room.anne.id, NOW + 1)
    assert await room.store.word_lists(room.school) == empty  # not the defaults again
    entries = await room.store.audit_entries(
        room.school, AuditQuery(action=AuditAction.WORD_FILTER_CHANGE))
    assert [(e.actor_id, e.details) for e in entries] == [
        (room.anne.id, {"block": 0, "hold": 0, "alert": 0}),
        (room.anne.id, {"block": 1, "hold": 1, "alert": 1}),
    ]


async def test_block_refuses_without_using_a_seq(room: Room, other_node: Store) -> None:
    await other_node.set_word_lists(room.school, LISTS, room.anne.id, NOW)
    refused = await room.post(room.lea, "b1", body="Espèce de CONNARD !")
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.FILTERED
    assert await room.store.room_head(room.id) == 0
    # Whole words only; moderators are never filtered.
    assert (await room.post(room.lea, "b2", body="Connardise")).message is not None
    assert (await room.post(room.claire, "b3", body="connard")).message is not None


async def test_a_retry_of_an_accepted_post_keeps_its_result(room: Room) -> None:
    await room.store.set_word_lists(room.school, WordLists(), room.anne.id, NOW)
    first = await room.post(room.lea, "r1", body="connard")  # no lists: not blocked
    assert first.message is not None
    await room.store.set_word_lists(room.school, LISTS, room.anne.id, NOW)
    again = await room.post(room.lea, "r1", body="connard")
    assert again.message == first.message
    assert not again.created


async def test_hold_queues_whatever_the_premoderation(room: Room) -> None:
    await room.store.set_word_lists(room.school, LISTS, room.anne.id, NOW)
    assert (await room.policy()).premoderation is Premoderation.OFF
    held = await room.post(room.hugo, "h1", body="kill yourself")
    assert held.held is not None
    assert held.created
    assert await room.store.room_head(room.id) == 0
    queue = await room.store.held_messages(room.id, statuses=(HeldStatus.PENDING,))
    assert [h.id for h in queue] == [held.held.id]
    assert (await room.post(room.hugo, "h1", body="kill yourself")).held == held.held


async def test_alert_posts_and_audits(room: Room) -> None:
    await room.store.set_word_lists(room.school, LISTS, room.anne.id, NOW)
    posted = await room.post(room.lea, "a1", body="c'est debile")
    assert posted.message is not None
    assert posted.alert is not None
    assert posted.alert.action is FilterAction.ALERT
    assert posted.alert.words == ("débile",)
    entries = await room.store.audit_entries(
        room.school, AuditQuery(action=AuditAction.WORD_FILTER_ALERT))
    assert [(e.room_id, e.target_person_id, e.target_seq, e.details) for e in entries] == [
        (room.id, room.lea.id, posted.message.seq, {"words": ["débile"]})]
    # A retry is not a second alert.
    again = await room.post(room.lea, "a1", body="c'est debile")
    assert not again.created
    assert again.alert is None
    # Held by pre-moderation anyway: no alert (the moderator sees it in the queue).
    await room.policy(premoderation=Premoderation.PUPILS)
    held = await room.post(room.lea, "a2", body="débile")
    assert held.held is not None
    assert held.alert is None


async def test_reports_are_made_once_and_resolved_once(room: Room, other_node: Store) -> None:
    await room.store.set_word_lists(room.school, WordLists(), room.anne.id, NOW)
    posted = await room.post(room.hugo, "r1", body="un message")
    assert posted.message is not None
    seq = posted.message.seq
    assert await room.store.create_report("x1", room.id, seq + 5, room.lea.id, None, NOW) is None
    made = await room.store.create_report("x1", room.id, seq, room.lea.id, "méchant", NOW)
    assert made is not None
    report, created = made
    assert created
    assert (report.school_id, report.reporter_id, report.reason, report.status) == (
        room.school, room.lea.id, "méchant", ReportStatus.OPEN)
    again = await other_node.create_report("x2", room.id, seq, room.lea.id, None, NOW + 1)
    assert again == (report, False)
    other = await room.store.create_report("x3", room.id, seq, room.claire.id, None, NOW + 2)
    assert other is not None
    assert [r.id for r in await other_node.reports(room.school)] == ["x1", "x3"]
    assert await room.store.report("x3") == other[0]

    resolved = await other_node.resolve_report("x1", room.anne.id, ReportStatus.DELETED, NOW + 3)
    assert [(r.id, r.status, r.resolved_by) for r in resolved] == [
        ("x1", ReportStatus.DELETED, room.anne.id), ("x3", ReportStatus.DELETED, room.anne.id)]
    assert await room.store.resolve_report("x3", room.anne.id, ReportStatus.KEPT, NOW + 4) == []
    assert await room.store.reports(room.school) == []
    assert [r.id for r in await room.store.reports(room.school, ReportStatus.DELETED)] == [
        "x1", "x3"]
    entries = await room.store.audit_entries(
        room.school, AuditQuery(action=AuditAction.REPORT_RESOLVE))
    assert sorted((e.target_person_id, e.target_seq, e.details["outcome"]) for e in entries) == (
        sorted([(room.lea.id, seq, "deleted"), (room.claire.id, seq, "deleted")]))
    with pytest.raises(LookupError):
        await room.store.resolve_report("nope", room.anne.id, ReportStatus.KEPT, NOW)
    # Resolved reports go with the audit retention; open ones stay.
    await room.store.create_report("x4", room.id, seq, room.hugo.id, None, NOW + 5)
    await room.store.purge_moderation_records(NOW + 10)
    assert await room.store.report("x1") is None
    assert await room.store.report("x4") is not None
