"""Faults on a two-node cluster: a node killed, Redis restarted, a client that stops reading.

Every test checks what a person would see: no acknowledged message lost, none
shown twice, every client caught up within a bounded time
(reference/security.md, "Delivery and faults"). The room is 6eA of the demo
school; Léa Martin posts, classmates and their teacher read.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from preau_client import PreauError

from tests.multinode.cluster import (
    Cluster,
    Follower,
    Node,
    Sender,
    class_room,
    cut_from_redis,
    running_cluster,
    wait_until,
)
from tests.multinode.conftest import People
from tests.services import RedisServer

pytestmark = pytest.mark.slow

QUEUE_FRAMES = 32
PRESENCE_TTL_S = 3.0  # heartbeats every second: presence lost with Redis comes back fast


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str,
    redis_server: RedisServer,
) -> Iterator[Cluster]:
    # A small send queue for the slow reader; send limits out of the way of floods.
    with running_cluster(
        tmp_path_factory.mktemp("cluster-faults"), cluster_database_url, redis_server.url,
        size=2, env={
            "PREAU_SEND_QUEUE_FRAMES": str(QUEUE_FRAMES), "PREAU_MAX_MESSAGE_CHARS": "30000",
            "PREAU_SENDS_PER_S": "1000", "PREAU_SENDS_BURST": "1000",
            "PREAU_OPS_PER_S": "1000", "PREAU_OPS_BURST": "1000",
            "PREAU_PRESENCE_TTL_S": str(PRESENCE_TTL_S),
        },
    ) as started:
        yield started


def assert_exactly_once(follower: Follower, expected: list[int], who: str) -> None:
    assert follower.duplicates == [], f"{who} was shown {follower.duplicates} twice"
    assert follower.gaps == [], f"{who} skipped messages: {follower.gaps}"
    assert follower.seqs == expected, f"{who}: shown {follower.seqs}, expected {expected}"


async def health_is(node: Node, status: int, broker_ok: bool, timeout: float) -> float:
    """Wait until ``/api/health`` answers ``status`` with broker ok = ``broker_ok``."""
    seen: list[Any] = []

    async def check() -> bool:
        code, body = await node.health_status()
        seen[:] = [code, body]
        return code == status and body.get("broker", {}).get("ok") is broker_ok

    try:
        return await wait_until(check, timeout, interval=0.1)
    except TimeoutError:
        raise AssertionError(f"{node.node_id}: health still {seen} after {timeout} s, "
                             f"expected {status} with broker ok={broker_ok}") from None


async def test_a_node_killed_mid_broadcast(cluster: Cluster, people: People) -> None:
    """Its clients come back on the surviving node with ``since`` and miss nothing."""
    lea = await people("Léa Martin", 0)
    room = await class_room(lea)
    readers = [(await people(name, 0), nodes) for name, nodes in (
        ("Hugo Bernard", [1, 0]),  # on node B, which is killed: moves to node A
        ("Claire Lefèvre", [1, 0]),
        ("Chloé Dubois", [0, 1]),  # on node A all along
    )]
    followers = [await Follower(cluster, client, room, nodes).start()
                 for client, nodes in readers]
    head = followers[0].last
    try:
        async with await lea.connect() as conn:
            sender = Sender(conn, room)
            broadcast = asyncio.get_running_loop().create_task(
                sender.send_many(150, "diffusion", pause=0.005))
            await wait_until(lambda: len(sender.acked) >= 50, 15)
            cluster[1].kill()
            killed_with = len(sender.acked)
            await asyncio.wait_for(broadcast, 30)
        assert sender.errors == []
        expected = list(range(head + 1, head + 151))
        assert sender.acked == expected
        for follower in followers:
            took = await follower.caught_up(expected[-1], 10)
            assert took < 10
        for follower, (client, _) in zip(followers, readers, strict=True):
            assert_exactly_once(follower, expected, client.person["name"])
        for moved in followers[:2]:
            assert moved.visits[0]["node"] == 1
            assert moved.visits[-1]["node"] == 0, moved.visits
            assert moved.visits[-1]["since"] is not None
            assert moved.visits[-1]["since"] <= head + killed_with + 1  # it resumed
        assert len(followers[2].visits) == 1  # the survivor's client never noticed

        # Node B comes back on its port: a client resumes there too.
        await cluster[1].restart()
        late = await Follower(cluster, readers[0][0], room, [1]).start(since=head)
        try:
            await late.caught_up(expected[-1], 10)
            more = await post(people, room, 0, 5, "retour")
            for follower in [*followers, late]:
                await follower.caught_up(more[-1], 5)
            for follower in [*followers, late]:
                assert_exactly_once(follower, [*expected, *more], "after the restart")
        finally:
            await late.stop()
    finally:
        for follower in followers:
            await follower.stop()
        if not cluster[1].running:
            await cluster[1].restart()


async def post(people: People, room: str, node: int, count: int, prefix: str) -> list[int]:
    """Léa posts ``count`` messages through ``node``; their sequence numbers."""
    lea = await people("Léa Martin", node)
    async with await lea.connect() as conn:
        sender = Sender(conn, room)
        seqs = await sender.send_many(count, prefix)
        assert sender.errors == []
        return seqs


async def test_redis_restarted_mid_stream(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    """Sends go on while Redis is down (PostgreSQL has them); node B's clients get
    them when Redis is back (resync), all exactly once; health says degraded meanwhile."""
    lea = await people("Léa Martin", 0)
    room = await class_room(lea)
    followers = [
        await Follower(cluster, await people("Hugo Bernard", 0), room, [0, 1]).start(),
        await Follower(cluster, await people("Claire Lefèvre", 0), room, [1, 0]).start(),
        await Follower(cluster, await people("Nathan Thomas", 0), room, [1, 0]).start(),
    ]
    head = followers[0].last
    try:
        async with await lea.connect() as conn:
            sender = Sender(conn, room)
            before = await sender.send_many(20, "avant")
            for follower in followers:
                await follower.caught_up(before[-1], 5)

            await asyncio.to_thread(redis_server.stop)
            stopped_at = time.monotonic()
            for node in cluster.nodes:
                await health_is(node, 503, False, 10)
            during = await sender.send_many(20, "pendant", pause=0.02)
            assert sender.errors == [], "sends were refused while Redis was down"
            assert max(sender.latencies) < 2, f"slow acks while Redis was down: {sender.latencies}"
            # Node A's own client gets them live; node B's clients must wait for Redis.
            await followers[0].caught_up(during[-1], 5)
            for node in cluster.nodes:  # still down: the check above was no fluke
                await health_is(node, 503, False, 1)
            down_for = time.monotonic() - stopped_at

            await asyncio.to_thread(redis_server.start)
            back_at = time.monotonic()
            # No new message prompts anything: node B must resync by itself.
            for follower in followers:
                await follower.caught_up(during[-1], 5)
            caught_up_after = time.monotonic() - back_at
            for node in cluster.nodes:
                await health_is(node, 200, True, 10)

            after = await sender.send_many(10, "après")
            for follower in followers:
                await follower.caught_up(after[-1], 5)
            # Presence, lost with Redis, is rebuilt by the nodes' heartbeats.
            everyone = {"Hugo Bernard", "Claire Lefèvre", "Nathan Thomas"}  # the readers

            async def all_online() -> bool:
                try:
                    reply = await conn.request("presence.list", room=room)
                except PreauError as exc:
                    # The node's presence client may still be reconnecting: the
                    # answer says to retry, as a client would.
                    if exc.code == "unavailable":
                        return False
                    raise
                return {p["name"] for p in reply["online"]} >= everyone

            await wait_until(all_online, PRESENCE_TTL_S + 3, interval=0.2)
        expected = [*before, *during, *after]
        assert expected == list(range(head + 1, head + 51))
        for follower in followers:
            assert_exactly_once(follower, expected, f"client on node {follower.visits[0]['node']}")
            assert len(follower.visits) == 1, follower.visits  # kept its socket throughout
        assert caught_up_after < 5, (down_for, caught_up_after)
    finally:
        for follower in followers:
            await follower.stop()



async def test_a_node_cut_from_redis_catches_up_while_its_clients_stay(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    """Node B loses its Redis link (Redis itself stays up) just as node A posts:
    what B missed comes from the store (resync), exactly once, without any
    later message to reveal the gap; B's clients keep their sockets."""
    lea = await people("Léa Martin", 0)
    room = await class_room(lea)
    followers = [
        await Follower(cluster, await people(name, 0), room, [1]).start()
        for name in ("Hugo Bernard", "Claire Lefèvre")
    ]
    head = followers[0].last
    log_before = cluster[1].log_path.read_text(errors="replace").count("broker resync")
    try:
        async with await lea.connect() as conn:
            sender = Sender(conn, room)
            for round_ in range(5):
                cut = await asyncio.to_thread(cut_from_redis, redis_server.url, cluster[1].node_id)
                assert cut >= 1, "node B has no connection to Redis"
                last = (await sender.send_many(3, f"coupure {round_}"))[-1]
                for follower in followers:
                    await follower.caught_up(last, 5)
            await health_is(cluster[1], 200, True, 10)
        expected = list(range(head + 1, head + 16))
        assert sender.acked == expected
        for follower in followers:
            assert_exactly_once(follower, expected, "a client of node B")
            assert len(follower.visits) == 1, follower.visits  # never disconnected
        resyncs = cluster[1].log_path.read_text(errors="replace").count("broker resync")
        assert resyncs > log_before, "node B never resynced: the test did not exercise it"
    finally:
        for follower in followers:
            await follower.stop()


