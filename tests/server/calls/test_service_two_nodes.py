"""The call service on two in-process nodes (one store, one bus): seats, events
and signalling cross nodes through the broker only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from preau.server.errors import PreauError
from preau.server.live.connection import Connection
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
    # A third peer, on either node, never sees a signal addressed to another.
    chloe = nodes.member(nodes.a, "Chloé Dubois")
    conn_c, rec_c = nodes.connect(nodes.a, chloe)
    group = await nodes.a.calls.create(lea, room, None, [hugo.id, chloe.id], None)
    _, a2 = await nodes.a.calls.join(conn_a, group.id)
    _, b2 = await nodes.b.calls.join(conn_b, group.id)
    await nodes.a.calls.join(conn_c, group.id)
    await nodes.b.calls.signal(conn_b, group.id, b2.peer, a2.peer, "offer", {"sdp": SDP})
    assert (await event(rec_a, "call.signal"))["from"] == b2.peer
    await nodes.a.calls.signal(conn_a, group.id, a2.peer, b2.peer, "answer", {"sdp": SDP})
    assert (await event(rec_b, "call.signal"))["kind"] == "answer"
    assert not [f for f in rec_c.frames if f.get("ev") == "call.signal"]
    # A's socket closes: B learns it, the seat is free.
    await nodes.a.calls.on_disconnect(conn_a)
    left = await event(rec_b, "call.peer_left")
    assert left["peer"] == seat_a.peer
    with pytest.raises(PreauError) as gone:
        await nodes.b.calls.signal(conn_b, state.id, seat_b.peer, seat_a.peer, "offer",
                                   {"sdp": SDP})
    assert gone.value.code == "not_found"


def _hand(peer: str) -> Any:
    from preau.rtc import room as rtc

    return lambda s, _o: rtc.set_hand(s, peer, peer, True)


_ = Connection


async def test_breakouts_close_by_timer_on_both_nodes(nodes: Nodes) -> None:
    from preau.rtc import room as rtc

    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.b, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    room = await nodes.room(nodes.a, "6eA")
    teacher, rec_t = nodes.connect(nodes.a, claire)
    first, rec_1 = nodes.connect(nodes.b, lea)
    second, rec_2 = nodes.connect(nodes.a, hugo)
    state = await nodes.a.calls.create(claire, room, None, None, None)
    _, t = await nodes.a.calls.join(teacher, state.id)
    _, s1 = await nodes.b.calls.join(first, state.id)
    _, s2 = await nodes.a.calls.join(second, state.id)
    now = nodes.a.calls.now_ms()
    # Rooms opened "59.7 s ago" for 60 s: the deadline is 0.3 s away.
    await nodes.a.calls.act(teacher, state.id, t.peer, lambda s, _o: rtc.open_breakouts(
        s, t.peer, ["Groupe 1", "Groupe 2"], {s1.peer: 0, s2.peer: 1}, 60, now - 59_700))
    moved = await event(rec_1, "call.moved")
    assert (moved["breakout"], moved["peers"]) == ("Groupe 1", [])
    with pytest.raises(PreauError) as apart:
        await nodes.b.calls.signal(first, state.id, s1.peer, s2.peer, "offer", {"sdp": SDP})
    assert apart.value.code == "forbidden"
    opened = await event(rec_2, "call.breakouts")
    assert opened["rooms"] == ["Groupe 1", "Groupe 2"]
    back = await event(rec_2, "call.breakouts", timeout=5)
    assert back["rooms"] == []
    returned = await event(rec_1, "call.moved")
    assert returned["breakout"] is None
    assert {p["peer"] for p in returned["peers"]} == {t.peer, s2.peer}
    await nodes.b.calls.signal(first, state.id, s1.peer, s2.peer, "offer", {"sdp": SDP})
    assert (await event(rec_2, "call.signal"))["from"] == s1.peer
    # Both nodes' timers fired; the rooms closed once.
    stored = await nodes.b.calls.seating(state.id, lea.id)
    assert stored is not None
    assert stored.state.breakouts == ()
    assert len([f for f in rec_t.frames if f.get("ev") == "call.breakouts"]) == 2


async def test_who_may_open_and_join_calls(nodes: Nodes) -> None:
    calls = nodes.a.calls
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    ines = nodes.member(nodes.a, "Inès Petit")  # 6eB
    parent = nodes.member(nodes.a, "Camille Martin")
    sophie = nodes.member(nodes.a, "Sophie Faure")  # teaches 6eB only
    room = await nodes.room(nodes.a, "6eA")

    async def code(coro: Any) -> str:
        with pytest.raises(PreauError) as refused:
            await coro
        return str(refused.value.code)

    assert await code(calls.create(lea, room, None, None, None)) == "forbidden"
    assert await code(calls.create(lea, room, None, [ines.id], None)) == "forbidden"
    assert await code(calls.create(parent, room, None, None, None)) == "not_found"
    assert await code(calls.create(sophie, room, None, None, None)) == "not_found"
    group = await calls.create(lea, room, "Exposé", [hugo.id], None)
    assert group.members == {lea.id, hugo.id}
    conn, _ = nodes.connect(nodes.a, ines)
    assert await code(calls.join(conn, group.id)) == "not_found"
    teacher = nodes.member(nodes.a, "Julien Garnier")
    conn, _ = nodes.connect(nodes.a, teacher)
    _, seat = await calls.join(conn, group.id)
    assert seat.role.value == "moderator"
    seating = await nodes.b.calls.seating(group.id, teacher.id)
    assert seating is not None
    assert seating.seat.peer == seat.peer
    assert not seating.sfu


async def test_each_join_hands_out_fresh_turn_credentials(nodes: Nodes) -> None:
    import base64
    import hashlib
    import hmac
    import time

    from preau.server.calls.service import CallService
    from preau.server.settings import Settings
    from preau.server.store.calls import CallStore

    settings = Settings.from_env({
        "PREAU_TURN_SECRET": "coturn-secret",
        "PREAU_TURN_URLS": "stun:127.0.0.1:3478,turn:127.0.0.1:3478?transport=udp",
        "PREAU_TURN_TTL_S": "600",
    })
    service = CallService(CallStore(nodes.a.store.engine), nodes.a.directory,
                          nodes.a.broker, settings, nodes.a.clock)
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    conn, _ = nodes.connect(nodes.a, lea)
    state = await service.create(lea, await nodes.room(nodes.a, "6eA"), None, [hugo.id], None)
    state, seat = await service.join(conn, state.id)
    stun, turn = service.welcome(state, seat)["ice_servers"]
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    expiry, person = turn["username"].split(":")
    assert person == lea.id
    assert 590 <= int(expiry) - time.time() <= 610
    digest = hmac.new(b"coturn-secret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()
    await service.close()


async def test_a_silent_nodes_seats_are_dropped_by_another(nodes: Nodes) -> None:
    from preau.server.calls.service import NODE_TTL_S
    from preau.server.store.calls import CallStore

    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    conn_a, rec_a = nodes.connect(nodes.a, lea)
    conn_b, _ = nodes.connect(nodes.b, hugo)
    state = await nodes.a.calls.create(lea, await nodes.room(nodes.a, "6eA"), None,
                                       [hugo.id], None)
    await nodes.a.calls.join(conn_a, state.id)
    _, seat_b = await nodes.b.calls.join(conn_b, state.id)
    now = nodes.a.clock.now_ms()
    store = CallStore(nodes.a.store.engine)
    await store.heartbeat(nodes.b.calls.node_id, now - int(NODE_TTL_S * 1000) - 1)  # B died
    assert await nodes.a.calls.sweep() == [nodes.b.calls.node_id]
    left = await event(rec_a, "call.peer_left")
    assert (left["peer"], left["reason"]) == (seat_b.peer, "connection_lost")
    assert await nodes.a.calls.seating(state.id, hugo.id) is None
    assert await nodes.a.calls.sweep() == []  # forgotten once handled


async def test_an_ice_restart_offer_is_relayed_as_such(nodes: Nodes) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    conn_a, _ = nodes.connect(nodes.a, lea)
    conn_b, rec_b = nodes.connect(nodes.b, hugo)
    state = await nodes.a.calls.create(lea, await nodes.room(nodes.a, "6eA"), None,
                                       [hugo.id], None)
    _, seat_a = await nodes.a.calls.join(conn_a, state.id)
    _, seat_b = await nodes.b.calls.join(conn_b, state.id)
    await nodes.a.calls.signal(conn_a, state.id, seat_a.peer, seat_b.peer, "offer",
                               {"sdp": SDP, "restart": True})
    relayed = await event(rec_b, "call.signal")
    assert (relayed["kind"], relayed["restart"]) == ("offer", True)
    await nodes.a.calls.signal(conn_a, state.id, seat_a.peer, seat_b.peer, "candidate", {
        "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "sdpMid": "0",
        "sdpMLineIndex": 0, "usernameFragment": None})
    candidate = await event(rec_b, "call.signal")
    assert candidate["candidate"]["sdpMid"] == "0"


async def test_a_pupil_moved_to_another_class_loses_the_seat(nodes: Nodes) -> None:
    from preau.server.directory.csv_import import parse_csv
    from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI
    from preau.server.directory.importer import import_directory

    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lucas = nodes.member(nodes.a, "Lucas Richard")
    teacher, rec_t = nodes.connect(nodes.a, claire)
    pupil, rec_p = nodes.connect(nodes.a, lucas)
    state = await nodes.a.calls.create(claire, await nodes.room(nodes.a, "6eA"), None, None,
                                       None)
    await nodes.a.calls.join(teacher, state.id)
    _, seat = await nodes.a.calls.join(pupil, state.id)
    report = await import_directory(
        nodes.a.store, parse_csv("id;profile;last_name;first_name;classes\n"
                                 "E006;pupil;Richard;Lucas;6eB\n"),
        uai=DEMO_UAI, school_name=DEMO_NAME, timezone=DEMO_TIMEZONE,
        activation_ttl_s=3600, now_ms=nodes.a.clock.now_ms())
    assert not report.errors
    await nodes.a.directory.reload(lucas.school_id)
    left = await event(rec_p, "call.left")
    assert (left["peer"], left["reason"]) == (seat.peer, "revoked")
    assert (await event(rec_t, "call.peer_left"))["peer"] == seat.peer
    assert await nodes.a.calls.seating(state.id, lucas.id) is None


async def test_above_the_mesh_size_the_call_switches_to_sfu_mode(nodes: Nodes) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    names = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas"]
    pupils = [nodes.member(nodes.a, n) for n in names]
    state = await nodes.a.calls.create(claire, await nodes.room(nodes.a, "6eA"), None, None,
                                       None)
    conns = [nodes.connect(nodes.a if i % 2 else nodes.b, m)
             for i, m in enumerate([claire, *pupils])]
    seats = []
    for i, (conn, _) in enumerate(conns):
        node = nodes.a if i % 2 else nodes.b
        seats.append((await node.calls.join(conn, state.id))[1])
    assert nodes.a.settings.call_mesh_size == 4
    mode = await event(conns[0][1], "call.mode")
    assert mode["mode"] == "sfu"
    seating = await nodes.a.calls.seating(state.id, claire.id)
    assert seating is not None
    assert seating.sfu
    with pytest.raises(PreauError) as refused:
        await nodes.a.calls.signal(conns[1][0], state.id, seats[1].peer, seats[2].peer,
                                   "offer", {"sdp": SDP})
    assert refused.value.code == "conflict"


async def test_the_schools_capacity_spans_its_calls(nodes: Nodes) -> None:
    from preau.server.calls.service import CallService
    from preau.server.settings import Settings
    from preau.server.store.calls import CallStore

    service = CallService(CallStore(nodes.a.store.engine), nodes.a.directory,
                          nodes.a.broker, Settings(call_school_capacity=3), nodes.a.clock)
    room = await nodes.room(nodes.a, "6eA")
    names = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas"]
    members = [nodes.member(nodes.a, n) for n in names]
    first = await service.create(members[0], room, None, [members[1].id], None)
    second = await service.create(members[2], room, None, [members[3].id], None)
    for member, call in zip(members[:3], (first, first, second), strict=True):
        await service.join(nodes.connect(nodes.a, member)[0], call.id)
    with pytest.raises(PreauError) as full:
        await service.join(nodes.connect(nodes.a, members[3])[0], second.id)
    assert full.value.code == "call_full"
    await service.close()


async def test_without_an_sfu_a_call_stays_mesh_and_refuses_above_it(nodes: Nodes) -> None:
    from preau.rtc.room import Controls
    from preau.server.calls.rules import people_per_call
    from preau.server.calls.service import CallService
    from preau.server.settings import Settings
    from preau.server.store.calls import CallStore

    settings = Settings()  # no PREAU_JANUS_URLS: the default install
    assert people_per_call(settings) == settings.call_mesh_size == 4
    service = CallService(CallStore(nodes.a.store.engine), nodes.a.directory,
                          nodes.a.broker, settings, nodes.a.clock)
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    room = await nodes.room(nodes.a, "6eA")
    # "Large class" mode cannot be asked for: it would show nothing.
    with pytest.raises(PreauError) as refused:
        await service.create(claire, room, None, None, Controls(force_sfu=True))
    assert refused.value.code == "bad_request"
    assert "SFU" in refused.value.message
    call = await service.create(claire, room, None, None, None)
    names = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas"]
    conns = [nodes.connect(nodes.a, m) for m in [claire, *(nodes.member(nodes.a, n)
                                                           for n in names)]]
    for conn, _ in conns[:4]:
        await service.join(conn, call.id)
    with pytest.raises(PreauError) as full:
        await service.join(conns[4][0], call.id)
    assert full.value.code == "call_full"
    assert "at most 4 people without a video server (SFU)" in full.value.message
    seating = await service.seating(call.id, claire.id)
    assert seating is not None
    assert not seating.sfu  # still a mesh: everyone sees everyone
    assert not [f for _, rec in conns for f in rec.frames if f.get("ev") == "call.mode"]
    await service.close()


async def test_a_seat_whose_leave_failed_is_freed_by_the_next_sweep(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    conn_l, _ = nodes.connect(nodes.a, lea)
    conn_h, rec_h = nodes.connect(nodes.a, hugo)
    state = await nodes.a.calls.create(lea, await nodes.room(nodes.a, "6eA"), None,
                                       [hugo.id], None)
    _, seat = await nodes.a.calls.join(conn_l, state.id)
    await nodes.a.calls.join(conn_h, state.id)
    calls = nodes.a.calls._calls
    real_update = calls.update

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("store unreachable")

    monkeypatch.setattr(calls, "update", unreachable)
    await nodes.a.calls.on_disconnect(conn_l)  # logged, never raised
    monkeypatch.setattr(calls, "update", real_update)
    assert await nodes.a.calls.seating(state.id, lea.id) is not None
    await nodes.a.calls.sweep()
    left = await event(rec_h, "call.peer_left")
    assert left["peer"] == seat.peer
    assert await nodes.a.calls.seating(state.id, lea.id) is None


async def test_a_call_nobody_joins_ends_after_a_while(nodes: Nodes) -> None:
    from preau.rtc.room import CallState
    from preau.server.calls.service import IDLE_S
    from preau.server.store.calls import CallStore

    claire = nodes.member(nodes.a, "Claire Lefèvre")
    room = await nodes.room(nodes.a, "6eA")
    long_ago = nodes.a.clock.now_ms() - int(IDLE_S * 1000) - 1
    forgotten = CallState("c-forgotten", claire.school_id, room, "6eA", claire.id, long_ago,
                          None)
    await CallStore(nodes.a.store.engine).create(forgotten, long_ago)
    fresh = await nodes.a.calls.create(claire, room, None, None, None)
    assert {c.id for c in await nodes.a.calls.list_calls(claire, room)} == {
        "c-forgotten", fresh.id}
    await nodes.b.calls.sweep()
    assert [c.id for c in await nodes.a.calls.list_calls(claire, room)] == [fresh.id]


async def test_class_room_subscribers_hear_of_calls_opening_and_closing(nodes: Nodes) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.b, "Léa Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    chloe = nodes.member(nodes.b, "Chloé Dubois")
    room = await nodes.room(nodes.a, "6eA")
    listeners = {}
    for member in (lea, chloe):
        conn, recorder = nodes.connect(nodes.b, member)
        await nodes.b.hub.subscribe(conn, room, None, lambda fields: None)
        listeners[member.id] = recorder
    teacher, _ = nodes.connect(nodes.a, claire)
    state = await nodes.a.calls.create(claire, room, "Cours", None, None)
    for recorder in listeners.values():
        started = await event(recorder, "call.started")
        assert (started["room"], started["call"]["call"]) == (room, state.id)
    _, seat = await nodes.a.calls.join(teacher, state.id)
    await nodes.a.calls.act(teacher, state.id, seat.peer, lambda s, _o: _end(s, seat.peer))
    closed = await event(listeners[lea.id], "call.closed")
    assert closed["call"]["status"] == "ended"
    # A study group is announced to its people only (and the room's moderators).
    group = await nodes.b.calls.create(lea, room, None, [hugo.id], None)
    assert (await event(listeners[lea.id], "call.started"))["call"]["call"] == group.id
    # A fence on the same room channel: a message posted after the group was
    # announced reaches Chloé after anything announced before it.
    await nodes.b.chat.send(lea, room, "fence-1", "on révise ?")
    await listeners[chloe.id].wait_for(room, 1)
    assert not [f for f in listeners[chloe.id].frames
                if f.get("ev") == "call.started" and f["call"]["call"] == group.id]


def _end(state: Any, peer: str) -> Any:
    from preau.rtc import room as rtc

    return rtc.end(state, peer)


class _Outage:
    """Node A's call outcomes never reach node B while on (a Redis outage
    whose queued messages Redis dropped: node B had not subscribed again)."""

    def __init__(self, nodes: Nodes) -> None:
        self.broker = nodes.a.broker
        self._publish = self.broker.publish

    async def __aenter__(self) -> None:
        async def lost(channel: str, payload: bytes) -> None:
            if not channel.startswith("call:"):
                await self._publish(channel, payload)

        self.broker.publish = lost  # type: ignore[method-assign]

    async def __aexit__(self, *exc: object) -> None:
        self.broker.publish = self._publish  # type: ignore[method-assign]


def names_of(recorder: Recorder) -> list[str]:
    return [str(f.get("ev")) for f in recorder.frames]


async def test_what_an_outage_kept_from_a_node_reaches_it_at_its_resync(nodes: Nodes) -> None:
    """An outside probe: a mute, a removal, an admission and the end of the
    call made on node A during a Redis outage never reached node B's pupils."""
    from preau.rtc import room as rtc

    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea, manon, hugo = (nodes.member(nodes.b, n)
                        for n in ("Léa Martin", "Manon Robert", "Hugo Bernard"))
    room = await nodes.room(nodes.a, "6eA")
    teacher, _ = nodes.connect(nodes.a, claire)
    (c_lea, r_lea), (c_manon, r_manon), (c_hugo, r_hugo) = (
        nodes.connect(nodes.b, m) for m in (lea, manon, hugo))
    state = await nodes.a.calls.create(claire, room, None, None, None)
    _, t = await nodes.a.calls.join(teacher, state.id)
    _, s_lea = await nodes.b.calls.join(c_lea, state.id)
    _, s_manon = await nodes.b.calls.join(c_manon, state.id)
    await event(r_lea, "call.peer_joined")  # Manon
    await nodes.a.calls.act(teacher, state.id, t.peer, lambda s, _o: rtc.set_controls(
        s, t.peer, rtc.Controls(lobby=rtc.LobbyPolicy.ASK_MODERATOR), 10))
    await event(r_lea, "call.controls")
    _, s_hugo = await nodes.b.calls.join(c_hugo, state.id)  # waits in the lobby
    for recorder in (r_lea, r_manon, r_hugo):
        recorder.frames.clear()

    async with _Outage(nodes):
        await nodes.a.calls.act(teacher, state.id, t.peer, lambda s, _o: rtc.set_media(
            s, t.peer, s_lea.peer, audio_muted=True, video_muted=None))
        await nodes.a.calls.act(teacher, state.id, t.peer,
                                lambda s, _o: rtc.remove(s, t.peer, s_manon.peer))
        await nodes.a.calls.admit(teacher, state.id, t.peer, s_hugo.peer)
        await asyncio.sleep(0.05)
        assert names_of(r_lea) == names_of(r_manon) == names_of(r_hugo) == []

    await nodes.b.calls.catch_up_calls()  # what the Redis broker's resync runs
    muted = await event(r_lea, "call.peer_updated")
    assert (muted["peer"]["peer"], muted["peer"]["audio_muted"]) == (s_lea.peer, True)
    gone = await event(r_lea, "call.peer_left")
    assert (gone["peer"], gone["reason"]) == (s_manon.peer, "removed")
    assert (await event(r_lea, "call.peer_joined"))["peer"]["peer"] == s_hugo.peer
    left = await event(r_manon, "call.left")
    assert (left["peer"], left["reason"]) == (s_manon.peer, "removed")
    admitted = await event(r_hugo, "call.admitted")
    assert {p["peer"] for p in admitted["peers"]} == {t.peer, s_lea.peer}
    # Manon's peer is released here: her signals are refused.
    with pytest.raises(PreauError) as cut:
        await nodes.b.calls.signal(c_manon, state.id, s_manon.peer, t.peer, "offer",
                                   {"sdp": SDP})
    assert cut.value.code == "not_in_call"
    await nodes.b.calls.catch_up_calls()  # caught up: nothing twice
    await asyncio.sleep(0.05)
    assert [n for n in names_of(r_lea) if n != "call.signal"] == []

    async with _Outage(nodes):
        await nodes.a.calls.act(teacher, state.id, t.peer, lambda s, _o: rtc.end(s, t.peer))
    await nodes.b.calls.catch_up_calls()
    for recorder in (r_lea, r_hugo):
        ended = await event(recorder, "call.ended")
        assert ended["reason"] == "ended_by_moderator"
    with pytest.raises(PreauError):
        await nodes.b.calls.signal(c_lea, state.id, s_lea.peer, s_hugo.peer, "offer",
                                   {"sdp": SDP})


