"""The call service on two in-process nodes (one store, one bus): seats, events
and signalling cross nodes through the broker only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.errors import PreauError
from server.gateway.connection import Connection
from tests.server.twonodes import Nodes, Recorder

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n")


async def event(recorder: Recorder, name: str, timeout: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            for frame in recorder.frames:
                if frame.get("ev") == name:
                    recorder.frames.remove(frame)
                    return frame
            recorder.arrived.clear()
            await recorder.arrived.wait()


async def test_events_and_signals_cross_nodes(nodes: Nodes) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    room = await nodes.room(nodes.a, "6eA")
    conn_a, rec_a = nodes.connect(nodes.a, lea)
    conn_b, rec_b = nodes.connect(nodes.b, hugo)
    state = await nodes.a.calls.create(lea, room, None, [hugo.id], None)
    _, seat_a = await nodes.a.calls.join(conn_a, state.id)
    _, seat_b = await nodes.b.calls.join(conn_b, state.id)
    joined = await event(rec_a, "call.peer_joined")
    assert joined["peer"]["peer"] == seat_b.peer
    # A hand raised on node B is seen on node A.
    await nodes.b.calls.act(conn_b, state.id, seat_b.peer, _hand(seat_b.peer))
    updated = await event(rec_a, "call.peer_updated")
    assert updated["peer"]["hand"] is True
    # An offer from A reaches B's socket only.
    await nodes.a.calls.signal(conn_a, state.id, seat_a.peer, seat_b.peer, "offer",
                               {"sdp": SDP})
    relayed = await event(rec_b, "call.signal")
    assert (relayed["from"], relayed["kind"], relayed["sdp"]) == (seat_a.peer, "offer", SDP)
    assert not [f for f in rec_a.frames if f.get("ev") == "call.signal"]
    # A's socket closes: B learns it, the seat is free.
    await nodes.a.calls.on_disconnect(conn_a)
    left = await event(rec_b, "call.peer_left")
    assert left["peer"] == seat_a.peer
    with pytest.raises(PreauError) as gone:
        await nodes.b.calls.signal(conn_b, state.id, seat_b.peer, seat_a.peer, "offer",
                                   {"sdp": SDP})
    assert gone.value.code == "not_found"


def _hand(peer: str) -> Any:
    from rtc import room as rtc

    return lambda s, _o: rtc.set_hand(s, peer, peer, True)


_ = Connection
