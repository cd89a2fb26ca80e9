"""The call room's state machine (preau/rtc/room.py), transition by transition, no I/O."""

from __future__ import annotations

import pytest

from preau.rtc import room as rtc
from preau.rtc.room import (
    ALL,
    MODERATORS,
    CallRefused,
    CallState,
    Controls,
    Joiner,
    LobbyPolicy,
    Outcome,
    Refusal,
    Role,
    Status,
)

NOW = 1_700_000_000_000


def call(**controls: object) -> CallState:
    return CallState("c1", "school", "room", "6eA", "teacher", NOW, None,
                     Controls(**controls))  # type: ignore[arg-type]


def join(state: CallState, peer: str, role: Role = Role.VIEWER, *, guest: bool = False,
         capacity: int = 10, mesh: int = 4) -> Outcome:
    who = Joiner(peer, "person-" + peer, peer.title(), role, guest, "node", "conn-" + peer)
    return rtc.join(state, who, NOW, capacity=capacity, mesh_size=mesh)


def seated(*peers: tuple[str, Role], **controls: object) -> CallState:
    state = call(**controls)
    for peer, role in peers:
        state = join(state, peer, role).state
    return state


def refusal(transition: object, *args: object, **kw: object) -> Refusal:
    with pytest.raises(CallRefused) as refused:
        transition(*args, **kw)  # type: ignore[operator]
    return refused.value.reason


def events(outcome: Outcome) -> list[tuple[str, str]]:
    return [(o.target, o.ev) for o in outcome.events]


def test_joining_announces_the_newcomer_with_the_polite_flag() -> None:
    state = seated(("pb", Role.MODERATOR), ("pd", Role.VIEWER))
    outcome = join(state, "pc")
    assert events(outcome) == [("pb", "call.peer_joined"), ("pd", "call.peer_joined")]
    flags = {o.target: o.fields["peer"]["polite"] for o in outcome.events}
    assert flags == {"pb": False, "pd": True}  # pb sorts before pc: pb impolite toward pc
    newcomer = outcome.state.seats["pc"]
    assert {p["peer"]: p["polite"] for p in rtc.peer_list(outcome.state, newcomer)} == {
        "pb": True, "pd": False}
    assert outcome.state.version == 3


def test_a_second_join_of_the_same_person_replaces_the_first() -> None:
    state = seated(("pa", Role.VIEWER), ("pb", Role.VIEWER))
    again = rtc.join(state, Joiner("pz", "person-pa", "A", Role.VIEWER, False, "n", "c"), NOW,
                     capacity=10, mesh_size=4)
    assert set(again.state.seats) == {"pb", "pz"}
    assert ("pa", "call.left") in events(again)
    assert next(o for o in again.events if o.target == "pa").release


def test_lobby_policies() -> None:
    ask = call(lobby=LobbyPolicy.ASK_MODERATOR)
    ask = join(ask, "pm", Role.MODERATOR).state
    held = join(ask, "pv")
    assert not held.state.seats["pv"].admitted
    assert events(held) == [(MODERATORS, "call.lobby")]
    assert refusal(rtc.admit, held.state, "pv", "pv", 4, 10) is Refusal.NOT_IN_CALL
    assert refusal(rtc.check_signal, held.state, "pv", "pm", video=False) is Refusal.NOT_IN_CALL
    admitted = rtc.admit(held.state, "pm", "pv", 4, 10)
    assert admitted.state.seats["pv"].admitted
    assert ("pv", "call.admitted") in events(admitted)
    assert ("pm", "call.peer_joined") in events(admitted)
    assert refusal(rtc.admit, admitted.state, "pm", "pv", 4, 10) is Refusal.NO_SUCH_PEER
    denied = rtc.deny(join(ask, "px").state, "pm", "px")
    assert "px" not in denied.state.seats
    assert ("px", "call.left") in events(denied)
    no_guests = call(lobby=LobbyPolicy.DENY_GUESTS)
    assert refusal(join, no_guests, "pg", Role.MODERATOR, guest=True) is Refusal.FORBIDDEN
    assert join(no_guests, "pv").state.seats["pv"].admitted


def test_capacity_and_the_switch_to_sfu_mode() -> None:
    state = seated(("pa", Role.VIEWER), ("pb", Role.VIEWER))
    assert refusal(join, state, "pc", capacity=2) is Refusal.FULL
    third = join(state, "pc", mesh=2)
    assert third.state.sfu
    assert (ALL, "call.mode") in events(third)
    assert refusal(rtc.check_signal, third.state, "pa", "pb", video=False) is Refusal.CONFLICT
    fewer = rtc.leave(third.state, "pc")
    assert fewer.state.sfu  # sticky
    forced = rtc.set_controls(join(call(), "pm", Role.MODERATOR).state, "pm",
                              Controls(force_sfu=True), 4)
    assert forced.state.sfu