async def test_a_slow_reader_on_one_node_is_cut_and_resumes(
    cluster: Cluster, people: People
) -> None:
    """A client of node B stops reading while node A floods the room: node B cuts
    it (4008, TCP dropped) with its memory bounded; it resumes on node A exactly."""
    lea, hugo = await people("Léa Martin", 0), await people("Hugo Bernard", 1)
    room = await class_room(lea)
    node_b = cluster[1]
    # A socket with a tiny receive buffer, whose owner never reads it.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", node_b.port))
    slow = await websockets.connect(
        node_b.ws_url, sock=sock, max_queue=4, max_size=2**22,
        additional_headers={"authorization": f"Bearer {hugo.token}"})
    try:
        await slow.send(orjson.dumps({"id": 1, "op": "room.subscribe", "room": room}).decode())
        while True:
            frame = orjson.loads(await asyncio.wait_for(slow.recv(), 5))
            if frame.get("re") == 1:
                assert frame["ok"] is True, frame
                head = frame["head"]
                break
        code, health = await node_b.health_status()
        assert (code, health["gateway"]["connections"]) == (200, 1)
        baseline = peak = node_b.rss_bytes()

        cut_at = None
        async with await lea.connect() as conn:
            sender = Sender(conn, room)
            for i in range(400):
                await sender.send(f"{i:04d} " + "x" * 25_000)
                if i % 5 == 0:
                    peak = max(peak, node_b.rss_bytes())
                    if cut_at is None:
                        _, health = await node_b.health_status()
                        if health["gateway"]["connections"] == 0:
                            cut_at = i
                if cut_at is not None and i >= cut_at + 50:
                    break  # flooded well past the cut: nothing piles up for the dead socket
            peak = max(peak, node_b.rss_bytes())
        assert cut_at is not None, f"the slow client was not cut\n{cluster.logs()}"
        assert sender.errors == []
        growth = peak - baseline
        flood = len(sender.acked) * 25_000
        assert growth < 64 * 2**20, (
            f"node B grew by {growth / 2**20:.0f} MiB (baseline {baseline / 2**20:.0f} MiB) "
            f"for a {flood / 2**20:.0f} MiB flood")
        _, health = await node_b.health_status()
        assert health["gateway"] == {"connections": 0, "rooms": 0}  # nothing kept for it
    finally:
        slow.transport.abort()

    # It comes back, on the other node, from where it was.
    async with await people.on(hugo, 0).connect() as back:
        reply = await back.subscribe(room, since=head)
        assert reply["truncated"] is False
        replay = await back.messages(room, len(sender.acked), timeout=30)
        assert [m["seq"] for m in replay] == sender.acked
        with pytest.raises(TimeoutError):
            await back.next_event("chat.message", timeout=0.3)


