"""A rights change is told over /ws to everyone who had or has access, on
every node, so web clients re-read their rights at once."""

from __future__ import annotations

from preau.server.documents.model import DocumentKind
from tests.server.moderation.test_service import Client, barrier
from tests.server.twonodes import Nodes


async def test_locking_and_regrouping_tell_the_people_concerned(nodes: Nodes) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = Client(nodes, nodes.b, "Léa Martin")  # 6eA pupil, other node
    hugo = Client(nodes, nodes.b, "Hugo Bernard")  # 6eA pupil
    ines = Client(nodes, nodes.a, "Inès Petit")  # 6eB pupil: never concerned
    camille = Client(nodes, nodes.a, "Camille Martin")  # a parent: no access
    anne = Client(nodes, nodes.a, "Anne Roux")  # staff: reads every class's documents
    class_id = next(c for c in claire.classes
                    if nodes.a.directory._schools[claire.school_id].classes[c].name == "6eA")
    document = await nodes.a.documents.create(claire, class_id, "Journal de classe",
                                              DocumentKind.TEXT)

    await nodes.a.documents.set_locked(claire, document.id, True)
    for client in (lea, hugo):
        [changed] = await client.wait("document.changed")
        assert changed == {"ev": "document.changed", "document": document.id}

    # A group of Léa only: outside it Hugo has no access any more, and is told
    # too (his page learns it at once); the staff read it and are told.
    await nodes.a.documents.set_people(claire, document.id, [lea.member.id], [])
    await lea.wait("document.changed", 2)
    await hugo.wait("document.changed", 2)
    await anne.wait("document.changed", 2)
    await barrier(nodes, ines, camille)
    assert ines.events("document.changed") == []
    assert camille.events("document.changed") == []