def test_mute_on_start_locks_and_unmuting() -> None:
    state = seated(("pm", Role.MODERATOR), ("pv", Role.VIEWER), mute_on_start=True)
    assert state.seats["pv"].audio_muted
    assert not state.seats["pm"].audio_muted
    unmuted = rtc.set_media(state, "pv", "pv", audio_muted=False, video_muted=None)
    assert not unmuted.state.seats["pv"].audio_muted
    locked = rtc.set_controls(unmuted.state, "pm", Controls(mic_locked=True,
                                                             camera_locked=True), 4)
    assert locked.state.seats["pv"].audio_muted
    assert locked.state.seats["pv"].video_muted
    assert events(locked)[0] == (ALL, "call.controls")
    assert refusal(rtc.set_media, locked.state, "pv", "pv", audio_muted=False,
                   video_muted=None) is Refusal.FORBIDDEN
    assert refusal(rtc.set_media, locked.state, "pv", "pv", audio_muted=None,
                   video_muted=False) is Refusal.FORBIDDEN
    # Moderators are never locked; nobody unmutes someone else.
    assert rtc.set_media(locked.state, "pm", "pm", audio_muted=True, video_muted=None).changed
    assert refusal(rtc.set_media, locked.state, "pm", "pv", audio_muted=False,
                   video_muted=None) is Refusal.FORBIDDEN
    assert refusal(rtc.set_controls, locked.state, "pv", Controls(), 4) is Refusal.FORBIDDEN
    # A presenter may unmute while viewers are locked.
    presenter = rtc.set_role(locked.state, "pm", "pv", Role.PRESENTER)
    assert rtc.set_media(presenter.state, "pv", "pv", audio_muted=False,
                         video_muted=None).changed


def test_mute_all_mutes_everyone_but_moderators() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), ("pb", Role.PRESENTER))
    outcome = rtc.mute_all(state, "pm")
    assert {p: s.audio_muted for p, s in outcome.state.seats.items()} == {
        "pm": False, "pa": True, "pb": True}
    assert not rtc.mute_all(outcome.state, "pm").changed
    assert refusal(rtc.mute_all, state, "pa") is Refusal.FORBIDDEN


def test_hands() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), ("pb", Role.VIEWER))
    state = rtc.set_hand(state, "pa", "pa", True).state
    state = rtc.set_hand(state, "pb", "pb", True).state
    assert refusal(rtc.set_hand, state, "pa", "pb", False) is Refusal.FORBIDDEN
    lowered = rtc.lower_all(state, "pm")
    assert not any(s.hand for s in lowered.state.seats.values())
    assert len(lowered.events) == 2
    assert not rtc.lower_all(lowered.state, "pm").changed


def test_teacher_only_cameras_between_viewers() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), ("pb", Role.VIEWER),
                   teacher_only_cameras=True)
    assert refusal(rtc.check_signal, state, "pa", "pb", video=True) is Refusal.FORBIDDEN
    assert rtc.check_signal(state, "pa", "pb", video=False).peer == "pb"  # audio is fine
    assert rtc.check_signal(state, "pa", "pm", video=True).peer == "pm"
    assert rtc.check_signal(state, "pm", "pb", video=True).peer == "pb"
    assert refusal(rtc.check_signal, state, "pa", "pnope", video=False) is Refusal.NO_SUCH_PEER
    assert refusal(rtc.check_signal, state, "pa", "pa", video=False) is Refusal.NO_SUCH_PEER


def test_remove_and_the_ends_of_a_call() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), ("pb", Role.VIEWER))
    assert refusal(rtc.remove, state, "pa", "pb") is Refusal.FORBIDDEN
    assert refusal(rtc.remove, state, "pm", "pm") is Refusal.BAD_REQUEST
    removed = rtc.remove(state, "pm", "pb")
    assert "pb" not in removed.state.seats
    assert "person-pb" in removed.state.removed
    assert refusal(join, removed.state, "pb") is Refusal.REMOVED
    assert refusal(rtc.check_signal, removed.state, "pb", "pa", video=False) is \
        Refusal.NOT_IN_CALL
    # The last moderator leaving ends the call (the default)...
    ended = rtc.leave(removed.state, "pm")
    assert ended.state.status is Status.ENDED
    assert not ended.state.seats
    assert ("pa", "call.ended") in events(ended)
    assert refusal(join, ended.state, "pz") is Refusal.ENDED
    # ...unless the control is off; then the call ends when empty.
    kept = rtc.leave(seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER),
                            end_when_no_moderator=False), "pm")
    assert kept.state.status is Status.OPEN
    assert rtc.leave(kept.state, "pa").state.status is Status.ENDED
    by_moderator = rtc.end(state, "pm")
    assert [o.fields["reason"] for o in by_moderator.events] == ["ended_by_moderator"] * 3


