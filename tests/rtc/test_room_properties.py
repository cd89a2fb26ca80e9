"""Random sequences of transitions keep the call room's invariants, and a
catch-up from the states alone tells peers what the lost events would have
(hypothesis)."""

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
    return apply_outcome(state, op, who, other, serial).state


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


# -- catching up: lost outcomes told from the states alone ------------------------------


class View:
    """What one peer's client knows of the call, from the events it got."""

    def __init__(self, state: CallState, seat: rtc.Seat) -> None:
        self.peer = seat.peer
        self.inside = True
        self.admitted = seat.admitted
        self.me = seat.to_wire()
        self.peers = _listed(state, seat) if seat.admitted else {}
        self.controls = state.controls.to_wire()
        self.lobby: list[str] | None = None

    def take(self, state: CallState, ev: str, fields: dict[str, object]) -> None:
        """``state``: the state the event was made with (the admitted's welcome)."""
        if not self.inside:
            return
        peer = fields.get("peer")
        if ev in ("call.left", "call.ended"):
            self.inside = False
        elif ev == "call.peer_joined":
            entry = dict(fields["peer"])  # type: ignore[call-overload]
            entry.pop("polite")
            self.peers[entry["peer"]] = entry
        elif ev == "call.peer_left":
            self.peers.pop(str(peer), None)
        elif ev == "call.peer_updated":
            entry = dict(peer)  # type: ignore[call-overload]
            if entry["peer"] == self.peer:
                self.me = entry
            elif entry["peer"] in self.peers:
                self.peers[entry["peer"]] = entry
        elif ev == "call.admitted":
            self.admitted = True
            self.peers = _listed(state, state.seats[self.peer])
        elif ev == "call.moved":
            self.peers = {p["peer"]: {k: v for k, v in p.items() if k != "polite"}
                          for p in fields["peers"]}  # type: ignore[attr-defined]
            self.me = state.seats[self.peer].to_wire()
        elif ev == "call.controls":
            self.controls = dict(fields["controls"])  # type: ignore[call-overload]
        elif ev == "call.lobby":
            self.lobby = [w["peer"] for w in fields["waiting"]]  # type: ignore[attr-defined]

    def summary(self) -> tuple[object, ...]:
        if not self.inside:
            return (False,)
        return (True, self.admitted, self.me, self.peers, self.controls)


def _listed(state: CallState, seat: rtc.Seat) -> dict[str, dict[str, object]]:
    return {p["peer"]: {k: v for k, v in p.items() if k != "polite"}
            for p in rtc.peer_list(state, seat)}


def tell(views: dict[str, View], state: CallState, events: tuple[rtc.Out, ...]) -> None:
    """Deliver ``events`` as a node does (preau/server/calls/relay.py ``_deliver``)."""
    for out in events:
        if out.target == rtc.ALL:
            targets = [s.peer for s in state.seated()]
        elif out.target == rtc.MODERATORS:
            targets = [s.peer for s in state.moderators()]
        else:
            targets = [out.target]
        for peer in targets:
            if peer in views and peer != out.exclude:
                views[peer].take(state, out.ev, dict(out.fields))


def run(state: CallState, steps: list[tuple[str, str, str]], views: dict[str, View],
        start: int) -> CallState:
    """Apply ``steps`` (joins open views), telling each outcome's events."""
    for serial, (op, who, other) in enumerate(steps, start=start):
        try:
            outcome = apply_outcome(state, op, who, other, serial)
        except CallRefused:
            continue
        tell(views, outcome.state, outcome.events)
        if op == "join" and outcome.seat is not None:
            views[outcome.seat.peer] = View(outcome.state, outcome.seat)
        state = outcome.state
    return state


def apply_outcome(state: CallState, op: str, who: str, other: str, serial: int) -> rtc.Outcome:
    if op == "join":
        role = Role.MODERATOR if who == "m" else Role.VIEWER
        joiner = Joiner(f"p-{who}-{serial}", "person-" + who, who, role, False, "n", "c")
        return rtc.join(state, joiner, NOW, capacity=CAPACITY, mesh_size=3)
    me, them = peer_of(state, who), peer_of(state, other)
    if op == "signal":
        rtc.check_signal(state, me, them, video=True)
        return rtc.Outcome(state)
    return {
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
        "revoke": lambda: rtc.revoke(state, "person-" + other),
    }[op]()


@settings(max_examples=1500, deadline=None)
@given(st.lists(step, max_size=25), st.lists(step.filter(lambda s: s[0] != "join"),
                                            max_size=15))
def test_a_catch_up_leaves_every_peer_where_the_lost_events_would_have(
    before: list[tuple[str, str, str]], lost: list[tuple[str, str, str]],
) -> None:
    """Peers who were shown ``shown`` and then missed every outcome of ``lost``
    end, once told ``catch_up(shown, now)``, knowing what peers told every
    outcome know (the peers that were there all along; nobody joins during
    the loss: a joiner's own node tells it at once)."""
    views: dict[str, View] = {}
    shown = run(CallState("c", "s", "r", "n", "person-m", NOW, None), before, views, 0)
    told = {peer: _copy(view) for peer, view in views.items()}
    now = run(shown, lost, told, len(before))
    caught = {peer: _copy(view) for peer, view in views.items()}
    tell(caught, now, rtc.catch_up(shown, now))
    # ``tell`` with ``now`` reaches the seated of ``now``; the ended and the
    # released were told by name.
    for peer in views:
        assert caught[peer].summary() == told[peer].summary(), peer


def _copy(view: View) -> View:
    copy = object.__new__(View)
    copy.__dict__.update({k: (dict(v) if isinstance(v, dict) else v)
                          for k, v in view.__dict__.items()})
    return copy
