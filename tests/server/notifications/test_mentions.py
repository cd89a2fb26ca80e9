"""Mentions (« @Prénom Nom ») in class and parents' rooms notify whom they
name, among those who may read the room only: the matcher (pure) and the
service across two nodes, with the circle of trust, a deleted message's
withdrawal and the preference ``never``.

Demo school: 6eA has pupils Léa Martin, Hugo Bernard…, teachers Claire
Lefèvre and Julien Garnier; 6eB has Inès Petit and teacher Sophie Faure;
Camille Martin is Léa's mother.
"""

from __future__ import annotations

from dataclasses import replace

from preau.server.directory.model import Member
from preau.server.notifications.mentions import mentioned
from tests.server.twonodes import Nodes


def people(nodes: Nodes, *names: str) -> list[Member]:
    return [nodes.member(nodes.a, name) for name in names]


async def test_who_a_body_names(nodes: Nodes) -> None:
    lea, hugo, claire = people(nodes, "Léa Martin", "Hugo Bernard", "Claire Lefèvre")
    readers = [lea, hugo, claire]
    assert mentioned("Bravo @Léa Martin !", readers) == [lea]
    assert mentioned("merci @lea martin et @HUGO BERNARD", readers) == [lea, hugo]
    assert mentioned("@Léa Martinez n'est pas Léa", readers) == []
    assert mentioned("écrire à lea.martin@example.fr", readers) == []
    assert mentioned("sans arobase Léa Martin", readers) == []
    # The longest name wins where one name starts another.
    lea_long = replace(lea, id="p-long", display_name="Léa Martin Dupont")
    assert mentioned("@Léa Martin Dupont bonjour", [lea, lea_long]) == [lea_long]
    assert mentioned("@Léa Martin et @Léa Martin Dupont", [lea, lea_long]) == [lea, lea_long]


async def test_a_mention_notifies_only_readers_and_goes_with_its_message(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    claire, lea, hugo = people(nodes, "Claire Lefèvre", "Léa Martin", "Hugo Bernard")
    ines, camille = people(nodes, "Inès Petit", "Camille Martin")
    sent = await a.chat.send(
        claire, room, "t1", "@Léa Martin et @Inès Petit, passez au CDI. @Camille Martin aussi")
    assert sent.message is not None
    # Léa reads the room: told. Inès (6eB) and Camille (a parent) do not: nothing.
    mine = (await b.notifications.list(lea, unread_only=False, before=None, limit=10))
    assert [(n["kind"], n["seq"], n["by"]["name"]) for n in mine["notifications"]] == [
        ("mention", sent.message.seq, "Claire Lefèvre")]
    for outsider in (ines, camille, hugo):
        listed = await b.notifications.list(outsider, unread_only=False, before=None, limit=10)
        assert [n for n in listed["notifications"] if n["kind"] == "mention"] == [], outsider
    # Deleted by a moderator: its notification goes too.
    await a.moderation.redact(claire, room, sent.message.seq, None)
    mine = await b.notifications.list(lea, unread_only=False, before=None, limit=10)
    assert mine["notifications"] == []


async def test_never_means_never(nodes: Nodes) -> None:
    a = nodes.a
    room = await nodes.room(a, "6eA")
    claire, lea = people(nodes, "Claire Lefèvre", "Léa Martin")
    await a.notifications.set_preferences(lea, {"mention": "never"})
    await a.chat.send(claire, room, "t1", "@Léa Martin au tableau")
    listed = await a.notifications.list(lea, unread_only=False, before=None, limit=10)
    assert listed["notifications"] == []
