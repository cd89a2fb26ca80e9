"""The notification centre on two nodes (one store, one bus): who is told of
what (the circle of trust, for every profile pair), live on the other node,
withdrawn when a message is recalled or deleted, held messages and reports.

Demo school: Léa Martin and Hugo Bernard are 6eA pupils, Inès Petit a 6eB
pupil; Camille Martin is Léa's mother, Julien Bernard Hugo's father; Julien
Garnier teaches 6eA, Sophie Faure 6eB, Claire Lefèvre both; Anne Roux is
staff (and the admin).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from preau.server.directory.model import Member
from preau.server.directory.rules import may_join
from preau.server.errors import PreauError
from preau.server.moderation.rules import PolicyChange, Premoderation
from preau.server.services import Services
from preau.server.store.notifications import Notification
from tests.server.twonodes import Nodes, Recorder, demo_with_class_move

PEOPLE = ["Léa Martin", "Hugo Bernard", "Inès Petit", "Camille Martin", "Julien Bernard",
          "Julien Garnier", "Sophie Faure", "Claire Lefèvre", "Anne Roux"]


async def stored(node: Services, person: Member) -> list[Notification]:
    """Every notification the store holds for ``person`` (not only the visible ones)."""
    return await node.store.notifications_of(person.id, None, 1000)


async def may_read(node: Services, member: Member, room_id: str) -> bool:
    try:
        await node.chat.open_room(member, room_id)
    except PreauError as refused:
        code = refused.code
    else:
        return True
    assert code == "not_found"
    return False


async def events(recorder: Recorder, name: str, count: int,
                 timeout: float = 5) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [f for f in recorder.frames if f.get("ev") == name]

    async with asyncio.timeout(timeout):
        while len(found()) < count:
            recorder.arrived.clear()
            await recorder.arrived.wait()
    return found()


async def test_private_messages_for_every_pair(nodes: Nodes) -> None:
    """For each ordered pair: where the circle of trust lets the first open a
    conversation, the second is told of it and of its message, nobody else;
    where it does not, nobody is told anything."""
    a = nodes.a
    people = {name: nodes.member(a, name) for name in PEOPLE}
    opened: dict[frozenset[str], str] = {}
    sent: list[tuple[str, int, str, str]] = []  # room, seq, sender, recipient
    for first, second in itertools.permutations(PEOPLE, 2):
        sender, recipient = people[first], people[second]
        allowed = await a.directory.may_communicate(sender, recipient.id)
        if not allowed:
            with pytest.raises(PreauError) as refused:
                await a.chat.open_conversation(sender, [recipient.id])
            assert refused.value.code == "forbidden"
            continue
        room, _created = await a.chat.open_conversation(sender, [recipient.id])
        opened[frozenset({sender.id, recipient.id})] = room.id
        result = await a.chat.send(sender, room.id, f"t-{first}-{second}", "Bonjour")
        assert result.message is not None
        sent.append((room.id, result.message.seq, sender.id, recipient.id))
    assert sent, "the demo school lets some pairs talk"
    assert len(sent) < len(PEOPLE) * (len(PEOPLE) - 1), "and keeps others apart"

    everyone = {name: await stored(a, m) for name, m in people.items()}
    for room_id, seq, sender_id, recipient_id in sent:
        for name, member in people.items():
            told = [n for n in everyone[name] if n.room_id == room_id and n.seq == seq]
            if member.id == recipient_id:
                assert [(n.kind, n.actor_id) for n in told] == [("message", sender_id)]
            else:
                assert told == [], (name, room_id)
    # The rule itself: a stored notification is only ever about something its
    # recipient may read, and the list shows exactly those.
    for name, member in people.items():
        for n in everyone[name]:
            assert n.room_id is not None
            assert await may_read(a, member, n.room_id), name
            assert n.actor_id != member.id
        listed = await a.notifications.list(member, before=None, limit=100)
        assert {n["id"] for n in listed["notifications"]} == {n.id for n in everyone[name]}
        assert listed["unread"] == len(everyone[name])
    # Who opened a conversation told the other of it too.
    for pair, room_id in opened.items():
        kinds = {n.person_id for name in PEOPLE for n in everyone[name]
                 if n.room_id == room_id and n.kind == "conversation"}
        assert len(kinds) == 1
        assert kinds <= pair


async def test_announcements_reach_exactly_the_rooms_readers(nodes: Nodes) -> None:
    a = nodes.a
    people = {name: nodes.member(a, name) for name in PEOPLE}
    julien = people["Julien Garnier"]
    class_room = await nodes.room(a, "6eA")
    parents, _ = await a.chat.parents_room(julien, julien.classes and sorted(julien.classes)[0])
    for room_id, txn in ((class_room, "ann-class"), (parents.id, "ann-parents")):
        result = await a.chat.send(julien, room_id, txn, "Sortie au musée jeudi", ack=True)
        assert result.message is not None
        room = await a.directory.room(room_id)
        assert room is not None
        for name, member in people.items():
            told = [n for n in await stored(a, member) if n.room_id == room_id]
            expected = may_join(member, room) and member.id != julien.id
            assert [n.kind for n in told] == (["announcement"] if expected else []), name
    # Parents are told of the parents' room's announcement, not the class room's;
    # the other class hears of neither; a plain message tells nobody.
    camille = [n.room_id for n in await stored(a, people["Camille Martin"])]
    assert camille == [parents.id]
    assert await stored(a, people["Inès Petit"]) == []
    assert await stored(a, people["Sophie Faure"]) == []
    before = len(await stored(a, people["Léa Martin"]))
    await a.chat.send(julien, class_room, "plain", "Bonne journée")
    assert len(await stored(a, people["Léa Martin"])) == before


async def test_live_on_the_other_node_and_withdrawn_on_recall(nodes: Nodes) -> None:
    julien = nodes.member(nodes.a, "Julien Garnier")
    camille_b = nodes.member(nodes.b, "Camille Martin")
    _, camille = nodes.connect(nodes.b, camille_b)
    _, camille_other_device = nodes.connect(nodes.b, camille_b)
    room, _ = await nodes.a.chat.open_conversation(julien, [camille_b.id])
    result = await nodes.a.chat.send(julien, room.id, "t1", "Léa a oublié son cahier")
    assert result.message is not None
    seq = result.message.seq
    got = await events(camille, "notification", 2)
    assert [g["kind"] for g in got] == ["conversation", "message"]
    message = got[1]
    assert message["room"] == {"id": room.id, "name": room.name, "kind": "private"}
    assert (message["seq"], message["by"], message["read"]) == (
        seq, {"id": julien.id, "name": "Julien Garnier"}, False)
    assert "Léa a oublié" not in str(got)  # never the content
    listed = await nodes.b.notifications.list(camille_b, before=None, limit=10)
    # Both made within the same millisecond, often: their order is then open.
    assert sorted(n["id"] for n in listed["notifications"]) == sorted(
        [message["id"], got[0]["id"]])

    # Read on one device: her other devices are told.
    done = await nodes.b.notifications.mark_read(camille_b, [got[0]["id"]])
    assert done == {"read": [got[0]["id"]], "unread": 1}
    [read] = await events(camille_other_device, "notification.read", 1)
    assert read["ids"] == [got[0]["id"]]

    # The author recalls the message: its notification goes, live too.
    await nodes.a.moderation.redact(julien, room.id, seq, None)
    [withdrawn] = await events(camille, "notification.withdrawn", 1)
    assert withdrawn["ids"] == [message["id"]]
    left = await stored(nodes.b, camille_b)
    assert [n.kind for n in left] == ["conversation"]
    assert (await nodes.b.notifications.list(camille_b, before=None, limit=10))["unread"] == 0


async def test_withdrawn_when_a_moderator_deletes(nodes: Nodes) -> None:
    a = nodes.a
    julien = nodes.member(a, "Julien Garnier")
    anne = nodes.member(a, "Anne Roux")
    lea = nodes.member(a, "Léa Martin")
    _, lea_socket = nodes.connect(nodes.b, nodes.member(nodes.b, "Léa Martin"))
    class_room = await nodes.room(a, "6eA")
    result = await a.chat.send(julien, class_room, "ann", "Contrôle demain", ack=True)
    assert result.message is not None
    [told] = await events(lea_socket, "notification", 1)
    assert told["kind"] == "announcement"
    assert await stored(a, lea) != []
    await a.moderation.redact(anne, class_room, result.message.seq, "erreur")
    [withdrawn] = await events(lea_socket, "notification.withdrawn", 1)
    assert withdrawn["ids"] == [told["id"]]
    for name in PEOPLE:
        assert await stored(a, nodes.member(a, name)) == [], name


async def test_held_message_and_report_outcomes_reach_their_author(nodes: Nodes) -> None:
    a = nodes.a
    claire = nodes.member(a, "Claire Lefèvre")
    lea = nodes.member(a, "Léa Martin")
    hugo = nodes.member(a, "Hugo Bernard")
    room = await nodes.room(a, "6eA")
    await a.moderation.set_policy(claire, room, PolicyChange(
        premoderation=Premoderation.PUPILS), None)
    first = await a.chat.send(lea, room, "h1", "Puis-je sortir ?")
    second = await a.chat.send(lea, room, "h2", "Et maintenant ?")
    assert first.held is not None
    assert second.held is not None
    await a.moderation.decide(claire, room, first.held.id, True, None)
    await a.moderation.decide(claire, room, second.held.id, False, "hors sujet")
    mine = await stored(a, lea)
    assert sorted(n.kind for n in mine) == ["held.approved", "held.rejected"]
    assert all(n.actor_id == claire.id for n in mine)
    approved = next(n for n in mine if n.kind == "held.approved")
    assert approved.seq is not None
    assert approved.seq >= 1
    rejected = next(n for n in mine if n.kind == "held.rejected")
    assert rejected.data == {"held": second.held.id}
    assert rejected.seq is None
    assert await stored(a, hugo) == []  # nobody else hears of a held message

    await a.moderation.set_policy(claire, room, PolicyChange(
        premoderation=Premoderation.OFF), None)
    posted = await a.chat.send(lea, room, "m1", "tais-toi")
    assert posted.message is not None
    report = await a.moderation.report(hugo, room, posted.message.seq, "méchant")
    await a.moderation.resolve_report(claire, report["report"]["id"], False, None)
    [outcome] = await stored(a, hugo)
    assert (outcome.kind, outcome.data) == (
        "report.resolved", {"report": report["report"]["id"], "outcome": "kept"})
    assert outcome.actor_id is None  # which moderator decided is not told


async def test_bad_input(nodes: Nodes) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    for limit in (0, 101):
        with pytest.raises(PreauError) as refused:
            await nodes.a.notifications.list(lea, before=None, limit=limit)
        assert refused.value.code == "bad_request"
    # Someone else's id, or an unknown one, marks nothing.
    assert await nodes.a.notifications.mark_read(lea, ["n_nope"]) == {"read": [], "unread": 0}


async def test_a_pupil_moved_to_another_class_no_longer_sees_its_notifications(
    nodes: Nodes,
) -> None:
    a, b = nodes.a, nodes.b
    julien = nodes.member(a, "Julien Garnier")
    chloe = nodes.member(b, "Chloé Dubois")
    room = await nodes.room(a, "6eA")
    await a.chat.send(julien, room, "ann", "Sortie jeudi", ack=True)
    listed = await b.notifications.list(chloe, before=None, limit=10)
    assert [n["kind"] for n in listed["notifications"]] == ["announcement"]
    # Chloé (E003) moves to 6eB: a re-import on node a, told to node b.
    await nodes.reimport(demo_with_class_move("E003", "6eA", "6eB"))
    chloe_now = await b.directory.member(chloe.id)
    assert chloe_now is not None
    assert await b.notifications.list(chloe_now, before=None, limit=10) == {
        "notifications": [], "unread": 0, "next": None}


async def test_documents_shared_and_locked_follow_the_documents_rights(nodes: Nodes) -> None:
    from preau.server.documents.model import DocumentKind

    a, b = nodes.a, nodes.b
    people = {name: nodes.member(a, name) for name in PEOPLE}
    claire = people["Claire Lefèvre"]
    lea = people["Léa Martin"]
    class_a = next(c for c in claire.classes
                   if a.directory._schools[claire.school_id].classes[c].name == "6eA")
    # A group of Léa only: Hugo, a 6eA pupil outside it, is not told.
    document = await a.documents.create(claire, class_a, "Exposé sur les volcans",
                                        DocumentKind.TEXT, editors=[lea.id])
    await a.documents.set_locked(claire, document.id, True)
    await a.documents.set_locked(claire, document.id, True)  # already locked: told once
    for name, member in people.items():
        told = [(n.kind, n.data) for n in await stored(a, member)]
        may_open = await a.documents.access(member.id, document.id)
        if member.id == claire.id or may_open.name == "NONE":
            assert told == [], name
        else:
            data = {"document": document.id, "title": "Exposé sur les volcans"}
            assert told == [("document.locked", data), ("document.shared", data)], name
    assert await stored(a, people["Hugo Bernard"]) == []
    assert await stored(a, people["Anne Roux"]) != []  # the staff read every class's
    listed = await b.notifications.list(lea, before=None, limit=10)
    assert [(n["kind"], n["room"], n["data"]["document"]) for n in listed["notifications"]] == [
        ("document.locked", None, document.id), ("document.shared", None, document.id)]
    # Out of the group: no longer listed.
    await a.documents.set_people(claire, document.id, [people["Hugo Bernard"].id], [])
    assert (await b.notifications.list(lea, before=None, limit=10))["notifications"] == []


async def test_a_call_started_in_the_class(nodes: Nodes) -> None:
    a = nodes.a
    people = {name: nodes.member(a, name) for name in PEOPLE}
    julien = people["Julien Garnier"]
    room_id = await nodes.room(a, "6eA")
    room = await a.directory.room(room_id)
    assert room is not None
    _, lea_socket = nodes.connect(nodes.b, nodes.member(nodes.b, "Léa Martin"))
    call = await a.calls.create(julien, room_id, "Cours de maths", None, None)
    [told] = await events(lea_socket, "notification", 1)
    assert (told["kind"], told["room"]["id"], told["data"]) == (
        "call.started", room_id, {"call": call.id, "name": "Cours de maths"})
    for name, member in people.items():
        kinds = [n.kind for n in await stored(a, member)]
        expected = may_join(member, room) and member.id != julien.id
        assert kinds == (["call.started"] if expected else []), name
    # A pupils' study group: only its people are told.
    lea, hugo = people["Léa Martin"], people["Hugo Bernard"]
    await a.calls.create(lea, room_id, "Révisions", [hugo.id], None)
    assert [n.kind for n in await stored(a, hugo)] == ["call.started", "call.started"]
    assert [n.kind for n in await stored(a, people["Claire Lefèvre"])] == ["call.started"]
