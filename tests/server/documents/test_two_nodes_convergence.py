"""Property, on the real services: two nodes built by the composition root
(tests/server/twonodes.py: one SQLite store, one in-memory bus), pupils of the
demo school with their real rights, random edits, disconnects, offline edits
and reconnects to either node, compactions racing. Every client, both nodes'
replicas and the stored state end up with the same text."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Text

from preau.collab import codec
from preau.collab.compaction import merge_log
from preau.collab.content import read
from preau.collab.room import Limits
from preau.server.documents.model import DocumentKind
from preau.server.services import Services
from tests.collab.harness import SimClient, deliver
from tests.server.twonodes import Nodes

PUPILS = ("Léa Martin", "Hugo Bernard", "Chloé Dubois")

edits = st.tuples(st.just("edit"), st.integers(0, 2), st.integers(0, 30),
                  st.text(alphabet="abxy ", min_size=1, max_size=3))
script = st.lists(
    st.one_of(
        edits, edits, edits,  # mostly typing
        st.tuples(st.just("delete"), st.integers(0, 2), st.integers(0, 30), st.integers(1, 3)),
        st.tuples(st.just("disconnect"), st.integers(0, 2)),
        st.tuples(st.just("connect"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("deliver"),),
    ),
    min_size=5, max_size=40,
)


async def connect(client: SimClient, node: Services, document: str) -> None:
    client.access = await node.documents.access(client.person_id, document)
    client._id += "'"  # a new connection
    client.room = await node.documents.rooms.join(document, client)
    await client.room.receive(client, codec.sync_step1(client.doc.get_state()))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=script)
async def test_two_real_nodes_converge(nodes: Nodes, steps: list[tuple[Any, ...]]) -> None:
    teacher = nodes.member(nodes.a, "Claire Lefèvre")
    pupils = [nodes.member(nodes.a, name) for name in PUPILS]
    document = (await nodes.a.documents.create(
        teacher, next(iter(pupils[0].classes)), "Propriété", DocumentKind.TEXT)).id
    node_of = [nodes.a, nodes.b]
    for node in node_of:
        # Compact every few updates, so compactions race the edits on both nodes.
        node.documents.rooms.limits = Limits(compact_after_updates=4, catch_up_delay_s=0.005)
    clients = [SimClient(p.id) for p in pupils]
    where = {}
    for i, client in enumerate(clients):
        await connect(client, node_of[i % 2], document)
        where[i] = i % 2
    try:
        for step in steps:
            i = step[1] if len(step) > 1 else 0
            client = clients[i]
            if step[0] == "edit":
                await client.edit(step[2], step[3])
            elif step[0] == "delete":
                await client.delete(step[2], step[3])
            elif step[0] == "disconnect" and client.room is not None:
                room, client.room = client.room, None
                client.inbox.clear()
                await node_of[where[i]].documents.rooms.leave(room, client)
            elif step[0] == "connect" and client.room is None:
                await connect(client, node_of[step[2]], document)
                where[i] = step[2]
            elif step[0] == "deliver":
                await deliver(clients, [n.documents.rooms for n in node_of])
        for i, client in enumerate(clients):
            if client.room is None:
                await connect(client, node_of[i % 2], document)
                where[i] = i % 2
        await deliver(clients, [n.documents.rooms for n in node_of])

        texts = {c.content() for c in clients}
        assert len(texts) == 1, texts
        final = texts.pop()
        for node in node_of:
            room = node.documents.rooms.rooms.get(document)
            if room is not None:
                assert str(room.doc.get("content", type=Text)) == final
        stored = await nodes.a.documents.store.load_log(document)
        parts = ([stored.snapshot] if stored.snapshot else []) + [u for _, u in stored.updates]
        assert read(merge_log(parts), "text") == final
        # What a teacher exports is that text too.
        assert (await nodes.b.documents.export(teacher, document))[1] == final
    finally:
        for i, client in enumerate(clients):
            if client.room is not None:
                room, client.room = client.room, None
                await node_of[where[i]].documents.rooms.leave(room, client)
