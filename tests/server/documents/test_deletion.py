"""Deleting a document, on two nodes built by the composition root
(tests/server/twonodes.py): who may (the class's teachers, who manage it),
the answer everyone else gets (exactly an unknown document's), the sockets
closed on both nodes, the people told, and what is left (nothing)."""

from __future__ import annotations

import asyncio

import pytest

from preau.collab.ports import Access
from preau.collab.room import CLOSE_FORBIDDEN
from preau.server.documents.model import DocumentInfo, DocumentKind
from preau.server.errors import ErrorCode, PreauError
from preau.server.services import Services
from tests.collab.harness import SimClient
from tests.server.moderation.test_service import Client, barrier
from tests.server.twonodes import Nodes

# Who may delete a 6eA document Claire Lefèvre made, restricted to Léa with
# Camille (Léa's mother) and Inès (a 6eB pupil) named as readers.
MANAGERS = ("Claire Lefèvre",  # its creator, a teacher of 6eA
            "Julien Garnier")  # another teacher of 6eA
# Who sees it but may not delete it: ``forbidden``, as for its lock.
SEE_IT = {
    "Léa Martin": "a pupil of the class who edits it",
    "Inès Petit": "a pupil of another class named as a reader",
    "Camille Martin": "a parent named as a reader",
    "Anne Roux": "the school's staff and admin (reads every class's documents)",
}
# Who does not see it: exactly the answer of an unknown document.
REFUSED = {
    "Hugo Bernard": "a pupil of the class outside its group",
    "Julien Bernard": "a parent not named",
    "Sophie Faure": "another class's teacher",
}


async def _document(nodes: Nodes, title: str = "Sortie au musée") -> DocumentInfo:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    class_6ea = next(iter(lea.classes))
    return await nodes.a.documents.create(
        claire, class_6ea, title, DocumentKind.TEXT, editors=[lea.id],
        readers=[nodes.member(nodes.a, "Camille Martin").id,
                 nodes.member(nodes.a, "Inès Petit").id])


async def _refusal(node: Services, name: str, document_id: str, nodes: Nodes) -> PreauError:
    with pytest.raises(PreauError) as refused:
        await node.documents.delete(nodes.member(node, name), document_id)
    return refused.value


async def test_only_its_class_teachers_delete_it_and_who_cannot_see_it_hears_of_no_such_document(
    nodes: Nodes,
) -> None:
    document = await _document(nodes)
    unknown = await _refusal(nodes.a, "Léa Martin", "doc-0000000000000000", nodes)
    assert unknown.code is ErrorCode.NOT_FOUND
    for name, who in REFUSED.items():
        for node in (nodes.a, nodes.b):
            refused = await _refusal(node, name, document.id, nodes)
            assert (refused.code, refused.message) == (unknown.code, unknown.message), who
    for name, who in SEE_IT.items():
        for node in (nodes.a, nodes.b):
            refused = await _refusal(node, name, document.id, nodes)
            assert refused.code is ErrorCode.FORBIDDEN, who
    assert await nodes.a.documents.store.document(document.id) == document

    for name in MANAGERS:
        mine = await _document(nodes, f"de {name}")
        member = nodes.member(nodes.b, name)
        deleted = await nodes.b.documents.delete(member, mine.id)
        assert deleted == mine
        assert await nodes.a.documents.store.document(mine.id) is None
        # A second deletion: the unknown document's answer.
        again = await _refusal(nodes.a, name, mine.id, nodes)
        assert (again.code, again.message) == (unknown.code, unknown.message)
    assert await nodes.a.documents.store.document(document.id) == document


async def _joined(node: Services, person_id: str, document_id: str) -> SimClient:
    client = SimClient(person_id, await node.documents.access(person_id, document_id))
    client.room = await node.documents.rooms.join(document_id, client)
    return client


async def test_its_sockets_close_on_every_node_and_its_people_are_told(nodes: Nodes) -> None:
    document = await _document(nodes)
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    camille = nodes.member(nodes.a, "Camille Martin")
    on_a = [await _joined(nodes.a, lea.id, document.id),
            await _joined(nodes.a, claire.id, document.id)]
    on_b = [await _joined(nodes.b, lea.id, document.id),
            await _joined(nodes.b, camille.id, document.id)]
    assert [c.access for c in on_a + on_b] == [Access.WRITE] * 3 + [Access.READ]
    room_b = nodes.b.documents.rooms.rooms[document.id]
    watchers = {name: Client(nodes, node, name) for name, node in (
        ("Léa Martin", nodes.b), ("Camille Martin", nodes.a), ("Anne Roux", nodes.b),
        ("Inès Petit", nodes.a), ("Hugo Bernard", nodes.a), ("Sophie Faure", nodes.b))}

    await nodes.a.documents.delete(claire, document.id)

    # This node: closed at once, the room closed and its replica dropped.
    assert [c.closed_with for c in on_a] == [CLOSE_FORBIDDEN] * 2
    assert document.id not in nodes.a.documents.rooms.rooms
    # The other node: closed as the notice arrives (then the sockets leave).
    for _ in range(500):
        if all(c.closed_with is not None for c in on_b):
            break
        await asyncio.sleep(0.01)
    assert [c.closed_with for c in on_b] == [CLOSE_FORBIDDEN] * 2
    assert room_b.peers == {}
    for node in (nodes.a, nodes.b):
        assert await node.documents.access(lea.id, document.id) is Access.NONE
        assert await node.documents.access(claire.id, document.id) is Access.NONE

    # Whoever could see it is told, on any node (their lists refresh); the
    # others are not.
    for name in ("Léa Martin", "Camille Martin", "Anne Roux", "Inès Petit"):
        [changed] = await watchers[name].wait("document.changed")
        assert changed == {"ev": "document.changed", "document": document.id}, name
    await barrier(nodes, watchers["Hugo Bernard"], watchers["Sophie Faure"])
    assert watchers["Hugo Bernard"].events("document.changed") == []
    assert watchers["Sophie Faure"].events("document.changed") == []
    # Nobody lists it any more.
    for node in (nodes.a, nodes.b):
        for person in (claire, lea, camille):
            assert document.id not in [o.document.id
                                       for o in await node.documents.list_for(person)]
