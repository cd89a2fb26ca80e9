"""Classroom controls enforced by a real server on real aiortc peers."""

from __future__ import annotations

import asyncio

import pytest
from preau_client import PreauError
from preau_client.call import CallPeer
from preau_client.peer import PatternTrack

from tests.server.calls.helpers import class_room, people
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

TEACHER = "Claire Lefèvre"


async def test_the_lobby_holds_a_pupil_until_a_moderator_admits_them(live: LiveServer) -> None:
    async with people(live, TEACHER, "Léa Martin") as (claire, lea):
        room = await class_room(claire.client)
        created = await claire.live.request("call.create", room=room,
                                            controls={"lobby": "ask_moderator"})
        teacher = CallPeer(claire.live, created["call"], video=PatternTrack())
        pupil = CallPeer(lea.live, created["call"], video=PatternTrack())
        try:
            assert (await teacher.join())["role"] == "moderator"
            waiting = await pupil.join()
            assert waiting["admitted"] is False
            assert "peers" not in waiting
            lobby = await teacher.next_event("call.lobby")
            assert [w["person"]["name"] for w in lobby["waiting"]] == ["Léa Martin"]
            # Held: no seat, so no signalling and no hand to raise.
            assert pupil.peer is not None
            assert teacher.peer is not None
            with pytest.raises(PreauError) as held:
                await pupil.request("call.signal", to=teacher.peer, kind="end_of_candidates")
            assert held.value.code == "not_in_call"
            with pytest.raises(PreauError) as pupil_admits:
                await pupil.request("call.admit", who=pupil.peer)
            assert pupil_admits.value.code == "not_in_call"
            await asyncio.sleep(0.3)
            assert not pupil.admitted.is_set()
            assert not teacher.peers
            await teacher.request("call.admit", who=pupil.peer)
            await asyncio.wait_for(pupil.admitted.wait(), 5)
            assert await (await pupil.counter_from(teacher.peer)).wait_for(5) >= 5
            assert await (await teacher.counter_from(pupil.peer)).wait_for(5) >= 5
        finally:
            await pupil.leave()
            await teacher.leave()


async def test_locked_microphones_refuse_a_pupils_unmute(live: LiveServer) -> None:
    async with people(live, TEACHER, "Hugo Bernard") as (claire, hugo):
        room = await class_room(claire.client)
        created = await claire.live.request("call.create", room=room)
        teacher = CallPeer(claire.live, created["call"])
        pupil = CallPeer(hugo.live, created["call"])
        try:
            await teacher.join()
            await pupil.join()
            await teacher.request("call.controls", mic_locked=True)
            muted = await pupil.next_event("call.peer_updated")
            assert (muted["peer"]["peer"], muted["peer"]["audio_muted"]) == (pupil.peer, True)
            with pytest.raises(PreauError) as refused:
                await pupil.request("call.media", audio_muted=False)
            assert refused.value.code == "forbidden"
            # Pupils may not lock or unlock anything themselves.
            with pytest.raises(PreauError) as not_mod:
                await pupil.request("call.controls", mic_locked=False)
            assert not_mod.value.code == "forbidden"
            # The teacher may unmute: moderators are never locked.
            await teacher.request("call.media", audio_muted=True)
            await teacher.request("call.media", audio_muted=False)
            await teacher.request("call.controls", mic_locked=False)
            await pupil.request("call.media", audio_muted=False)
            seating = await pupil.next_event("call.controls")
            assert seating["controls"]["mic_locked"] is False
        finally:
            await pupil.leave()
            await teacher.leave()


async def test_teacher_only_cameras_keep_pupils_video_from_each_other(
    live: LiveServer,
) -> None:
    async with people(live, TEACHER, "Léa Martin", "Hugo Bernard") as (claire, lea, hugo):
        room = await class_room(claire.client)
        created = await claire.live.request("call.create", room=room,
                                            controls={"teacher_only_cameras": True})
        teacher = CallPeer(claire.live, created["call"], video=PatternTrack())
        first = CallPeer(lea.live, created["call"], video=PatternTrack())
        second = CallPeer(hugo.live, created["call"], video=PatternTrack())
        try:
            await teacher.join()
            await first.join()
            await second.join()  # offers video to the teacher and to Léa
            assert teacher.peer
            assert first.peer
            assert second.peer
            refused = await second.next_event("call.refused")
            assert (refused["to"], refused["code"]) == (first.peer, "forbidden")
            # Pupils see the teacher; the teacher sees every pupil.
            for pupil in (first, second):
                assert await (await pupil.counter_from(teacher.peer)).wait_for(5) >= 5
                assert await (await teacher.counter_from(pupil.peer)).wait_for(5) >= 5
            assert "video" not in first.peers[second.peer].counters
            assert "video" not in second.peers[first.peer].counters
        finally:
            for peer in (second, first, teacher):
                await peer.leave()


