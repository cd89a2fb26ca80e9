"""Who keeps a seat, on a real server with real aiortc peers: a teacher
visiting a pupils' study group, and a pupil removed from the class room, whom
every call path (``call.*``, ``sfu.*``, the lobby) answers exactly as it
answers a pupil of another class."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from preau_client import LiveConnection, PreauError
from preau_client.call import CallPeer
from preau_client.peer import PatternTrack

from tests.server.calls.helpers import class_room, people
from tests.server.live import LiveServer
from tests.server.twonodes import DEAD_JANUS

pytestmark = pytest.mark.slow

TEACHER = "Claire Lefèvre"
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n")
NEVER = "pNeverHeld0"  # a peer id nobody ever held


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with an SFU configured that does not answer: calls may go to
    SFU mode, whose ops then answer ``unavailable``."""
    server = LiveServer(tmp_path_factory.mktemp("live"), env={
        "PREAU_JANUS_URLS": DEAD_JANUS, "PREAU_JANUS_ADMIN_SECRET": "not-used"}).start()
    try:
        yield server
    finally:
        server.stop()


async def answer(live: LiveConnection, op: str, **params: Any) -> tuple[str, str]:
    """The refusal of ``op``: (code, message)."""
    with pytest.raises(PreauError) as refused:
        await live.request(op, **params)
    return refused.value.code, refused.value.message


async def test_a_teacher_visiting_a_pupils_study_group_leaves_and_it_goes_on(
    live: LiveServer,
) -> None:
    async with people(live, "Léa Martin", "Hugo Bernard", TEACHER) as (lea, hugo, claire):
        room = await class_room(lea.client)
        created = await lea.live.request("call.create", room=room, people=[hugo.id])
        assert created["controls"]["end_when_no_moderator"] is False
        first = CallPeer(lea.live, created["call"], video=PatternTrack())
        second = CallPeer(hugo.live, created["call"], video=PatternTrack())
        visitor = CallPeer(claire.live, created["call"], video=PatternTrack())
        try:
            await first.join()
            await second.join()
            assert (await visitor.join())["role"] == "moderator"
            assert first.peer
            assert second.peer
            assert visitor.peer
            assert await (await first.counter_from(visitor.peer)).wait_for(5) >= 5
            await visitor.leave()
            left = await first.next_event("call.peer_left")
            assert (left["peer"], left["reason"]) == (visitor.peer, "left")
            # The pupils' call goes on: still listed open with both, and media flows.
            listed = await lea.live.request("call.list", room=room)
            assert [(c["status"], c["seated"]) for c in listed["calls"]
                    if c["call"] == created["call"]] == [("open", 2)]
            seen = (await first.counter_from(second.peer)).frames
            assert await (await first.counter_from(second.peer)).wait_for(seen + 5) >= seen + 5
            assert not first.ended.is_set()
            assert not second.ended.is_set()
        finally:
            for peer in (visitor, second, first):
                await peer.leave()


async def test_a_removed_pupil_is_cut_and_answered_like_an_outsider(live: LiveServer) -> None:
    async with people(live, TEACHER, "Chloé Dubois", "Nathan Thomas", "Inès Petit") as (
            claire, chloe, nathan, ines):
        room = await class_room(claire.client)
        lesson = (await claire.live.request("call.create", room=room))["call"]
        lobby = (await claire.live.request("call.create", room=room,
                                           controls={"lobby": "ask_moderator",
                                                     "force_sfu": True}))["call"]
        teacher = CallPeer(claire.live, lesson, video=PatternTrack())
        kept = CallPeer(chloe.live, lesson, video=PatternTrack())
        removed = CallPeer(nathan.live, lesson, video=PatternTrack())
        host: str | None = None
        try:
            for peer in (teacher, kept, removed):
                await peer.join()
            assert teacher.peer
            assert kept.peer
            assert removed.peer
            assert await (await kept.counter_from(removed.peer)).wait_for(5) >= 5
            pc = kept.peers[removed.peer].pc
            assert pc is not None
            host = (await claire.live.request("call.join", call=lobby))["peer"]
            waiting = (await nathan.live.request("call.join", call=lobby))["peer"]
            await claire.live.next_event("call.lobby")

            await claire.live.request("member.remove", room=room, person=nathan.id)
            # Cut at once, from the call and from the lobby of the other one.
            await asyncio.wait_for(removed.ended.wait(), 10)  # a bound, not a timing
            assert removed.end_reason == "revoked"
            left = await kept.next_event("call.peer_left")
            assert (left["peer"], left["reason"]) == (removed.peer, "revoked")
            assert pc.connectionState == "closed"
            assert (await claire.live.next_event("call.lobby"))["waiting"] == []

            # Every path: the same code and message as for Inès (6eB).
            asks: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
                ("call.join", {"call": lesson}, {"call": lesson}),
                ("call.join", {"call": lobby}, {"call": lobby}),
                ("call.list", {"room": room}, {"room": room}),
                ("call.create", {"room": room, "people": [chloe.id]},
                 {"room": room, "people": [chloe.id]}),
            ]
            for call, old in ((lesson, removed.peer), (lobby, waiting)):
                mine = {"call": call, "peer": old}
                theirs = {"call": call, "peer": NEVER}
                asks += [
                    ("call.signal", {**mine, "to": teacher.peer, "kind": "end_of_candidates"},
                     {**theirs, "to": teacher.peer, "kind": "end_of_candidates"}),
                    ("call.hand", {**mine, "raised": True}, {**theirs, "raised": True}),
                    ("call.media", {**mine, "audio_muted": False},
                     {**theirs, "audio_muted": False}),
                    ("call.leave", mine, theirs),
                    ("sfu.publish", {**mine, "sdp": SDP}, {**theirs, "sdp": SDP}),
                    ("sfu.subscribe", {**mine, "feed": teacher.peer},
                     {**theirs, "feed": teacher.peer}),
                    ("sfu.trickle", {**mine, "target": "publish", "candidate": None},
                     {**theirs, "target": "publish", "candidate": None}),
                    ("sfu.unpublish", mine, theirs),
                ]
            for op, his, hers in asks:
                refused = await answer(nathan.live, op, **his)
                assert refused == await answer(ines.live, op, **hers), op
                assert refused[0] in ("not_found", "not_in_call"), (op, refused)
            # The lobby: admitting him is answered as admitting nobody.
            assert await answer(claire.live, "call.admit", call=lobby, peer=host,
                                who=waiting) == \
                await answer(claire.live, "call.admit", call=lobby, peer=host, who=NEVER)

            # Re-admitted, he may come back.
            await claire.live.request("member.readmit", room=room, person=nathan.id)
            back = await nathan.live.request("call.join", call=lesson)
            assert back["admitted"]
            joined = await kept.next_event("call.peer_joined")
            assert (joined["peer"]["peer"], joined["peer"]["person"]["id"]) == (
                back["peer"], nathan.id)
            await nathan.live.request("call.leave", call=lesson, peer=back["peer"])
        finally:
            for peer in (removed, kept, teacher):
                await peer.leave()
            if host is not None:
                await claire.live.request("call.end", call=lobby, peer=host)