async def test_a_lost_outcome_is_told_before_the_next_one_without_a_resync(
    nodes: Nodes,
) -> None:
    """Node B's peers missed a mute; the next outcome that reaches node B
    (or that node B makes) first tells what was missed, in order."""
    from preau.rtc import room as rtc

    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea, hugo = nodes.member(nodes.b, "Léa Martin"), nodes.member(nodes.b, "Hugo Bernard")
    teacher, _ = nodes.connect(nodes.a, claire)
    (c_lea, r_lea), (c_hugo, _r_hugo) = (nodes.connect(nodes.b, m) for m in (lea, hugo))
    state = await nodes.a.calls.create(claire, await nodes.room(nodes.a, "6eA"), None, None,
                                       None)
    _, t = await nodes.a.calls.join(teacher, state.id)
    _, s_lea = await nodes.b.calls.join(c_lea, state.id)
    _, s_hugo = await nodes.b.calls.join(c_hugo, state.id)
    r_lea.frames.clear()
    async with _Outage(nodes):
        await nodes.a.calls.act(teacher, state.id, t.peer, lambda s, _o: rtc.set_media(
            s, t.peer, s_lea.peer, audio_muted=True, video_muted=None))
    await nodes.b.calls.act(c_hugo, state.id, s_hugo.peer, _hand(s_hugo.peer))
    first = await event(r_lea, "call.peer_updated")
    second = await event(r_lea, "call.peer_updated")
    assert (first["peer"]["peer"], first["peer"]["audio_muted"]) == (s_lea.peer, True)
    assert (second["peer"]["peer"], second["peer"]["hand"]) == (s_hugo.peer, True)


async def test_an_end_held_by_the_gate_still_reaches_the_released_peers(nodes: Nodes) -> None:
    """Frames wait while rights are re-read (a directory change, a broker
    resync). The end of the call releases every peer meanwhile: their
    ``call.ended`` was dropped at the release with them (found with the
    catch-up of a Redis restart)."""
    from preau.rtc import room as rtc

    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.b, "Léa Martin")
    teacher, _ = nodes.connect(nodes.a, claire)
    pupil, rec = nodes.connect(nodes.b, lea)
    state = await nodes.a.calls.create(claire, await nodes.room(nodes.a, "6eA"), None, None,
                                       None)
    _, t = await nodes.a.calls.join(teacher, state.id)
    await nodes.b.calls.join(pupil, state.id)
    nodes.b.calls.gate.hold()
    try:
        await nodes.a.calls.act(teacher, state.id, t.peer, lambda s, _o: rtc.end(s, t.peer))
        await asyncio.sleep(0.05)
        assert "call.ended" not in names_of(rec)
    finally:
        nodes.b.calls.gate.release()
    assert (await event(rec, "call.ended"))["reason"] == "ended_by_moderator"
