"""Real aiortc peers over real sockets, signalling through a real server process."""

from __future__ import annotations

import asyncio

import pytest
from preau_client.call import CallPeer

from rtc.peer import PatternTrack
from tests.server.calls.helpers import class_room, people
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

PUPILS = ("Léa Martin", "Hugo Bernard", "Chloé Dubois")


async def test_three_pupils_of_a_study_group_receive_each_others_video(
    live: LiveServer,
) -> None:
    async with people(live, *PUPILS) as (lea, hugo, chloe):
        room = await class_room(lea.client)
        created = await lea.live.request("call.create", room=room, name="Révisions",
                                         people=[hugo.id, chloe.id])
        assert created["study_group"] is True
        assert created["mode"] == "mesh"
        peers = [CallPeer(p.live, created["call"], video=PatternTrack()) for p in
                 (lea, hugo, chloe)]
        try:
            for peer in peers:  # one after the other: each newcomer offers to those there
                reply = await peer.join()
                assert reply["admitted"] is True
                assert reply["role"] == "viewer"
            ids = [p.peer for p in peers]
            assert len(set(ids)) == 3
            for me in peers:
                for other in ids:
                    if other != me.peer:
                        assert other is not None
                        counter = await me.counter_from(other)
                        assert await counter.wait_for(10) >= 10
            # Perfect negotiation roles agree: exactly one side of each pair is polite.
            for a in peers:
                for b in peers:
                    if a is not b:
                        assert a.peers[b.peer].polite != b.peers[a.peer].polite  # type: ignore[index]
        finally:
            await asyncio.gather(*(p.leave() for p in peers))
