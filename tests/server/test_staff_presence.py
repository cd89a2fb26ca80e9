"""Parents see when a teacher or the staff are online only where the school
allows it (``staff_presence_to_parents``, off by default): on subscribing
(``online``), in ``presence.*`` events on every node, and in
``presence.list`` — a parent's own presence and other people's stay as
they were (docs/moderation.md, "The school's settings")."""

from __future__ import annotations

from preau.server.directory.model import Member, Profile, School
from preau.server.directory.rules import presence_shown
from tests.server.moderation.test_service import Client
from tests.server.twonodes import Nodes


def test_the_rule() -> None:
    school = School("s", "0000001D", "Collège", "Europe/Paris")
    parent = Member("p", "s", Profile.PARENT, "Camille Martin")
    teacher = Member("t", "s", Profile.TEACHER, "Claire Lefèvre")
    staff = Member("a", "s", Profile.STAFF, "Anne Roux")
    pupil = Member("e", "s", Profile.PUPIL, "Léa Martin")
    assert not presence_shown(parent, teacher, school)
    assert not presence_shown(parent, staff, school)
    assert presence_shown(parent, pupil, school)
    assert presence_shown(parent, parent, school)
    assert presence_shown(teacher, parent, school)
    assert presence_shown(pupil, teacher, school)
    allowed = School("s", "0000001D", "Collège", "Europe/Paris", staff_presence_to_parents=True)
    assert presence_shown(parent, teacher, allowed)


async def test_a_parent_sees_a_teacher_online_only_if_the_school_allows_it(
    nodes: Nodes,
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    room, _ = await nodes.a.chat.open_conversation(claire, [camille.id])
    parent = Client(nodes, nodes.b, "Camille Martin")  # events: through the broker
    await parent.subscribe(room.id)
    await Client(nodes, nodes.a, "Camille Martin").subscribe(room.id)  # presence is per node
    teacher = Client(nodes, nodes.a, "Claire Lefèvre")
    seen: list[dict[str, object]] = []
    await teacher.node.chat.open_room(teacher.member, room.id)
    await teacher.node.hub.subscribe(teacher.conn, room.id, None, seen.append)
    # The teacher sees the parent online; the parent is not told of the teacher.
    assert {p["name"] for p in seen[0]["online"]} == {  # type: ignore[index]
        "Claire Lefèvre", "Camille Martin"}
    hidden: list[dict[str, object]] = []
    late = Client(nodes, nodes.a, "Camille Martin")
    await late.node.hub.subscribe(late.conn, room.id, None, hidden.append)
    assert [p["name"] for p in hidden[0]["online"]] == ["Camille Martin"]  # type: ignore[index]
    # A marker through both nodes: whatever the teacher's arrival sent is in.
    await nodes.a.hub.publish_ephemeral(room.id, b'{"ev":"marker"}')
    await parent.wait("marker")
    def claire_joined() -> list[dict[str, object]]:
        return [e for e in parent.events("presence.join")
                if e["person"]["name"] == "Claire Lefèvre"]

    assert claire_joined() == []
    before = len(parent.events("presence.join"))

    anne = nodes.member(nodes.a, "Anne Roux")
    await nodes.a.moderation.set_school_settings(
        anne, anne.school_id, quiet_hours=None, parents_may_message=None,
        staff_presence_to_parents=True)
    await nodes.b.directory.school(anne.school_id)  # reloaded on the other node
    await teacher.node.hub.unsubscribe(teacher.conn, room.id)
    await teacher.node.hub.subscribe(teacher.conn, room.id, None, lambda fields: None)
    await parent.wait("presence.join", count=before + 1)
    assert len(claire_joined()) == 1
    answer: list[dict[str, object]] = []
    again = Client(nodes, nodes.a, "Camille Martin")
    await again.node.hub.subscribe(again.conn, room.id, None, answer.append)
    assert {p["name"] for p in answer[0]["online"]} == {  # type: ignore[index]
        "Camille Martin", "Claire Lefèvre"}


def test_an_audience_of_everyone_but_parents_travels_in_the_header() -> None:
    from preau.server.live.channels import Audience, pack, unpack

    audience = Audience(everyone_but=frozenset({"parent"}))
    assert unpack(pack("a", 0, None, b"{}", audience))[4] == audience
