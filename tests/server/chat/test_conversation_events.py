"""A new conversation is announced to its other participants on every node."""

from __future__ import annotations

from tests.server.moderation.test_service import Client, barrier
from tests.server.twonodes import Nodes


async def test_the_other_participants_learn_of_a_new_conversation_at_once(nodes: Nodes) -> None:
    camille = Client(nodes, nodes.a, "Camille Martin")  # Léa's parent, on node A
    claire = Client(nodes, nodes.b, "Claire Lefèvre")  # her teacher, on node B
    julien = Client(nodes, nodes.b, "Julien Bernard")  # another parent
    room, created = await nodes.a.chat.open_conversation(camille.member, [claire.member.id])
    assert created
    [opened] = await claire.wait("conversation.opened")
    assert opened["room"]["id"] == room.id
    assert opened["room"]["kind"] == "private"
    assert opened["by"] == {"id": camille.member.id, "name": "Camille Martin"}
    await barrier(nodes, julien, camille)
    assert julien.events("conversation.opened") == []
    assert camille.events("conversation.opened") == []  # the opener has the reply
    # Opening it again is no news.
    again, created_again = await nodes.b.chat.open_conversation(claire.member,
                                                                [camille.member.id])
    assert (again.id, created_again) == (room.id, False)
    await barrier(nodes, claire, camille)
    assert len(claire.events("conversation.opened")) == 1
    assert camille.events("conversation.opened") == []