def test_breakouts_split_signalling_and_return_on_time() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), ("pb", Role.VIEWER),
                   ("pc", Role.VIEWER))
    assert refusal(rtc.open_breakouts, state, "pm", ["A"], {"pa": 3}, 600, NOW) is \
        Refusal.BAD_REQUEST
    assert refusal(rtc.open_breakouts, state, "pm", ["A"], {"pz": 0}, 600, NOW) is \
        Refusal.NO_SUCH_PEER
    assert refusal(rtc.open_breakouts, state, "pm", ["A"], {}, 10, NOW) is Refusal.BAD_REQUEST
    opened = rtc.open_breakouts(state, "pm", ["A", "B"], {"pa": 0, "pb": 0, "pc": 1}, 600, NOW)
    split = opened.state
    assert {p: s.breakout for p, s in split.seats.items()} == {
        "pm": "", "pa": "A", "pb": "A", "pc": "B"}
    moved = {o.target: [p["peer"] for p in o.fields["peers"]]
             for o in opened.events if o.ev == "call.moved"}
    assert moved == {"pm": [], "pa": ["pb"], "pb": ["pa"], "pc": []}
    assert rtc.check_signal(split, "pa", "pb", video=True).peer == "pb"
    assert refusal(rtc.check_signal, split, "pa", "pc", video=False) is Refusal.FORBIDDEN
    assert refusal(rtc.open_breakouts, split, "pm", ["C"], {}, 600, NOW) is Refusal.CONFLICT
    assert not rtc.close_breakouts(split, None, NOW + 599_999).changed  # not yet
    back = rtc.close_breakouts(split, None, NOW + 600_000)
    assert all(s.breakout == "" for s in back.state.seats.values())
    assert not back.state.breakouts
    assert not rtc.close_breakouts(back.state, None, NOW + 700_000).changed  # idempotent
    assert rtc.close_breakouts(split, "pm", NOW).state.breakouts == ()


def test_expired_nodes_lose_their_seats() -> None:
    state = call()
    for peer, node in (("pa", "n1"), ("pb", "n2"), ("pc", "n2")):
        state = rtc.join(state, Joiner(peer, "person-" + peer, peer, Role.VIEWER, False, node,
                                       "c"), NOW, capacity=9, mesh_size=4).state
    outcome = rtc.expire_seats(state, frozenset({"n2"}))
    assert set(outcome.state.seats) == {"pa"}
    assert {o.fields["reason"] for o in outcome.events if o.ev == "call.peer_left"} == {
        "connection_lost"}


def test_state_round_trips_through_the_store_format() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), teacher_only_cameras=True)
    state = rtc.open_breakouts(state, "pm", ["A"], {"pa": 0}, 600, NOW).state
    state = rtc.remove(state, "pm", "pa").state
    assert CallState.from_store(state.to_store()) == state


def test_an_empty_call_ends_as_idle_and_an_occupied_one_does_not() -> None:
    idle = rtc.end_if_idle(call())
    assert idle.state.status is Status.ENDED
    assert not rtc.end_if_idle(idle.state).changed
    waiting = join(call(lobby=LobbyPolicy.ASK_MODERATOR), "pv").state
    assert not rtc.end_if_idle(waiting).changed  # someone waits in the lobby


def test_a_visiting_teacher_leaving_a_pupils_group_does_not_end_it() -> None:
    from dataclasses import replace

    group = replace(call(end_when_no_moderator=False), moderated=False,
                    members=frozenset({"person-pa", "person-pb"}))
    state = group
    for peer, role in (("pa", Role.VIEWER), ("pm", Role.MODERATOR), ("pb", Role.VIEWER)):
        state = join(state, peer, role).state
    left = rtc.leave(state, "pm")
    assert left.state.status is Status.OPEN
    assert set(left.state.seats) == {"pa", "pb"}
    # The control cannot be turned on in a call pupils opened...
    state = join(left.state, "pm", Role.MODERATOR).state
    assert refusal(rtc.set_controls, state, "pm", Controls(end_when_no_moderator=True), 4) \
        is Refusal.BAD_REQUEST
    # ...and a stored row with it on (written before) does not end either.
    forced = replace(state, controls=Controls(end_when_no_moderator=True))
    assert rtc.leave(forced, "pm").state.status is Status.OPEN
    # A study group a teacher opened still ends when its last moderator leaves.
    opened = replace(group, moderated=True, controls=Controls())
    opened = join(join(opened, "pm", Role.MODERATOR).state, "pa").state
    ended = rtc.leave(opened, "pm")
    assert ended.state.status is Status.ENDED
    assert [o.fields["reason"] for o in ended.events if o.ev == "call.ended"] == ["no_moderator"]


