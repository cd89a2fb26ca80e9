"""A directory change re-checks open documents on every node: a pupil moved to
another class by an import loses the document at once, wherever she is connected.

Two nodes in this process (tests/server/twonodes.py): one SQLite store, one bus.
"""

from __future__ import annotations

import pytest

from preau.collab.ports import Access
from preau.collab.room import CLOSE_FORBIDDEN
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.documents.model import DocumentKind
from preau.server.errors import PreauError
from tests.collab.harness import SimClient
from tests.server.twonodes import Nodes


async def reimport(nodes: Nodes, line: str, changed: str) -> None:
    """The demo school imported again with ``line`` changed (as `preau import`
    would, beside the nodes); each node notices it (its directory watch)."""
    rows = demo_csv().replace(line, changed)
    assert rows != demo_csv()
    await import_directory(
        nodes.a.store, parse_csv(rows), uai=DEMO_UAI, school_name=DEMO_NAME,
        timezone=DEMO_TIMEZONE, activation_ttl_s=3600, now_ms=nodes.a.clock.now_ms(),
    )
    for node in (nodes.a, nodes.b):
        assert await node.directory.refresh_changed()


async def test_a_pupil_moved_to_another_class_is_cut_on_every_node(nodes: Nodes) -> None:
    teacher = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    class_6ea = next(iter(lea.classes))
    document = await nodes.a.documents.create(teacher, class_6ea, "Exposé", DocumentKind.TEXT)

    lea_client = SimClient(lea.id, await nodes.b.documents.access(lea.id, document.id))
    hugo_client = SimClient(hugo.id, await nodes.b.documents.access(hugo.id, document.id))
    assert lea_client.access is Access.WRITE
    room_b = await nodes.b.documents.rooms.join(document.id, lea_client)
    lea_client.room = room_b
    await nodes.b.documents.rooms.join(document.id, hugo_client)
    hugo_client.room = room_b

    # An import moves Léa to 6eB.
    await reimport(nodes, "E001;pupil;Martin;Léa;6eA;;", "E001;pupil;Martin;Léa;6eB;;")

    assert lea_client.closed_with == CLOSE_FORBIDDEN
    assert lea_client.id not in room_b.peers
    assert hugo_client.closed_with is None
    assert await nodes.a.documents.access(lea.id, document.id) is Access.NONE


async def test_a_named_parent_who_lost_custody_is_cut_on_every_node(nodes: Nodes) -> None:
    """A reader named by a teacher reads while the circle of trust still
    reaches them: a parent whose link to the class's pupil ends (custody, the
    child left) loses the document on every node, and it answers as unknown."""
    teacher = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    camille = nodes.member(nodes.a, "Camille Martin")
    julien = nodes.member(nodes.a, "Julien Bernard")
    class_6ea = next(iter(lea.classes))
    document = await nodes.a.documents.create(
        teacher, class_6ea, "Sortie", DocumentKind.TEXT, readers=[camille.id, julien.id])

    camille_client = SimClient(camille.id, await nodes.b.documents.access(camille.id, document.id))
    julien_client = SimClient(julien.id, await nodes.b.documents.access(julien.id, document.id))
    assert camille_client.access is Access.READ
    room_b = await nodes.b.documents.rooms.join(document.id, camille_client)
    camille_client.room = room_b
    await nodes.b.documents.rooms.join(document.id, julien_client)
    julien_client.room = room_b
    assert [o.document.id for o in await nodes.a.documents.list_for(camille)] == [document.id]

    # The next import makes Camille the parent of a kindergarten pupil instead
    # of Léa: no teacher of 6eA reaches her any more.
    await reimport(nodes, "P001;parent;Martin;Camille;;E001;;",
                   "P001;parent;Martin;Camille;;E013;;")

    assert camille_client.closed_with == CLOSE_FORBIDDEN
    assert camille_client.id not in room_b.peers
    assert julien_client.closed_with is None
    camille_now = nodes.member(nodes.a, "Camille Martin")
    for node in (nodes.a, nodes.b):
        assert await node.documents.access(camille.id, document.id) is Access.NONE
        assert await node.documents.list_for(camille_now) == []
        with pytest.raises(PreauError) as refused:
            await node.documents.open(camille_now, document.id)
        with pytest.raises(PreauError) as unknown:
            await node.documents.open(camille_now, "doc-0000000000000000")
        assert (refused.value.code, str(refused.value)) == (
            unknown.value.code, str(unknown.value))
