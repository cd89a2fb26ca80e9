"""The Store's word filter and reports contract, on SQLite and on PostgreSQL:
the school's lists (defaults until replaced), their effect inside the post
transaction, and reports (created once per reporter, resolved once, audited)."""

from __future__ import annotations

import pytest

from server.errors import ErrorCode
from server.moderation.rules import Premoderation
from server.moderation.wordfilter import DEFAULT_LISTS, FilterAction, WordLists
from server.store import AuditAction, AuditQuery, HeldStatus, ReportStatus, Store
from tests.server.store.test_contract import NOW
from tests.server.store.test_moderation_contract import Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures

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