# -- Server defects these tests found ------------------------------------------
# Defects these tests found, fixed since: they guard against their return.


async def test_a_logout_while_a_node_is_cut_from_redis_still_closes_its_sockets(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    ended = await people("Nathan Thomas", 0)
    on_b = await people.connect(people.on(ended, 1))
    assert await asyncio.to_thread(cut_from_redis, redis_server.url, cluster[1].node_id) >= 1
    await ended.logout()  # through node A, whose link is fine
    await health_is(cluster[1], 200, True, 10)  # node B is back on Redis
    try:
        await asyncio.wait_for(on_b.closed.wait(), 5)
    except TimeoutError:
        pytest.fail("the logged-out session's socket on node B is still open 5 s later")
    assert on_b.close_code == 4001
    # The revocation's broker message was lost for node B, which had the
    # session cached: its resync forgot it, the token opens nothing there.
    with pytest.raises(websockets.InvalidStatus) as refused:
        await people.connect(people.on(ended, 1))
    assert refused.value.response.status_code == 401


async def test_a_client_resumes_from_the_store_while_redis_is_down(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    lea, hugo = await people("Léa Martin", 0), await people("Hugo Bernard", 1)
    room = await class_room(lea)
    async with await lea.connect() as conn:
        sender = Sender(conn, room)
        sent = await sender.send_many(5, "avant la panne")
        await asyncio.to_thread(redis_server.stop)
        try:
            await health_is(cluster[1], 503, False, 10)
            async with await hugo.connect() as back:  # on node B
                reply = await back.subscribe(room, since=sent[0] - 1)
                assert reply["head"] == sent[-1]
                replay = await back.messages(room, 5)
                assert [m["seq"] for m in replay] == sent
                # Presence lives in Redis: a clear, retryable answer, not `internal`.
                with pytest.raises(PreauError) as degraded:
                    await back.request("presence.list", room=room)
                assert degraded.value.code == "unavailable"
        finally:
            await asyncio.to_thread(redis_server.start)
            for node in cluster.nodes:
                await health_is(node, 200, True, 10)


async def test_a_socket_closed_while_redis_is_down_leaves_no_room_behind(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    claire = await people("Claire Lefèvre", 1)  # teaches 6eA and 6eB
    conn = await people.connect(claire)
    for name in ("6eA", "6eB"):
        await conn.subscribe(await class_room(claire, name))
    _, health = await cluster[1].health_status()
    assert health["gateway"] == {"connections": 1, "rooms": 2}
    await asyncio.to_thread(redis_server.stop)
    try:
        await health_is(cluster[1], 503, False, 10)
        await conn.close()
        await asyncio.sleep(0.5)
    finally:
        await asyncio.to_thread(redis_server.start)
    await health_is(cluster[1], 200, True, 10)
    _, health = await cluster[1].health_status()
    assert health["gateway"] == {"connections": 0, "rooms": 0}


async def test_a_logout_during_a_redis_outage_closes_its_socket_on_the_other_node(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    """An outside probe: the socket stayed open, seated in its call and fed
    its signalling, for as long as Redis was down (31 s in one run)."""
    ended = await people("Manon Robert", 0)
    on_b = await people.connect(people.on(ended, 1))
    await asyncio.to_thread(redis_server.stop)
    try:
        await health_is(cluster[1], 503, False, 10)
        await ended.logout()  # through node A: the store says so, the broker cannot
        # Node B asks the store at each heartbeat while cut off (1 s here).
        await asyncio.wait_for(on_b.closed.wait(), 5)
        assert on_b.close_code == 4001
    finally:
        await asyncio.to_thread(redis_server.start)
        for node in cluster.nodes:
            await health_is(node, 200, True, 10)


async def test_a_logout_during_a_redis_outage_closes_its_document_socket_too(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    """An outside probe: the /collab socket of a session logged out during an
    outage stayed open, and saved what it typed, until Redis came back."""
    from tests.collab.yclient import YClient

    claire = await people("Claire Lefèvre", 0)
    klass = next(r["class_id"] for r in (await claire.me())["rooms"] if r["name"] == "6eA")
    document = (await claire.post("/api/documents", {"class": klass, "title": "Panne"}))["id"]
    ended = await people("Chloé Dubois", 0)
    on_b = await YClient.connect(f"ws://127.0.0.1:{cluster[1].port}", document, ended.token)
    try:
        async with asyncio.timeout(5):
            await on_b.synced.wait()
        await asyncio.to_thread(redis_server.stop)
        try:
            await health_is(cluster[1], 503, False, 10)
            await ended.logout()
            async with asyncio.timeout(5):
                await on_b.closed.wait()
            assert on_b.close_code == 4001
        finally:
            await asyncio.to_thread(redis_server.start)
            for node in cluster.nodes:
                await health_is(node, 200, True, 10)
    finally:
        await on_b.close()


async def test_call_events_made_during_a_redis_restart_reach_the_other_node(
    cluster: Cluster, people: People, redis_server: RedisServer
) -> None:
    """An outside probe: after a restart the node reconnecting first sent its
    queue before the other had subscribed again, and Redis dropped it: node
    B's pupils were never told of a mute or of the end of the call."""
    claire = await people("Claire Lefèvre", 0)
    pupils = [await people(name, 1) for name in ("Léa Martin", "Hugo Bernard")]
    room = await class_room(claire)
    teacher = await people.connect(claire)
    lea, hugo = [await people.connect(p) for p in pupils]
    created = await teacher.request("call.create", room=room)
    t = await teacher.request("call.join", call=created["call"])
    seat_lea = await lea.request("call.join", call=created["call"])
    await hugo.request("call.join", call=created["call"])
    await lea.next_event("call.peer_joined")  # Hugo

    async def during_a_restart(request: str, **params: object) -> None:
        await asyncio.to_thread(redis_server.stop)
        try:
            await health_is(cluster[0], 503, False, 10)
            await teacher.request(request, call=created["call"], peer=t["peer"], **params)
        finally:
            await asyncio.to_thread(redis_server.start)
        for node in cluster.nodes:
            await health_is(node, 200, True, 10)

    await during_a_restart("call.media", who=seat_lea["peer"], audio_muted=True)
    muted = await lea.next_event("call.peer_updated", timeout=10)
    assert (muted["peer"]["peer"], muted["peer"]["audio_muted"]) == (seat_lea["peer"], True)
    await during_a_restart("call.end")
    for conn in (lea, hugo):
        ended = await conn.next_event("call.ended", timeout=10)
        assert ended["reason"] == "ended_by_moderator"
