"""Quiet hours across two nodes, with an injected clock: messages to pupils
and parents sent in the evening reach them when the window opens, on every
node, exactly once; staff-to-staff and an admin's urgent message go at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation.rules import PolicyChange, Premoderation
from tests.server.moderation.test_service import Client, barrier
from tests.server.twonodes import Nodes, demo_with_class_move, two_nodes

# Tuesday 12 January 2027, 21:00 in Paris (UTC+1); the window opens at 07:00.
EVENING = int(datetime(2027, 1, 12, 20, 0, tzinfo=UTC).timestamp() * 1000)
MORNING = int(datetime(2027, 1, 13, 6, 0, tzinfo=UTC).timestamp() * 1000)


class MovableClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@pytest.fixture
async def clock() -> MovableClock:
    return MovableClock(EVENING)


@pytest.fixture
async def evening(tmp_path: Path, clock: MovableClock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock) as pair:
        anne = pair.member(pair.a, "Anne Roux")
        # The school's admin turns the default quiet hours on (fixtures start without).
        settings = await pair.a.moderation.set_school_settings(
            anne, anne.school_id, quiet_hours="07:00-20:00", parents_may_message=None)
        assert settings["quiet_hours"] == "07:00-20:00"
        # Node B reloads the school through the broker: wait until it has.
        async with asyncio.timeout(5):
            while True:
                view = await pair.b.directory.school(anne.school_id)
                if view is not None and view.school.quiet_hours == "07:00-20:00":
                    break
                await asyncio.sleep(0.01)
        yield pair


async def test_evening_messages_reach_pupils_in_the_morning_once(
    evening: Nodes, clock: MovableClock
) -> None:
    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    lea = Client(nodes, nodes.b, "Léa Martin")
    julien = Client(nodes, nodes.b, "Julien Garnier")  # another teacher of 6eA
    for client in (claire, lea, julien):
        await client.subscribe(room)

    sent = await nodes.a.chat.send(claire.member, room, "devoirs", "Exercice 3 pour jeudi")
    assert sent.message is None
    assert sent.scheduled is not None
    assert sent.scheduled.release_ms == MORNING
    [waiting] = await claire.wait("chat.scheduled")
    assert (waiting["body"], waiting["deliver_at"]) == ("Exercice 3 pour jeudi", MORNING)
    await julien.wait("chat.scheduled")  # a moderator of the room sees what waits
    await barrier(nodes, lea, room=room)
    assert lea.seen() == []  # nothing tonight, not even that something waits
    assert await nodes.b.chat.history(lea.member, room, before=None, after=None, limit=10) == []
    assert [w["txn"] for w in await nodes.b.chat.scheduled(lea.member, room)] == []
    assert [w["txn"] for w in await nodes.a.chat.scheduled(claire.member, room)] == ["devoirs"]

    # 06:59: still waiting. 07:00: both nodes run their delivery loop at once.
    clock.now = MORNING - 60_000
    assert await nodes.a.delivery.release_due() == 0
    clock.now = MORNING
    released = await asyncio.gather(nodes.a.delivery.release_due(),
                                    nodes.b.delivery.release_due())
    assert sorted(released) == [0, 1]
    for client in (lea, claire, julien):
        [message] = await client.wait("chat.message")
        assert (message["seq"], message["body"], message["txn"]) == (
            1, "Exercice 3 pour jeudi", "devoirs")
        assert message["ts"] == EVENING  # written in the evening, delivered now
    await barrier(nodes, lea, room=room)
    assert len(lea.events("chat.message")) == 1
    history = await nodes.b.chat.history(lea.member, room, before=None, after=None, limit=10)
    assert [m["seq"] for m in history] == [1]


async def test_staff_to_staff_and_urgent_messages_go_at_once(evening: Nodes) -> None:
    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    anne = Client(nodes, nodes.a, "Anne Roux")  # staff, the school's admin
    lea = Client(nodes, nodes.b, "Léa Martin")
    julien = Client(nodes, nodes.b, "Julien Garnier")
    await lea.subscribe(room)

    # Two teachers in the evening: no pupil or parent is reached.
    conversation, _ = await nodes.a.chat.open_conversation(claire.member, [julien.member.id])
    await julien.subscribe(conversation.id)
    sent = await nodes.a.chat.send(claire.member, conversation.id, "c1", "Conseil demain ?")
    assert sent.message is not None
    [got] = await julien.wait("chat.message")
    assert got["body"] == "Conseil demain ?"

    # The admin's urgent message reaches the pupils now; a teacher may not flag one.
    urgent = await nodes.a.chat.send(anne.member, room, "u1", "Collège fermé demain (neige)",
                                     urgent=True)
    assert urgent.message is not None
    [alert] = await lea.wait("chat.message")
    assert alert["body"] == "Collège fermé demain (neige)"
    with pytest.raises(PreauError) as refused:
        await nodes.a.chat.send(claire.member, room, "u2", "Urgent !", urgent=True)
    assert refused.value.code is ErrorCode.FORBIDDEN


async def test_a_room_without_quiet_hours_and_a_parent_reached_in_the_morning(
    evening: Nodes, clock: MovableClock
) -> None:
    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    claire_a = nodes.member(nodes.a, "Claire Lefèvre")
    camille = Client(nodes, nodes.b, "Camille Martin")  # Léa's parent
    lea = Client(nodes, nodes.b, "Léa Martin")
    await lea.subscribe(room)

    # The teacher turns quiet hours off for her room (a residential trip, say).
    policy = await nodes.a.moderation.set_policy(
        claire_a, room, PolicyChange(quiet_hours="off"), "voyage")
    assert policy.quiet_hours == "off"
    assert (await nodes.a.chat.send(claire_a, room, "v1", "Bus à 21h30")).message is not None
    await lea.wait("chat.message")

    # A private message to a parent in the evening waits for the morning.
    conversation, _ = await nodes.a.chat.open_conversation(claire_a, [camille.member.id])
    await camille.subscribe(conversation.id)
    sent = await nodes.a.chat.send(claire_a, conversation.id, "p1", "Léa a été très bien")
    assert sent.scheduled is not None
    await barrier(nodes, camille, room=conversation.id, probe="Claire Lefèvre")
    # The room, not the message: she is told of the conversation only.
    assert sorted(camille.seen()) == ["conversation.opened", "notification"]
    assert [n["kind"] for n in camille.events("notification")] == ["conversation"]
    clock.now = MORNING
    assert await nodes.b.delivery.release_due() == 1
    [got] = await camille.wait("chat.message")
    assert got["body"] == "Léa a été très bien"
    # Delivered: now she is told of the message, and its author that it went out.
    kinds = [n["kind"] for n in await camille.wait("notification", 2)]
    assert kinds == ["conversation", "message"]
    mine = await nodes.a.notifications.list(claire_a, before=None, limit=10)
    assert [(n["kind"], n["seq"]) for n in mine["notifications"]] == [
        ("scheduled.delivered", got["seq"])]


async def test_a_message_approved_in_the_evening_waits_for_the_morning(
    evening: Nodes, clock: MovableClock
) -> None:
    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    claire_a = nodes.member(nodes.a, "Claire Lefèvre")
    await nodes.a.moderation.set_policy(claire_a, room, PolicyChange(
        premoderation=Premoderation.PUPILS), None)
    lea = Client(nodes, nodes.a, "Léa Martin")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    claire = Client(nodes, nodes.b, "Claire Lefèvre")
    for client in (lea, hugo, claire):
        await client.subscribe(room)
    sent = await nodes.a.chat.send(lea.member, room, "q1", "Pour demain c'est quelle page ?")
    assert sent.held is not None  # pre-moderation first

    out = await nodes.b.moderation.decide(claire.member, room, sent.held.id, True, None)
    assert out["held"]["status"] == "approved"
    assert out["deliver_at"] == MORNING
    [approved] = await lea.wait("chat.approved")
    assert approved["deliver_at"] == MORNING
    assert "seq" not in approved
    await barrier(nodes, hugo, room=room)
    assert hugo.seen() == []

    clock.now = MORNING
    assert await nodes.a.delivery.release_due() == 1
    for client in (lea, hugo, claire):
        [message] = await client.wait("chat.message")
        assert (message["seq"], message["txn"]) == (1, "q1")


async def test_a_waiting_message_is_cancelled_or_sent_now(
    evening: Nodes, clock: MovableClock
) -> None:
    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    lea = Client(nodes, nodes.b, "Léa Martin")
    julien = Client(nodes, nodes.b, "Julien Garnier")  # another teacher of 6eA
    for client in (claire, lea, julien):
        await client.subscribe(room)
    first = await nodes.a.chat.send(claire.member, room, "t1", "Sortie annulée demain")
    second = await nodes.a.chat.send(claire.member, room, "t2", "Oups, pas annulée")
    third = await nodes.a.chat.send(claire.member, room, "t3", "Rappel : cahiers")
    assert first.scheduled is not None
    assert second.scheduled is not None
    assert third.scheduled is not None

    # Nobody but its author cancels it; then it is gone, and they are told.
    for who in (lea.member, julien.member):
        with pytest.raises(PreauError) as refused:
            await nodes.b.chat.cancel_scheduled(who, room, second.scheduled.id)
        assert refused.value.code is ErrorCode.NOT_FOUND
    await nodes.b.chat.cancel_scheduled(claire.member, room, second.scheduled.id)
    [gone] = await julien.wait("chat.unscheduled")
    assert (gone["id"], gone["txn"]) == (second.scheduled.id, "t2")
    assert sorted(w["txn"] for w in await nodes.a.chat.scheduled(claire.member, room)) == [
        "t1", "t3"]

    # Its author sends one now, through quiet hours; a pupil may not.
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.send_scheduled_now(lea.member, room, first.scheduled.id)
    assert refused.value.code is ErrorCode.NOT_FOUND
    posted = await nodes.b.chat.send_scheduled_now(claire.member, room, first.scheduled.id)
    [message] = await lea.wait("chat.message")
    assert (message["seq"], message["txn"], message["body"]) == (
        posted.seq, "t1", "Sortie annulée demain")
    # A moderator of the room releases what waits (the delivery hours changed).
    await nodes.b.chat.send_scheduled_now(julien.member, room, third.scheduled.id)
    await lea.wait("chat.message", count=2)
    assert await nodes.a.chat.scheduled(claire.member, room) == []
    # Released once: neither again, nor by the morning's delivery.
    with pytest.raises(PreauError) as refused:
        await nodes.a.chat.send_scheduled_now(claire.member, room, first.scheduled.id)
    assert refused.value.code is ErrorCode.NOT_FOUND
    clock.now = MORNING
    assert await nodes.a.delivery.release_due() == 0
    history = await nodes.b.chat.history(lea.member, room, before=None, after=None, limit=10)
    assert [m["txn"] for m in history] == ["t1", "t3"]


async def test_a_pupil_withdraws_her_waiting_message_but_cannot_send_it_sooner(
    evening: Nodes,
) -> None:
    """Quiet hours protect families' evenings from pupils' messages too: only
    a teacher or staff sends their own through them (like ``urgent``, an
    adult's judgement). Another's waiting message answers as an unknown one."""
    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    lea = Client(nodes, nodes.b, "Léa Martin")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    first = await nodes.b.chat.send(lea.member, room, "l1", "Qui a fait l'exercice 3 ?")
    second = await nodes.b.chat.send(lea.member, room, "l2", "Laissez tomber")
    assert first.scheduled is not None
    assert second.scheduled is not None
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.send_scheduled_now(lea.member, room, first.scheduled.id)
    assert refused.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(PreauError) as others:
        await nodes.b.chat.send_scheduled_now(hugo.member, room, first.scheduled.id)
    with pytest.raises(PreauError) as unknown:
        await nodes.b.chat.send_scheduled_now(hugo.member, room, "s_no-such-one")
    assert (others.value.code, str(others.value)) == (unknown.value.code, str(unknown.value))
    assert unknown.value.code is ErrorCode.NOT_FOUND
    await nodes.b.chat.cancel_scheduled(lea.member, room, second.scheduled.id)
    # The class's teacher, a moderator of the room, may still release it.
    await claire.subscribe(room)
    posted = await nodes.a.chat.send_scheduled_now(claire.member, room, first.scheduled.id)
    assert posted.sender_id == lea.member.id
    assert await nodes.a.chat.scheduled(claire.member, room) == []


async def test_a_waiting_message_of_someone_who_left_the_room_is_not_delivered(
    evening: Nodes, clock: MovableClock
) -> None:
    """Chloé writes to 6eA in the evening; before the morning she moves to
    6eB (a re-import) and Lucas is removed by a moderator: in the morning
    neither message reaches the class (a room one can no longer read is not
    one to post to); both are withdrawn, and the room's moderators are told
    (``chat.unscheduled``). The teacher's message goes."""
    from preau.server.store import AuditAction

    nodes = evening
    room = await nodes.room(nodes.a, "6eA")
    julien = Client(nodes, nodes.b, "Julien Garnier")  # a moderator of 6eA
    await julien.subscribe(room)
    chloe = nodes.member(nodes.a, "Chloé Dubois")
    lucas = nodes.member(nodes.a, "Lucas Richard")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    waiting = {}
    for author, txn in ((chloe, "c"), (lucas, "l"), (claire, "t")):
        sent = await nodes.a.chat.send(author, room, txn, f"Ce soir ({txn})")
        assert sent.scheduled is not None
        waiting[txn] = sent.scheduled.id
    # Chloé (E003) moves to 6eB; both nodes know of it before the morning.
    await nodes.reimport(demo_with_class_move("E003", "6eA", "6eB"), now_ms=clock.now)
    await nodes.a.moderation.moderate_member(claire, room, lucas.id, AuditAction.MEMBER_REMOVE,
                                             None)
    # A moderator cannot post it now either (only its author could have).
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.send_scheduled_now(claire, room, waiting["c"])
    assert refused.value.code is ErrorCode.CONFLICT
    clock.now = MORNING
    released = await asyncio.gather(nodes.a.delivery.release_due(),
                                    nodes.b.delivery.release_due())
    assert sorted(released) == [0, 1]
    history = await nodes.b.chat.history(claire, room, before=None, after=None, limit=10)
    assert [m["txn"] for m in history] == ["t"]
    assert await nodes.a.store.scheduled_messages(room) == []
    withdrawn = await julien.wait("chat.unscheduled", count=2)
    assert sorted(e["txn"] for e in withdrawn) == ["c", "l"]
