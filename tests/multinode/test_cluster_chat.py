"""Class chat across nodes: two ``preau serve`` processes on one PostgreSQL and one Redis.

What one node accepts reaches clients on the other, in order and once; presence,
logout and the per-account send rate are global; a client may resume on any node.
The demo school: Léa Martin, Hugo Bernard, Chloé Dubois, Nathan Thomas and Manon
Robert are pupils of 6eA, Claire Lefèvre teaches it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets
from preau_client import LiveConnection, PreauError

from tests.multinode.cluster import Cluster, class_room, room_head, running_cluster, wait_until
from tests.multinode.conftest import People

pytestmark = pytest.mark.slow

PRESENCE_TTL_S = 3.0


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str, redis_server_url: str
) -> Iterator[Cluster]:
    # Default send limits (2 per second, burst 10): the rate-limit test relies on them.
    with running_cluster(
        tmp_path_factory.mktemp("cluster-chat"), cluster_database_url, redis_server_url,
        size=2, env={"PREAU_PRESENCE_TTL_S": str(PRESENCE_TTL_S)},
    ) as started:
        yield started


async def next_matching(
    conn: LiveConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """The next event for which ``predicate`` holds (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.events.get()
            if predicate(event):
                return event


async def no_more_messages(conn: LiveConnection, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await conn.next_event("chat.message", timeout=wait)


async def names_online(conn: LiveConnection, room: str) -> set[str]:
    return {p["name"] for p in (await conn.request("presence.list", room=room))["online"]}


async def test_clients_on_two_nodes_chat_both_ways(cluster: Cluster, people: People) -> None:
    lea, hugo = await people("Léa Martin", 0), await people("Hugo Bernard", 1)
    room = await class_room(lea)
    async with await lea.connect() as a, await hugo.connect() as b:
        assert (a.hello["node"], b.hello["node"]) == (cluster[0].node_id, cluster[1].node_id)
        head = (await a.subscribe(room))["head"]
        assert (await b.subscribe(room))["head"] == head

        async def post(conn: LiveConnection, who: str) -> list[int]:
            return [(await conn.send_message(room, f"{who} {i}"))["seq"] for i in range(8)]

        # Both post at once, so commits from the two nodes interleave.
        from_a, from_b = await asyncio.gather(post(a, "A"), post(b, "B"))
        everything = sorted(from_a + from_b)
        assert everything == list(range(head + 1, head + 17))
        authors = {seq: "Léa Martin" for seq in from_a} | {seq: "Hugo Bernard" for seq in from_b}
        for conn in (a, b):
            shown = await conn.messages(room, 16)
            assert [m["seq"] for m in shown] == everything  # in order, each once
            assert all(m["sender"]["name"] == authors[m["seq"]] for m in shown)
            await no_more_messages(conn)


async def test_a_subscription_on_one_node_sees_what_the_other_committed(
    cluster: Cluster, people: People
) -> None:
    claire, hugo = await people("Claire Lefèvre", 0), await people("Hugo Bernard", 1)
    room = await class_room(claire)
    async with await claire.connect() as a:
        head = (await a.subscribe(room))["head"]
        before = [(await a.send_message(room, f"avant {i}"))["seq"] for i in range(3)]
        async with await hugo.connect() as b, await hugo.connect() as b2:
            # A fresh subscription on node B starts at the head node A committed...
            assert (await b2.subscribe(room))["head"] == before[-1]
            # ...and one with ``since`` replays from the shared store.
            reply = await b.subscribe(room, since=head)
            assert (reply["head"], reply["truncated"]) == (before[-1], False)
            assert [m["seq"] for m in await b.messages(room, 3)] == before
            after = (await a.send_message(room, "en direct"))["seq"]
            for conn in (b, b2):
                [shown] = await conn.messages(room, 1)
                assert (shown["seq"], shown["body"]) == (after, "en direct")
                await no_more_messages(conn)


async def test_presence_crosses_nodes(cluster: Cluster, people: People) -> None:
    lea, hugo = await people("Léa Martin", 0), await people("Hugo Bernard", 1)
    room = await class_room(lea)

    def about_hugo(kind: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: e.get("ev") == kind and e["person"]["name"] == "Hugo Bernard"

    async with await lea.connect() as a:
        await a.subscribe(room)
        b = await people.connect(hugo)
        reply = await b.subscribe(room)
        # Hugo, on node B, is told Léa (node A) is there...
        assert "Léa Martin" in {p["name"] for p in reply["online"]}
        # ...and Léa is told he arrived, on node A.
        joined = await next_matching(a, about_hugo("presence.join"))
        assert joined["room"] == room
        assert {"Léa Martin", "Hugo Bernard"} <= await names_online(a, room)
        assert {"Léa Martin", "Hugo Bernard"} <= await names_online(b, room)

        # Hugo opens a second socket, on node A: he was online already.
        b2 = await people.connect(people.on(hugo, 0))
        await b2.subscribe(room)
        with pytest.raises(TimeoutError):
            await next_matching(a, about_hugo("presence.join"), timeout=0.5)
        # Closing the node B one leaves him online through node A.
        await b.close()
        with pytest.raises(TimeoutError):
            await next_matching(a, about_hugo("presence.leave"), timeout=0.5)
        assert "Hugo Bernard" in await names_online(a, room)
        # His last socket goes: Léa is told.
        await b2.close()
        left = await next_matching(a, about_hugo("presence.leave"))
        assert left["room"] == room
        assert "Hugo Bernard" not in await names_online(a, room)


async def test_logout_on_one_node_closes_the_sessions_sockets_on_the_other(
    cluster: Cluster, people: People
) -> None:
    ended = await people("Nathan Thomas", 0)  # logs out through node A
    kept = await people("Nathan Thomas", 1)  # another session of the same person
    on_b = await people.connect(people.on(ended, 1))
    other_on_b = await people.connect(kept)
    assert on_b.hello["node"] == cluster[1].node_id
    await ended.logout()
    await asyncio.wait_for(on_b.closed.wait(), 5)
    assert on_b.close_code == 4001
    assert (await other_on_b.request("ping"))["ok"] is True
    # Node B had the session cached (its socket): the token opens nothing there now.
    with pytest.raises(websockets.InvalidStatus) as refused:
        await people.connect(people.on(ended, 1))
    assert refused.value.response.status_code == 401


async def test_resume_on_another_node_gets_exactly_what_was_missed(
    cluster: Cluster, people: People
) -> None:
    # Chloé posts (the send limit is per account, for the whole cluster: Léa
    # spent hers in the first test), Hugo reads.
    chloe, hugo = await people("Chloé Dubois", 1), await people("Hugo Bernard", 0)
    room = await class_room(chloe)
    async with await chloe.connect() as sender:  # on node B
        await sender.subscribe(room)
        on_a = await people.connect(hugo)  # Hugo reads on node A
        await on_a.subscribe(room)
        first = [(await sender.send_message(room, f"avant {i}"))["seq"] for i in range(3)]
        seen = await on_a.messages(room, 3)
        assert [m["seq"] for m in seen] == first
        await on_a.close()

        missed = [(await sender.send_message(room, f"pendant {i}"))["seq"] for i in range(5)]
        async with await people.on(hugo, 1).connect() as on_b:  # comes back on node B
            reply = await on_b.subscribe(room, since=seen[-1]["seq"])
            assert (reply["truncated"], reply["first_seq"]) == (False, missed[0])
            replay = await on_b.messages(room, 5)
            assert [m["seq"] for m in replay] == missed
            assert [m["body"] for m in replay] == [f"pendant {i}" for i in range(5)]
            after = (await sender.send_message(room, "après"))["seq"]
            [live] = await on_b.messages(room, 1)
            assert live["seq"] == after
            await no_more_messages(on_b)


async def test_the_send_rate_limit_holds_across_nodes(cluster: Cluster, people: People) -> None:
    """Posting through two nodes at once does not double the per-account burst."""
    manon = await people("Manon Robert", 0)
    room = await class_room(manon)
    burst, rate = 10, 2.0  # PREAU_SENDS_BURST and PREAU_SENDS_PER_S defaults (Manon's
    # bucket is full: she posts nowhere else in this module)
    async with await manon.connect() as a, await people.on(manon, 1).connect() as b:

        refusals: list[str] = []

        async def flood(conn: LiveConnection, node: str) -> list[int]:
            accepted = []
            for i in range(burst + 5):
                try:
                    accepted.append((await conn.send_message(room, f"{node} {i}"))["seq"])
                except PreauError as refused:
                    refusals.append(refused.code)
            return accepted

        start = time.monotonic()
        on_a, on_b = await asyncio.gather(flood(a, "A"), flood(b, "B"))
        elapsed = time.monotonic() - start
    assert set(refusals) <= {"rate_limited"}
    refill = math.ceil(elapsed * rate) + 1
    assert len(on_a) + len(on_b) <= burst + refill, (
        f"{len(on_a)} accepted on node A and {len(on_b)} on node B in {elapsed:.2f} s: "
        f"the limit is per node, not per account (burst {burst}, refill margin {refill})"
    )


async def test_reactions_are_counted_exactly_on_both_nodes(
    cluster: Cluster, people: People
) -> None:
    """Reactions from both nodes at once (PostgreSQL serialises them per
    message): the highest revision every client keeps carries the exact
    counts on each node; a resume on the other node repaints them."""
    claire = await people("Claire Lefèvre", 0)
    room = await class_room(claire)
    reactors = [await people(name, i % 2) for i, name in enumerate(
        ("Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas"))]
    async with await claire.connect() as on_a, \
            await people.on(await people("Julien Garnier", 0), 1).connect() as on_b:
        await on_a.subscribe(room)
        await on_b.subscribe(room)
        seq = (await on_a.send_message(room, "Qui vient à la chorale ?"))["seq"]
        head = await room_head(claire, room)
        sockets = [await people.connect(p) for p in reactors]  # closed by the fixture
        await asyncio.gather(*(
            s.request("chat.react", room=room, seq=seq, reaction=name)
            for s in sockets for name in ("like", "bravo")))
        await sockets[0].request("chat.unreact", room=room, seq=seq, reaction="bravo")
        for conn in (on_a, on_b):
            latest: dict[str, Any] = {}
            while latest.get("rev") != 9:
                event = await next_matching(conn, lambda e: e.get("ev") == "chat.reactions")
                if event["rev"] > latest.get("rev", 0):
                    latest = event
            assert latest["counts"] == {"bravo": 3, "like": 4}
        # Back on the other node after the changes: the snapshot, with mine.
        lea = people.on(reactors[0], 1)
        async with await lea.connect() as back:
            await back.subscribe(room, since=head)
            snapshot = await next_matching(
                back, lambda e: e.get("ev") == "chat.reactions" and e["seq"] == seq)
            assert (snapshot["rev"], snapshot["counts"], snapshot["mine"]) == (
                9, {"bravo": 3, "like": 4}, ["like"])
        [entry] = [m for m in await claire.history(room) if m["seq"] == seq]
        assert entry["reactions"]["counts"] == {"bravo": 3, "like": 4}


async def test_a_killed_nodes_people_leave_presence_within_the_ttl(
    cluster: Cluster, people: People
) -> None:
    """Last in the module: it kills node B, and restarts it at the end."""
    lea, chloe = await people("Léa Martin", 0), await people("Chloé Dubois", 1)
    room = await class_room(lea)
    async with await lea.connect() as a:
        await a.subscribe(room)
        on_b = await people.connect(chloe)
        await on_b.subscribe(room)
        await wait_until(lambda: _online(a, room, "Chloé Dubois"), 5)

        killed_at = time.monotonic()
        cluster[1].kill()
        await asyncio.wait_for(on_b.closed.wait(), 5)
        # Nobody told anyone: the entry must expire (heartbeats stop with the node).
        bound = PRESENCE_TTL_S + PRESENCE_TTL_S / 3 + 2
        try:
            await wait_until(lambda: _gone(a, room, "Chloé Dubois"), bound + 3, interval=0.2)
        except TimeoutError:
            pytest.fail(f"Chloé still online {bound + 3:.0f} s after her node was killed "
                        f"(TTL {PRESENCE_TTL_S} s)\n{cluster.logs()}")
        gone_after = time.monotonic() - killed_at
        assert gone_after <= bound, f"gone after {gone_after:.1f} s, TTL {PRESENCE_TTL_S} s"
        assert "Léa Martin" in await names_online(a, room)
        # The surviving node announces the departure (docs/protocol.md: presence.leave
        # when a person's last socket leaves, on any node), coalesced per room:
        # `person`, or `people` with others, within a window of at most 4 s.
        await next_matching(
            a, lambda e: e.get("ev") == "presence.leave" and "Chloé Dubois" in {
                p["name"] for p in e.get("people") or [e["person"]]},
            timeout=PRESENCE_TTL_S / 3 + 4 + 1)

    # The node comes back on its port and serves again.
    await cluster[1].restart()
    async with await people.on(chloe, 1).connect() as back, await lea.connect() as a:
        assert back.hello["node"] == cluster[1].node_id
        await back.subscribe(room)
        await a.subscribe(room)
        sent = (await a.send_message(room, "de retour"))["seq"]
        [shown] = await back.messages(room, 1)
        assert shown["seq"] == sent


async def _online(conn: LiveConnection, room: str, name: str) -> bool:
    return name in await names_online(conn, room)


async def _gone(conn: LiveConnection, room: str, name: str) -> bool:
    return name not in await names_online(conn, room)
