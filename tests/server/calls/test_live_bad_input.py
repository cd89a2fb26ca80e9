"""Bad signalling against a real server: each refused with its code, the call unaffected."""

from __future__ import annotations

import pytest
from preau_client import PreauError
from preau_client.call import CallPeer
from preau_client.peer import PatternTrack

from preau.rtc.signal import MAX_SDP_BYTES
from tests.server.calls.helpers import class_room, people
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

CANDIDATE = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"


async def refused(peer: CallPeer, **params: object) -> str:
    with pytest.raises(PreauError) as error:
        await peer.request("call.signal", **params)
    return error.value.code


async def test_bad_signalling_is_refused_and_the_call_goes_on(live: LiveServer) -> None:
    async with people(live, "Inès Petit", "Louis Durand", "Jade Leroy") as (ines, louis, jade):
        room = await class_room(ines.client, "6eB")
        created = await ines.live.request("call.create", room=room, people=[louis.id])
        first = CallPeer(ines.live, created["call"], video=PatternTrack())
        second = CallPeer(louis.live, created["call"], video=PatternTrack())
        try:
            await first.join()
            await second.join()
            assert first.peer
            assert second.peer
            counter = await first.counter_from(second.peer)
            await counter.wait_for(5)
            valid_sdp = first.peers[second.peer].pc.localDescription.sdp  # type: ignore[union-attr]

            # An offer to a peer that is not in the call.
            assert await refused(first, to="pNotInThisCall", kind="offer",
                                 sdp=valid_sdp) == "not_found"
            # A forged sender: someone else's peer id.
            with pytest.raises(PreauError) as forged:
                await ines.live.request("call.signal", call=created["call"], peer=second.peer,
                                        to=first.peer, kind="offer", sdp=valid_sdp)
            assert forged.value.code == "not_in_call"  # as if nobody held it
            # Jade, outside the study group, can neither join nor signal into it.
            with pytest.raises(PreauError) as outsider:
                await jade.live.request("call.join", call=created["call"])
            assert outsider.value.code == "not_found"  # as if the call did not exist
            with pytest.raises(PreauError) as stranger:
                await jade.live.request("call.signal", call=created["call"], peer=first.peer,
                                        to=second.peer, kind="end_of_candidates")
            assert stranger.value.code == "not_in_call"
            # Oversize and malformed descriptions and candidates.
            huge = valid_sdp + "a=x-padding:" + "x" * 1000 + "\r\n"
            huge = huge + ("a=x-fill:" + "y" * 1000 + "\r\n") * (MAX_SDP_BYTES // 1000)
            assert await refused(first, to=second.peer, kind="offer", sdp=huge) == "too_large"
            assert await refused(first, to=second.peer, kind="offer",
                                 sdp="<script>alert(1)</script>") == "bad_request"
            assert await refused(first, to=second.peer, kind="offer") == "bad_request"
            assert await refused(first, to=second.peer, kind="candidate",
                                 candidate="candidate:1 1 udp 1 evil.example.; rm -rf 1 typ host",
                                 sdpMid="0") == "bad_request"
            assert await refused(first, to=first.peer, kind="end_of_candidates") == "not_found"
            # A flood of candidates: the pair's budget runs out.
            codes = []
            for _ in range(50):
                try:
                    await first.request("call.signal", to=second.peer, kind="candidate",
                                        candidate=CANDIDATE, sdpMid="0", sdpMLineIndex=0)
                    codes.append("ok")
                except PreauError as exc:
                    codes.append(exc.code)
            assert codes[:40] == ["ok"] * 40
            assert set(codes[40:]) == {"rate_limited"}
            # The call is unaffected: both seated, media still flowing.
            listed = await ines.live.request("call.list", room=room)
            [call] = [c for c in listed["calls"] if c["call"] == created["call"]]
            assert call["seated"] == 2
            seen = counter.frames
            assert await counter.wait_for(seen + 10) >= seen + 10
            assert await (await second.counter_from(first.peer)).wait_for(10) >= 10
        finally:
            await second.leave()
            await first.leave()


async def test_breakout_names_are_cleaned_like_a_calls_name(live: LiveServer) -> None:
    """An outside probe: names a teacher typed reach every pupil's screen, and
    a right-to-left override made « \u202egnp.exe » read « exe.png »."""
    async with people(live, "Claire Lefèvre", "Inès Petit") as (claire, ines):
        room = await class_room(claire.client, "6eB")
        created = await claire.live.request("call.create", room=room)
        teacher = await claire.live.request("call.join", call=created["call"])
        pupil = await ines.live.request("call.join", call=created["call"])
        with pytest.raises(PreauError) as blank:
            await claire.live.request("call.breakouts", call=created["call"],
                                      peer=teacher["peer"], rooms=["Groupe 1", "\u2066 \u2069"],
                                      assign={pupil["peer"]: 0}, duration_s=600)
        assert (blank.value.code, blank.value.message) == (
            "bad_request", "every breakout room needs a name")
        with pytest.raises(PreauError) as twins:  # two names that look the same
            await claire.live.request(
                "call.breakouts", call=created["call"], peer=teacher["peer"],
                rooms=["ok", "ok\u200b"], assign={pupil["peer"]: 0}, duration_s=600)
        assert (twins.value.code, twins.value.message) == (
            "bad_request", "give 1 to 20 distinct rooms")
        await claire.live.request(
            "call.breakouts", call=created["call"], peer=teacher["peer"],
            rooms=["\u202egnp.exe", " Groupe 2 "], assign={pupil["peer"]: 0}, duration_s=600)
        opened = await ines.live.next_event("call.breakouts")
        assert opened["rooms"] == ["gnp.exe", "Groupe 2"]
        moved = await ines.live.next_event("call.moved")
        assert moved["breakout"] == "gnp.exe"
