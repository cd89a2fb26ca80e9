"""Property: random concurrent edits, disconnects and reconnects across TWO nodes converge.

Two in-process nodes (each its own rooms and broker, on one in-memory bus, as
two processes share Redis) over ONE real SQL document store (a SQLite file),
with a small compaction threshold so compactions race the edits. Clients move
between nodes, edit offline and come back. At the end every client replica,
both nodes' replicas and the stored state (snapshot + log) hold the same text.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from preau.collab import codec
from preau.collab.ports import Access
from preau.collab.room import Limits
from preau.collab.rooms import DocumentRooms
from preau.server.broker.memory import MemoryBroker, MemoryBus
from preau.server.store.documents import SqlDocumentStore
from preau.server.store.factory import open_store
from tests.collab.harness import SimClient, StaticAuthoriser, deliver

DOC = "doc-prop"
CLIENTS = 3

edits = st.tuples(st.just("edit"), st.integers(0, CLIENTS - 1), st.integers(0, 40),
                  st.text(alphabet="abcxyz ", min_size=1, max_size=4))
ops = st.lists(
    st.one_of(
        edits, edits, edits,  # mostly typing
        st.tuples(st.just("delete"), st.integers(0, CLIENTS - 1), st.integers(0, 40),
                  st.integers(1, 3)),
        st.tuples(st.just("disconnect"), st.integers(0, CLIENTS - 1)),
        st.tuples(st.just("connect"), st.integers(0, CLIENTS - 1), st.integers(0, 1)),
        st.tuples(st.just("deliver"),),
    ),
    min_size=5, max_size=40,
)


async def _open_store(folder: Path) -> tuple[Any, SqlDocumentStore]:
    store = await open_store(f"sqlite:///{folder / 'prop.sqlite3'}")
    await store.migrate()
    documents = SqlDocumentStore(store.engine)
    async with documents.engine.transaction() as tx:
        await tx.execute("INSERT INTO schools (id, uai, name, timezone, created_ms)"
                         " VALUES ('s', '0000000A', 'École', 'Europe/Paris', 0)")
        await tx.execute("INSERT INTO classes (id, school_id, name, created_ms)"
                         " VALUES ('c', 's', '6eA', 0)")
        await tx.execute("INSERT INTO documents (id, school_id, class_id, title, created_by,"
                         " created_ms) VALUES ($1, 's', 'c', 'Propriété', 't', 0)", DOC)
    return store, documents


def _text(state_parts: list[bytes]) -> str:
    doc: Doc[Any] = Doc()
    for part in state_parts:
        doc.apply_update(part)
    return str(doc.get("content", type=Text))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
async def test_random_edits_across_two_nodes_converge(script: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, documents = await _open_store(Path(folder))
        bus = MemoryBus()
        auth = StaticAuthoriser()
        limits = Limits(compact_after_updates=4, catch_up_delay_s=0.005)
        brokers = [MemoryBroker(f"node-{i}", bus) for i in range(2)]
        nodes = [DocumentRooms(store=documents, broker=b, authoriser=auth, limits=limits,
                               now_ms=lambda: 0) for b in brokers]
        clients = [SimClient(f"p{i}") for i in range(CLIENTS)]
        where: dict[int, int] = {}
        for i in range(CLIENTS):
            auth.rights[(f"p{i}", DOC)] = Access.WRITE
        try:
            for i, client in enumerate(clients):
                room = await nodes[i % 2].join(DOC, client)
                client.room = room
                await room.receive(client, codec.sync_step1(client.doc.get_state()))
                where[i] = i % 2
            for op in script:
                kind = op[0]
                if kind == "edit":
                    await clients[op[1]].edit(op[2], op[3])
                elif kind == "delete":
                    await clients[op[1]].delete(op[2], op[3])
                elif kind == "disconnect" and clients[op[1]].room is not None:
                    client = clients[op[1]]
                    room = client.room
                    assert room is not None
                    client.room = None
                    client.inbox.clear()
                    await nodes[where[op[1]]].leave(room, client)
                elif kind == "connect" and clients[op[1]].room is None:
                    client = clients[op[1]]
                    client._id += "'"  # a new connection
                    room = await nodes[op[2]].join(DOC, client)
                    client.room = room
                    where[op[1]] = op[2]
                    await room.receive(client, codec.sync_step1(client.doc.get_state()))
                elif kind == "deliver":
                    await deliver(clients, nodes)
            # Everyone back online, everything delivered.
            for i, client in enumerate(clients):
                if client.room is None:
                    room = await nodes[i % 2].join(DOC, client)
                    client.room = room
                    where[i] = i % 2
                    await room.receive(client, codec.sync_step1(client.doc.get_state()))
            await deliver(clients, nodes)
            texts = {c.content() for c in clients}
            assert len(texts) == 1, texts
            final = texts.pop()
            for node in nodes:
                for room in node.rooms.values():
                    assert str(room.doc.get("content", type=Text)) == final
            stored = await documents.load_log(DOC)
            parts = ([stored.snapshot] if stored.snapshot else []) + [u for _, u in stored.updates]
            assert _text(parts) == final
        finally:
            for node in nodes:
                await node.close()
            for broker in brokers:
                await broker.close()
            await store.close()
