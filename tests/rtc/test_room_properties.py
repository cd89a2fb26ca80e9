"""Random sequences of transitions keep the call room's invariants (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from preau.rtc import room as rtc
from preau.rtc.room import CallRefused, CallState, Controls, Joiner, LobbyPolicy, Role, Status

NOW = 1_700_000_000_000
PEOPLE = ["a", "b", "c", "d", "e", "m"]  # "m" is the moderator
CAPACITY = 4

step = st.tuples(
    st.sampled_from(["join", "leave", "admit", "deny", "remove", "mute_all", "unmute",
                     "lock", "unlock", "hand", "lower_all", "breakouts", "close", "end",
                     "signal", "revoke"]),
    st.sampled_from(PEOPLE), st.sampled_from(PEOPLE),
)


def peer_of(state: CallState, person: str) -> str:
    seat = state.seat_of_person("person-" + person)
    return seat.peer if seat is not None else "p-" + person + "-gone"


def apply(state: CallState, op: str, who: str, other: str, serial: int) -> CallState:
    me, them = peer_of(state, who), peer_of(state, other)
    if op == "join":
        role = Role.MODERATOR if who == "m" else Role.VIEWER
        joiner = Joiner(f"p-{who}-{serial}", "person-" + who, who, role, False, "n", "c")
        return rtc.join(state, joiner, NOW, capacity=CAPACITY, mesh_size=3).state
    transitions = {
        "leave": lambda: rtc.leave(state, me),
        "admit": lambda: rtc.admit(state, me, them, 3, CAPACITY),
        "deny": lambda: rtc.deny(state, me, them),
        "remove": lambda: rtc.remove(state, me, them),
        "mute_all": lambda: rtc.mute_all(state, me),
        "unmute": lambda: rtc.set_media(state, me, me, audio_muted=False, video_muted=None),
        "lock": lambda: rtc.set_controls(state, me, Controls(
            lobby=LobbyPolicy.ASK_MODERATOR, mic_locked=True), 3),
        "unlock": lambda: rtc.set_controls(state, me, Controls(), 3),
        "hand": lambda: rtc.set_hand(state, me, me, True),
        "lower_all": lambda: rtc.lower_all(state, me),
        "breakouts": lambda: rtc.open_breakouts(state, me, ["A", "B"], {them: 1}, 60, NOW),
        "close": lambda: rtc.close_breakouts(state, me, NOW),
        "end": lambda: rtc.end(state, me),
        "revoke": lambda: rtc.revoke(state, "person-" + other),  # lost the class room
    }
    if op == "signal":
        rtc.check_signal(state, me, them, video=True)
        return state
    return transitions[op]().state


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40), st.booleans())
def test_invariants_hold_whatever_happens(
    steps: list[tuple[str, str, str]], moderated: bool,
) -> None:
    # ``moderated``: a moderator opened it (else pupils did, and the
    # moderator "m" only visits: the call never ends for want of one).
    state = CallState("c", "s", "r", "n", "person-m", NOW, None, moderated=moderated)
    for serial, (op, who, other) in enumerate(steps):
        before = state
        try:
            state = apply(state, op, who, other, serial)
        except CallRefused:
            assert state == before  # a refusal changes nothing
            continue
        assert state.version >= before.version
        seated = state.seated()
        # One seat per person; capacity; nobody removed is in the call.
        people = [s.person for s in state.seats.values()]
        assert len(people) == len(set(people))
        assert len(seated) <= CAPACITY
        assert not {s.person for s in state.seats.values()} & state.removed
        # Locked viewers are muted; an ended call holds nobody.
        if state.controls.mic_locked:
            assert all(s.audio_muted for s in state.seats.values() if s.role is Role.VIEWER)
        if state.status is Status.ENDED:
            assert not state.seats
            if not moderated and before.status is Status.OPEN and op == "leave":
                assert before.seats.keys() == {peer_of(before, who)}  # left empty
            assert before.status is Status.ENDED or state.version > before.version
        # Breakouts: every seat is in the main room or one of the open rooms.
        assert all(s.breakout in ("", *state.breakouts) for s in state.seats.values())
        assert CallState.from_store(state.to_store()) == state
