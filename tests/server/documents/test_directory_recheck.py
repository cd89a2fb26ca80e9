"""A directory change re-checks open documents on every node: a pupil moved to
another class by an import loses the document at once, wherever she is connected.

Two nodes in this process (tests/server/twonodes.py): one SQLite store, one bus.
"""

from __future__ import annotations

from preau.collab.ports import Access
from preau.collab.room import CLOSE_FORBIDDEN
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.documents.model import DocumentKind
from tests.collab.harness import SimClient
from tests.server.twonodes import Nodes


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

    # An import moves Léa to 6eB (as `preau import` would, beside the nodes).
    moved = demo_csv().replace("E001;pupil;Martin;Léa;6eA;;", "E001;pupil;Martin;Léa;6eB;;")
    assert moved != demo_csv()
    await import_directory(
        nodes.a.store, parse_csv(moved), uai=DEMO_UAI, school_name=DEMO_NAME,
        timezone=DEMO_TIMEZONE, activation_ttl_s=3600, now_ms=nodes.a.clock.now_ms(),
    )
    # Each node notices the change (its directory watch) and re-checks.
    for node in (nodes.a, nodes.b):
        assert await node.directory.refresh_changed()

    assert lea_client.closed_with == CLOSE_FORBIDDEN
    assert lea_client.id not in room_b.peers
    assert hugo_client.closed_with is None
    assert await nodes.a.documents.access(lea.id, document.id) is Access.NONE
