"""Video calls across nodes: peers on different nodes connect through signalling
carried by Redis, with the call's state in PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from preau_client import PreauError
from preau_client.call import CallPeer
from preau_client.peer import PatternTrack, confine_ice

from tests.multinode.cluster import Cluster, class_room, running_cluster
from tests.multinode.conftest import People

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str, redis_server_url: str
) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster-calls"), cluster_database_url, redis_server_url,
        size=2,
    ) as started:
        yield started


@pytest.fixture(autouse=True)
def loopback_ice() -> Iterator[None]:
    with confine_ice(["127.0.0.1"]):
        yield


async def test_two_peers_on_two_nodes_connect_through_the_broker(
    cluster: Cluster, people: People
) -> None:
    lea = await people("Léa Martin", 0)
    hugo = await people("Hugo Bernard", 1)
    on_a = await people.connect(lea)
    on_b = await people.connect(hugo)
    assert on_a.hello["node"] != on_b.hello["node"]
    room = await class_room(lea)
    created = await on_a.request("call.create", room=room, people=[hugo.person["id"]])
    first = CallPeer(on_a, created["call"], video=PatternTrack())
    second = CallPeer(on_b, created["call"], video=PatternTrack())
    try:
        await first.join()
        await second.join()  # offers to the first, across the broker
        assert first.peer is not None
        assert second.peer is not None
        got_a = await first.counter_from(second.peer)
        got_b = await second.counter_from(first.peer)
        assert await got_a.wait_for(10) >= 10
        assert await got_b.wait_for(10) >= 10
        # A control made on node B reaches the peer on node A.
        await second.request("call.hand", raised=True)
        raised = await first.next_event("call.peer_updated")
        assert (raised["peer"]["peer"], raised["peer"]["hand"]) == (second.peer, True)
        # Leaving on node B is seen on node A, and B's peer id is dead everywhere.
        await second.leave()
        left = await first.next_event("call.peer_left")
        assert left["peer"] == second.peer
        with pytest.raises(PreauError) as refused:
            await first.request("call.signal", to=second.peer, kind="offer",
                                sdp="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
        assert refused.value.code == "not_found"
    finally:
        await asyncio.gather(first.leave(), second.leave())


async def test_a_moderator_on_one_node_admits_and_removes_a_pupil_on_the_other(
    cluster: Cluster, people: People
) -> None:
    claire = await people("Claire Lefèvre", 0)
    chloe = await people("Chloé Dubois", 1)
    teacher_ws = await people.connect(claire)
    pupil_ws = await people.connect(chloe)
    room = await class_room(claire)
    created = await teacher_ws.request("call.create", room=room,
                                       controls={"lobby": "ask_moderator"})
    teacher = CallPeer(teacher_ws, created["call"], video=PatternTrack())
    pupil = CallPeer(pupil_ws, created["call"], video=PatternTrack())
    try:
        await teacher.join()
        reply = await pupil.join()
        assert reply["admitted"] is False
        lobby = await teacher.next_event("call.lobby")
        assert [w["peer"] for w in lobby["waiting"]] == [pupil.peer]
        await teacher.request("call.admit", who=pupil.peer)
        await asyncio.wait_for(pupil.admitted.wait(), 10)
        assert pupil.peer is not None
        assert teacher.peer is not None
        assert await (await teacher.counter_from(pupil.peer)).wait_for(5) >= 5
        await teacher.request("call.remove", who=pupil.peer)
        await asyncio.wait_for(pupil.ended.wait(), 10)
        assert pupil.end_reason == "removed"
        with pytest.raises(PreauError) as again:
            await pupil_ws.request("call.join", call=created["call"])
        assert again.value.code == "forbidden"
    finally:
        await asyncio.gather(teacher.leave(), pupil.leave())