def test_moderated_round_trips_and_old_rows_infer_it() -> None:
    from dataclasses import replace

    pupils = replace(call(), moderated=False, members=frozenset({"person-pa"}))
    assert CallState.from_store(pupils.to_store()) == pupils
    old_group = {k: v for k, v in pupils.to_store().items() if k != "moderated"}
    assert CallState.from_store(old_group).moderated is False
    old_class = {k: v for k, v in call().to_store().items() if k != "moderated"}
    assert CallState.from_store(old_class).moderated is True


def test_revoke_drops_a_seat_or_a_lobby_entry_of_a_person() -> None:
    state = seated(("pm", Role.MODERATOR), ("pa", Role.VIEWER), ("pb", Role.VIEWER))
    cut = rtc.revoke(state, "person-pb")
    assert set(cut.state.seats) == {"pm", "pa"}
    assert ("pb", "call.left") in events(cut)
    assert ("pa", "call.peer_left") in events(cut)
    assert {o.fields["reason"] for o in cut.events} == {"revoked"}
    assert not rtc.revoke(cut.state, "person-pb").changed  # idempotent
    assert cut.state.removed == frozenset()  # the call itself bars nobody: re-admission works
    lobby = join(call(lobby=LobbyPolicy.ASK_MODERATOR), "pm", Role.MODERATOR).state
    lobby = join(lobby, "pv").state
    gone = rtc.revoke(lobby, "person-pv")
    assert not gone.state.seats.get("pv")
    assert (MODERATORS, "call.lobby") in events(gone)


# -- catching up after lost outcomes (a broker outage) ---------------------------------


def told(shown: CallState, now: CallState) -> list[tuple[str, str, object]]:
    return [(o.target, o.ev, o.fields.get("reason", o.fields.get("peer")))
            for o in rtc.catch_up(shown, now)]


def test_a_catch_up_tells_an_end_to_everyone_who_was_there() -> None:
    shown = seated(("t", Role.MODERATOR), ("lea", Role.VIEWER), ("hugo", Role.VIEWER))
    now = rtc.end(shown, "t").state
    assert told(shown, now) == [(p, "call.ended", "ended_by_moderator")
                                for p in ("t", "lea", "hugo")]
    assert all(o.release for o in rtc.catch_up(shown, now))
    assert CallState.from_store(now.to_store()).end_reason == "ended_by_moderator"
    assert told(now, now) == []  # nothing new: nothing told
    assert told(now, shown) == []


def test_a_catch_up_infers_why_a_seat_went() -> None:
    shown = seated(("t", Role.MODERATOR), ("lea", Role.VIEWER), ("hugo", Role.VIEWER),
                   ("ines", Role.VIEWER))
    now = rtc.remove(shown, "t", "lea").state
    now = rtc.leave(now, "hugo").state
    now = rtc.join(now, rtc.Joiner("ines2", "person-ines", "Ines", Role.VIEWER, False, "n",
                                   "c"), NOW + 1, capacity=10, mesh_size=4).state
    found = told(shown, now)
    assert ("lea", "call.left", "removed") in found
    assert ("hugo", "call.left", "left") in found
    assert ("ines", "call.left", "replaced") in found
    assert ("t", "call.peer_left", "removed") in found
    assert ("t", "call.peer_joined", {"peer": "ines2", "person": {"id": "person-ines",
                                                                   "name": "Ines"},
                                      "role": "viewer", "audio_muted": False,
                                      "video_muted": False, "hand": False, "breakout": None,
                                      "polite": True}) in found


def test_a_catch_up_of_breakout_rooms_gives_every_peer_its_rooms_peers() -> None:
    shown = seated(("t", Role.MODERATOR), ("lea", Role.VIEWER), ("hugo", Role.VIEWER))
    now = rtc.open_breakouts(shown, "t", ["A", "B"], {"lea": 0, "hugo": 1}, 60, NOW).state
    moved = {o.target: o.fields for o in rtc.catch_up(shown, now) if o.ev == "call.moved"}
    assert moved["t"]["peers"] == []  # the teacher stays in the main room, alone
    assert (moved["lea"]["breakout"], moved["hugo"]["breakout"]) == ("A", "B")
