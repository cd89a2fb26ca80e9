"""Real aiortc peers over real sockets, signalling through a real server process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from preau_client.call import CallPeer
from preau_client.peer import PatternTrack

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


def write_clip(path: str, frames: int = 60) -> None:
    """A small video file made here (no file shipped in the repository)."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane, value in zip(frame.planes, (16 + 3 * index, 128, 128), strict=True):
                plane.update(bytes([value % 256]) * plane.buffer_size)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


async def test_a_peer_can_send_a_media_file(live: LiveServer, tmp_path: Path) -> None:
    clip = str(tmp_path / "clip.mp4")
    write_clip(clip)
    async with people(live, "Manon Robert", "Lucas Richard") as (manon, lucas):
        room = await class_room(manon.client)
        created = await manon.live.request("call.create", room=room, people=[lucas.id])
        sender = CallPeer(manon.live, created["call"], media_file=clip)
        receiver = CallPeer(lucas.live, created["call"], video=PatternTrack())
        try:
            await sender.join()
            await receiver.join()
            assert sender.peer is not None
            counter = await receiver.counter_from(sender.peer)
            assert await counter.wait_for(15) >= 15
        finally:
            await receiver.leave()
            await sender.leave()
