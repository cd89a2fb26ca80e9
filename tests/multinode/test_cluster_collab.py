"""Shared documents across two ``preau serve`` processes on one PostgreSQL and one Redis.

Stock Yjs clients (Node) and pycrdt clients on different nodes edit one
document and converge; awareness crosses nodes; a rights change made through
one node cuts or downgrades connections on the other at once; compaction runs
under concurrent edits on both nodes and the stored state stays complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import websockets

from preau.collab import codec
from tests.collab.node_client import NodeYClient
from tests.collab.yclient import YClient
from tests.multinode.cluster import Cluster, cut_from_redis, running_cluster
from tests.multinode.conftest import People

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str, redis_server_url: str
) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster-collab"), cluster_database_url, redis_server_url,
        size=2, env={"PREAU_COLLAB_COMPACT_AFTER": "25"},
    ) as started:
        yield started


class Sockets:
    def __init__(self) -> None:
        self.y: list[YClient] = []
        self.node: list[NodeYClient] = []

    async def close(self) -> None:
        for client in self.y:
            await client.close()
        for node in self.node:
            await node.close()


@pytest.fixture
async def sockets() -> Iterator[Sockets]:  # type: ignore[misc]
    found = Sockets()
    try:
        yield found
    finally:
        await found.close()


def ws(cluster: Cluster, node: int) -> str:
    return f"ws://127.0.0.1:{cluster[node].port}"


async def new_document(people: People, **body: object) -> str:
    teacher = await people("Claire Lefèvre")
    rooms = (await teacher.me())["rooms"]
    klass = next(r["class_id"] for r in rooms if r["name"] == "6eA")
    created = await teacher.post("/api/documents", {"class": klass, "title": "Sciences",
                                                    **body})
    return str(created["id"])


async def synced(sockets: Sockets, url: str, document: str, token: str) -> YClient:
    client = await YClient.connect(url, document, token)
    sockets.y.append(client)
    async with asyncio.timeout(5):
        await client.synced.wait()
    return client


async def test_yjs_clients_on_two_nodes_converge(
    cluster: Cluster, people: People, sockets: Sockets
) -> None:
    document = await new_document(people)
    lea = await people("Léa Martin")
    hugo = await people("Hugo Bernard", node=1)
    teacher = await people("Claire Lefèvre")
    node_lea = await NodeYClient.start(ws(cluster, 0) + "/collab", document, lea.token)
    sockets.node.append(node_lea)
    node_hugo = await NodeYClient.start(ws(cluster, 1) + "/collab", document, hugo.token)
    sockets.node.append(node_hugo)
    await node_lea.wait_event("synced")
    await node_hugo.wait_event("synced")
    py_teacher = await synced(sockets, ws(cluster, 1), document, teacher.token)

    await node_lea.command("insert", index=0, text="Noeud A. ")
    await node_hugo.wait_text("Noeud A. ")
    await node_hugo.command("insert", index=9, text="Noeud B.")
    py_teacher.text.insert(0, ">> ")
    expected = ">> Noeud A. Noeud B."
    await node_lea.wait_text(expected)
    await node_hugo.wait_text(expected)
    await py_teacher.wait_text(expected)

    # Awareness crosses nodes too.
    await node_lea.command("awareness", state={"user": "Léa"})
    await py_teacher.wait(lambda: node_lea.client_id in py_teacher.awareness)


async def test_rights_change_on_one_node_applies_on_the_other(
    cluster: Cluster, people: People, sockets: Sockets
) -> None:
    lea = await people("Léa Martin")
    hugo = await people("Hugo Bernard")
    document = await new_document(people, editors=[lea.person["id"], hugo.person["id"]])
    on_b_hugo = await synced(sockets, ws(cluster, 1), document, hugo.token)
    on_b_lea = await synced(sockets, ws(cluster, 1), document, lea.token)

    teacher = await people("Claire Lefèvre")  # acts through node 0
    await teacher.put(f"/api/documents/{document}/people", {"editors": [lea.person["id"]]})
    async with asyncio.timeout(5):
        await on_b_hugo.closed.wait()
    assert on_b_hugo.close_code == 4403
    with pytest.raises(websockets.InvalidStatus):
        await YClient.connect(ws(cluster, 1), document, hugo.token)

    await teacher.post(f"/api/documents/{document}/lock")
    await on_b_lea.wait(lambda: any("read-only" in r for r in on_b_lea.denied))
    on_b_lea.text.insert(0, "refusé")
    await on_b_lea.wait(lambda: len(on_b_lea.denied) >= 2)
    exported = await teacher.get(f"/api/documents/{document}/export")
    assert exported["content"] == ""


async def test_concurrent_edits_and_compaction_on_both_nodes_keep_everything(
    cluster: Cluster, people: People, sockets: Sockets
) -> None:
    document = await new_document(people)
    lea = await people("Léa Martin")
    hugo = await people("Hugo Bernard", node=1)
    on_a = await synced(sockets, ws(cluster, 0), document, lea.token)
    on_b = await synced(sockets, ws(cluster, 1), document, hugo.token)
    for i in range(60):
        on_a.text.insert(0, "a")
        on_b.text.insert(len(on_b.text), "b")
        if i % 10 == 0:
            await asyncio.sleep(0.01)
    # Each replica wakes on its own changes only: wait for each, then compare.
    await on_a.wait(lambda: len(on_a.text) == 120, timeout=10)
    await on_b.wait(lambda: len(on_b.text) == 120, timeout=10)
    assert str(on_a.text) == str(on_b.text)

    teacher = await people("Claire Lefèvre", node=1)
    exported = await teacher.get(f"/api/documents/{document}/export")
    assert exported["content"] == str(on_a.text)
    # A late joiner on either node gets exactly that.
    late = await synced(sockets, ws(cluster, 0), document, teacher.token)
    assert str(late.text) == str(on_a.text)
    # Cross-node awareness removal when a connection closes.
    on_a.send(codec.awareness([codec.AwarenessEntry(on_a.doc.client_id, 1, '{"u":1}')]))
    await on_b.wait(lambda: on_a.doc.client_id in on_b.awareness)
    await on_a.close()
    await on_b.wait(lambda: on_a.doc.client_id not in on_b.awareness)


async def test_logout_on_one_node_closes_document_sockets_on_the_other(
    cluster: Cluster, people: People, sockets: Sockets
) -> None:
    document = await new_document(people)
    lea = await people("Léa Martin")
    on_b = await synced(sockets, ws(cluster, 1), document, lea.token)
    await lea.logout()  # through node 0
    async with asyncio.timeout(5):
        await on_b.closed.wait()
    assert on_b.close_code == 4001



async def test_a_node_cut_from_redis_catches_up_from_the_store(
    cluster: Cluster, people: People, sockets: Sockets, redis_server_url: str
) -> None:
    """Node 1 loses its Redis link while node 0's client types: the updates it
    missed come from the store (broker resync), with no later edit to reveal
    the gap, and its client's socket stays open."""
    document = await new_document(people)
    lea = await people("Léa Martin")
    hugo = await people("Hugo Bernard", node=1)
    writer = await synced(sockets, ws(cluster, 0), document, lea.token)
    reader = await synced(sockets, ws(cluster, 1), document, hugo.token)
    resyncs_before = cluster[1].log_path.read_text(errors="replace").count("resync")
    for round_ in range(3):
        cut = await asyncio.to_thread(cut_from_redis, redis_server_url, cluster[1].node_id)
        assert cut >= 1, "node 1 has no connection to Redis"
        writer.text.insert(len(writer.text), f"[{round_}]")
        await reader.wait_text(str(writer.text), timeout=15)
    assert not reader.closed.is_set()
    assert str(reader.text) == "[0][1][2]"
    resyncs = cluster[1].log_path.read_text(errors="replace").count("resync")
    assert resyncs > resyncs_before, "node 1 never resynced: the test did not exercise it"