async def test_a_removed_pupil_is_cut_off_and_stays_out(live: LiveServer) -> None:
    async with people(live, TEACHER, "Chloé Dubois", "Nathan Thomas") as (
            claire, chloe, nathan):
        room = await class_room(claire.client)
        created = await claire.live.request("call.create", room=room)
        teacher = CallPeer(claire.live, created["call"], video=PatternTrack())
        kept = CallPeer(chloe.live, created["call"], video=PatternTrack())
        removed = CallPeer(nathan.live, created["call"], video=PatternTrack())
        try:
            await teacher.join()
            await kept.join()
            await removed.join()
            assert teacher.peer
            assert kept.peer
            assert removed.peer
            kept_to_removed = await kept.counter_from(removed.peer)
            assert await kept_to_removed.wait_for(5) >= 5
            pc = kept.peers[removed.peer].pc
            assert pc is not None
            await teacher.request("call.remove", who=removed.peer)
            await asyncio.wait_for(removed.ended.wait(), 5)
            assert removed.end_reason == "removed"
            left = await kept.next_event("call.peer_left")
            assert (left["peer"], left["reason"]) == (removed.peer, "removed")
            assert pc.connectionState == "closed"
            # Signalling after removal, and coming back, are refused.
            with pytest.raises(PreauError) as after:
                await removed.request("call.signal", to=kept.peer, kind="end_of_candidates")
            assert after.value.code == "not_in_call"
            with pytest.raises(PreauError) as back:
                await nathan.live.request("call.join", call=created["call"])
            assert back.value.code == "forbidden"
            # The room is unaffected: the others still exchange video.
            seen = (await kept.counter_from(teacher.peer)).frames
            assert await (await kept.counter_from(teacher.peer)).wait_for(seen + 5) >= seen + 5
            listed = await claire.live.request("call.list", room=room)
            assert [c["seated"] for c in listed["calls"] if c["call"] == created["call"]] == [2]
        finally:
            for peer in (removed, kept, teacher):
                await peer.leave()


async def test_ending_for_all_and_the_last_moderator_leaving(live: LiveServer) -> None:
    async with people(live, "Julien Garnier", "Manon Robert") as (julien, manon):
        room = await class_room(julien.client)
        ended_by_end = await julien.live.request("call.create", room=room)
        teacher = CallPeer(julien.live, ended_by_end["call"])
        pupil = CallPeer(manon.live, ended_by_end["call"])
        await teacher.join()
        await pupil.join()
        with pytest.raises(PreauError) as pupil_ends:
            await pupil.request("call.end")
        assert pupil_ends.value.code == "forbidden"
        await teacher.request("call.end")
        await asyncio.wait_for(pupil.ended.wait(), 5)
        assert pupil.end_reason == "ended_by_moderator"
        with pytest.raises(PreauError) as over:
            await manon.live.request("call.join", call=ended_by_end["call"])
        assert over.value.code == "call_ended"
        await teacher.close()
        await pupil.close()

        second = await julien.live.request("call.create", room=room)
        teacher = CallPeer(julien.live, second["call"])
        pupil = CallPeer(manon.live, second["call"])
        await teacher.join()
        await pupil.join()
        await teacher.leave()
        await asyncio.wait_for(pupil.ended.wait(), 5)
        assert pupil.end_reason == "no_moderator"
        await pupil.close()


async def test_breakout_rooms_split_the_mesh_and_bring_everyone_back(live: LiveServer) -> None:
    async with people(live, TEACHER, "Inès Petit", "Louis Durand") as (claire, ines, louis):
        room = await class_room(claire.client, "6eB")
        created = await claire.live.request("call.create", room=room)
        teacher = CallPeer(claire.live, created["call"], video=PatternTrack())
        first = CallPeer(ines.live, created["call"], video=PatternTrack())
        second = CallPeer(louis.live, created["call"], video=PatternTrack())
        try:
            for peer in (teacher, first, second):
                await peer.join()
            assert teacher.peer
            assert first.peer
            assert second.peer
            await (await first.counter_from(second.peer)).wait_for(3)
            opened = await teacher.request("call.breakouts", rooms=["Groupe 1", "Groupe 2"],
                                           assign={first.peer: 0, second.peer: 1},
                                           duration_s=600)
            assert opened["call"] == created["call"]
            moved = await first.next_event("call.moved")
            assert (moved["breakout"], moved["peers"]) == ("Groupe 1", [])
            assert (await second.next_event("call.moved"))["breakout"] == "Groupe 2"
            assert first.peers == {}  # moved events are handled before they are queued
            assert second.peers == {}
            with pytest.raises(PreauError) as apart:
                await first.request("call.signal", to=second.peer, kind="end_of_candidates")
            assert apart.value.code == "forbidden"
            await teacher.request("call.breakouts_close")
            back = await first.next_event("call.moved")
            assert back["breakout"] is None
            # Back in the main room, the impolite side of each pair offers again.
            assert await (await first.counter_from(second.peer)).wait_for(5) >= 5
            assert await (await second.counter_from(first.peer)).wait_for(5) >= 5
            assert await (await first.counter_from(teacher.peer)).wait_for(5) >= 5
        finally:
            for peer in (second, first, teacher):
                await peer.leave()
