"""The call room's state machine, without I/O: immutable state in, new state and events out.

A call belongs to a class room (optionally narrowed to a study group: an
explicit list of pupils). People join as *peers* (one per person and call; a
second join replaces the first, as after a reconnect). Each transition is a
pure function ``(state, input, now) -> Outcome``; the service runs it inside
one short store transaction and fans the events out (preau/server/calls/).

Rules enforced here, not by client courtesy (docs/video.md):

- roles: moderator (teachers, staff), presenter (promoted by a moderator),
  viewer (pupils); only moderators change controls, admit, remove, end;
- lobby policy: ``always_admit``; ``ask_moderator`` (everyone but moderators
  waits until a moderator admits them); ``deny_guests`` (people outside the
  call's class or study group are refused);
- mute on start, mute all; microphone and camera locks (a viewer may not turn
  them on while locked); teacher-only cameras (no video between two viewers:
  checked on every relayed description); raise / lower hand, lower all;
- remove (the person may not come back in this call), end for all, end when
  the last moderator leaves (a control, on by default; only in a call a
  moderator opened: a teacher visiting a pupils' study group and leaving
  does not end it);
- capacity per call (the school's capacity is counted by the store);
- mesh up to ``mesh_size`` peers, then SFU mode (sticky: a call never goes
  back to mesh, clients would have to tear everything down twice);
- breakout rooms: moderators assign peers to named rooms with a deadline;
  signalling only flows inside one room; at the deadline (or on demand)
  everyone returns to the main room.

Perfect negotiation: between two peers, the one whose peer id sorts *after*
the other's is polite (it rolls back on glare). Both learn it from the server
(``polite`` in every peer entry they receive), so they never disagree.

Longer than ~600 lines on purpose: it is one state machine, every
transition a short pure function over the same :class:`CallState`; the rules
above hold across transitions (a removed person never rejoins, SFU mode is
sticky, breakouts confine signalling), and keeping every transition in one
module is how a reader checks them together (tests/rtc/test_room.py does,
transition by transition).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

MAX_BREAKOUTS = 20
MAX_BREAKOUT_S = 4 * 3600
MAX_NAME_CHARS = 80

ALL = "*"  # event target: every seated peer (of the same breakout room when ``breakout``)
MODERATORS = "@moderators"


class Role(StrEnum):
    MODERATOR = "moderator"
    PRESENTER = "presenter"
    VIEWER = "viewer"


class LobbyPolicy(StrEnum):
    ALWAYS_ADMIT = "always_admit"
    ASK_MODERATOR = "ask_moderator"
    DENY_GUESTS = "deny_guests"


class Status(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class Refusal(StrEnum):
    """Why a transition was refused; the service maps each to an error code."""

    NOT_IN_CALL = "not_in_call"  # no such seat for this peer (left, removed, never joined)
    NO_SUCH_PEER = "no_such_peer"  # the addressed peer is not in the call
    FORBIDDEN = "forbidden"  # role or policy forbids it
    REMOVED = "removed"  # the person was removed from this call
    FULL = "full"  # capacity reached
    ENDED = "ended"  # the call is over
    CONFLICT = "conflict"  # wrong mode or state (mesh signalling in SFU mode, …)
    BAD_REQUEST = "bad_request"


class CallRefused(Exception):
    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Controls:
    lobby: LobbyPolicy = LobbyPolicy.ALWAYS_ADMIT
    mute_on_start: bool = False
    mic_locked: bool = False
    camera_locked: bool = False
    teacher_only_cameras: bool = False
    end_when_no_moderator: bool = True
    force_sfu: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"lobby": self.lobby.value, "mute_on_start": self.mute_on_start,
                "mic_locked": self.mic_locked, "camera_locked": self.camera_locked,
                "teacher_only_cameras": self.teacher_only_cameras,
                "end_when_no_moderator": self.end_when_no_moderator,
                "force_sfu": self.force_sfu}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Controls:
        return cls(LobbyPolicy(data["lobby"]), bool(data["mute_on_start"]),
                   bool(data["mic_locked"]), bool(data["camera_locked"]),
                   bool(data["teacher_only_cameras"]), bool(data["end_when_no_moderator"]),
                   bool(data["force_sfu"]))


@dataclass(frozen=True, slots=True)
class Seat:
    """A peer in the call, or waiting in its lobby (``admitted`` false).

    ``node`` and ``conn`` say where its socket is, so that events addressed to
    it are written by that node only.
    """

    peer: str
    person: str
    name: str
    role: Role
    node: str
    conn: str
    since_ms: int
    admitted: bool = True
    guest: bool = False
    audio_muted: bool = False
    video_muted: bool = False
    hand: bool = False
    breakout: str = ""  # "" is the main room

    def to_wire(self) -> dict[str, Any]:
        """What other peers see (never the node, socket or admission internals)."""
        return {"peer": self.peer, "person": {"id": self.person, "name": self.name},
                "role": self.role.value, "audio_muted": self.audio_muted,
                "video_muted": self.video_muted, "hand": self.hand,
                "breakout": self.breakout or None}

    def to_store(self) -> dict[str, Any]:
        return {"peer": self.peer, "person": self.person, "name": self.name,
                "role": self.role.value, "node": self.node, "conn": self.conn,
                "since": self.since_ms, "admitted": self.admitted, "guest": self.guest,
                "am": self.audio_muted, "vm": self.video_muted, "hand": self.hand,
                "br": self.breakout}

    @classmethod
    def from_store(cls, d: Mapping[str, Any]) -> Seat:
        return cls(d["peer"], d["person"], d["name"], Role(d["role"]), d["node"], d["conn"],
                   int(d["since"]), bool(d["admitted"]), bool(d["guest"]), bool(d["am"]),
                   bool(d["vm"]), bool(d["hand"]), d["br"])


def polite(me: str, other: str) -> bool:
    """Perfect negotiation: the peer whose id sorts after the other's is polite."""
    return me > other


@dataclass(frozen=True, slots=True)
class CallState:
    id: str
    school_id: str
    room_id: str  # the class room the call belongs to
    name: str
    created_by: str
    created_ms: int
    members: frozenset[str] | None  # a study group's people; None: the whole class
    controls: Controls = Controls()
    status: Status = Status.OPEN
    sfu: bool = False
    seats: Mapping[str, Seat] = field(default_factory=dict)  # peer id → seat (and lobby)
    removed: frozenset[str] = frozenset()  # person ids that may not come back
    breakouts: tuple[str, ...] = ()  # names; a seat's ``breakout`` is one of them
    breakout_ends_ms: int = 0
    had_moderator: bool = False
    version: int = 0
    # Opened by a moderator (teacher of the class, staff). Only then does the
    # last moderator's departure end it (``end_when_no_moderator``): a pupils'
    # study group a teacher visits goes on when the teacher leaves.
    moderated: bool = True
    end_reason: str = ""  # why it ended (``call.ended``'s reason), once it has

    # -- reading -----------------------------------------------------------
    def seated(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.admitted]

    def waiting(self) -> list[Seat]:
        return [s for s in self.seats.values() if not s.admitted]

    def seat_of_person(self, person: str) -> Seat | None:
        return next((s for s in self.seats.values() if s.person == person), None)

    def moderators(self) -> list[Seat]:
        return [s for s in self.seated() if s.role is Role.MODERATOR]

    def to_wire(self, *, for_moderator: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "call": self.id, "room": self.room_id, "name": self.name,
            "status": self.status.value, "mode": "sfu" if self.sfu else "mesh",
            "study_group": self.members is not None, "controls": self.controls.to_wire(),
            "breakouts": list(self.breakouts),
            "breakout_ends": self.breakout_ends_ms or None,
            "seated": len(self.seated()),
        }
        if for_moderator:
            body["lobby"] = [s.to_wire() for s in self.waiting()]
        return body

    def to_store(self) -> dict[str, Any]:
        return {"id": self.id, "school": self.school_id, "room": self.room_id,
                "name": self.name, "by": self.created_by, "created": self.created_ms,
                "members": None if self.members is None else sorted(self.members),
                "controls": self.controls.to_wire(), "status": self.status.value,
                "sfu": self.sfu, "seats": [s.to_store() for s in self.seats.values()],
                "removed": sorted(self.removed), "breakouts": list(self.breakouts),
                "breakout_ends": self.breakout_ends_ms, "had_mod": self.had_moderator,
                "version": self.version, "moderated": self.moderated,
                "end": self.end_reason}

    @classmethod
    def from_store(cls, d: Mapping[str, Any]) -> CallState:
        seats = [Seat.from_store(s) for s in d["seats"]]
        return cls(
            d["id"], d["school"], d["room"], d["name"], d["by"], int(d["created"]),
            None if d["members"] is None else frozenset(d["members"]),
            Controls.from_wire(d["controls"]), Status(d["status"]), bool(d["sfu"]),
            {s.peer: s for s in seats}, frozenset(d["removed"]), tuple(d["breakouts"]),
            int(d["breakout_ends"]), bool(d["had_mod"]), int(d["version"]),
            # Rows written before "moderated" was kept: class calls are only
            # opened by moderators; a study group is taken as a pupils' one.
            bool(d.get("moderated", d["members"] is None)),
            end_reason=str(d.get("end", "")),
        )


@dataclass(frozen=True, slots=True)
class Out:
    """An event for ``target``: a peer id, :data:`ALL` (every seated peer, or
    those of ``breakout`` when set), or :data:`MODERATORS`.

    ``release`` tells the node holding that peer to forget it (left, removed,
    replaced, ended): later signalling from it is refused.
    """

    target: str
    ev: str
    fields: Mapping[str, Any]
    exclude: str | None = None
    release: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    state: CallState
    events: tuple[Out, ...] = ()
    seat: Seat | None = None  # the seat the input created or acted on

    @property
    def changed(self) -> bool:
        return bool(self.events)


@dataclass(frozen=True, slots=True)
class Joiner:
    """Who asks to join, as the service determined it through the directory."""

    peer: str
    person: str
    name: str
    role: Role
    guest: bool  # may join the class room but is outside the call's class / group
    node: str
    conn: str


def _bump(state: CallState, **changes: Any) -> CallState:
    return replace(state, version=state.version + 1, **changes)


def _with_seat(state: CallState, seat: Seat) -> dict[str, Seat]:
    seats = dict(state.seats)
    seats[seat.peer] = seat
    return seats


def _without(state: CallState, peer: str) -> dict[str, Seat]:
    return {p: s for p, s in state.seats.items() if p != peer}


def _open(state: CallState) -> None:
    if state.status is Status.ENDED:
        raise CallRefused(Refusal.ENDED, "this call has ended")


def _seat(state: CallState, peer: str) -> Seat:
    seat = state.seats.get(peer)
    if seat is None or not seat.admitted:
        raise CallRefused(Refusal.NOT_IN_CALL, "you are not in this call")
    return seat


def _moderator(state: CallState, peer: str) -> Seat:
    _open(state)
    seat = _seat(state, peer)
    if seat.role is not Role.MODERATOR:
        raise CallRefused(Refusal.FORBIDDEN, "only a moderator may do this")
    return seat


def peer_list(state: CallState, me: Seat) -> list[dict[str, Any]]:
    """The peers ``me`` may negotiate with (same breakout room), with roles."""
    return [
        {**s.to_wire(), "polite": polite(me.peer, s.peer)}
        for s in state.seated() if s.peer != me.peer and s.breakout == me.breakout
    ]


def _announce_arrival(state: CallState, seat: Seat) -> list[Out]:
    return [
        Out(other.peer, "call.peer_joined",
            {"call": state.id, "peer": {**seat.to_wire(), "polite": polite(other.peer, seat.peer)}})
        for other in state.seated()
        if other.peer != seat.peer and other.breakout == seat.breakout
    ]


def _lobby_event(state: CallState) -> Out:
    return Out(MODERATORS, "call.lobby",
               {"call": state.id, "waiting": [s.to_wire() for s in state.waiting()]})


def _maybe_sfu(state: CallState, mesh_size: int) -> tuple[CallState, list[Out]]:
    if state.sfu or (len(state.seated()) <= mesh_size and not state.controls.force_sfu):
        return state, []
    state = replace(state, sfu=True)
    return state, [Out(ALL, "call.mode", {"call": state.id, "mode": "sfu"})]


def join(
    state: CallState, who: Joiner, now_ms: int, *, capacity: int, mesh_size: int,
) -> Outcome:
    """Seat ``who`` or put them in the lobby; a previous seat of theirs is replaced.

    The outcome's ``seat`` is the new seat (``admitted`` tells which). The
    school's capacity is the caller's business (it spans calls).
    """
    _open(state)
    if who.person in state.removed:
        raise CallRefused(Refusal.REMOVED, "you were removed from this call")
    events: list[Out] = []
    old = state.seat_of_person(who.person)
    if old is not None:
        state, replaced = _drop(state, old, "replaced")
        events += replaced
    if who.guest and state.controls.lobby is LobbyPolicy.DENY_GUESTS:
        raise CallRefused(Refusal.FORBIDDEN, "this call admits its class or group only")
    if len(state.seated()) >= capacity:
        raise CallRefused(Refusal.FULL, "this call is full")
    waits = (state.controls.lobby is LobbyPolicy.ASK_MODERATOR
             and who.role is not Role.MODERATOR)
    mute = state.controls.mute_on_start and who.role is not Role.MODERATOR
    locked_audio = state.controls.mic_locked and who.role is Role.VIEWER
    locked_video = state.controls.camera_locked and who.role is Role.VIEWER
    seat = Seat(
        who.peer, who.person, who.name, who.role, who.node, who.conn, now_ms,
        admitted=not waits, guest=who.guest,
        audio_muted=mute or locked_audio, video_muted=locked_video,
    )
    state = _bump(state, seats=_with_seat(state, seat),
                  had_moderator=state.had_moderator or who.role is Role.MODERATOR)
    if waits:
        events.append(_lobby_event(state))
        return Outcome(state, tuple(events), seat)
    state, mode = _maybe_sfu(state, mesh_size)
    events += mode
    events += _announce_arrival(state, seat)
    return Outcome(state, tuple(events), seat)


def _drop(state: CallState, seat: Seat, reason: str) -> tuple[CallState, list[Out]]:
    """Remove a seat (or a lobby entry); tell the others and release the peer."""
    state = _bump(state, seats=_without(state, seat.peer))
    events = [Out(seat.peer, "call.left", {"call": state.id, "peer": seat.peer,
                                           "reason": reason}, release=True)]
    if seat.admitted:
        events += [
            Out(other.peer, "call.peer_left", {"call": state.id, "peer": seat.peer,
                                                "reason": reason})
            for other in state.seated() if other.breakout == seat.breakout
        ]
    else:
        events.append(_lobby_event(state))
    return state, events


def leave(state: CallState, peer: str, reason: str = "left") -> Outcome:
    """A peer leaves (or its socket closed). Ends the call when it was the
    last moderator of a call a moderator opened and ``end_when_no_moderator``
    is on, or when nobody is left."""
    seat = state.seats.get(peer)
    if seat is None:
        raise CallRefused(Refusal.NOT_IN_CALL, "you are not in this call")
    if state.status is Status.ENDED:
        return Outcome(state)
    state, events = _drop(state, seat, reason)
    if (seat.role is Role.MODERATOR and seat.admitted and not state.moderators()
            and state.moderated and state.controls.end_when_no_moderator):
        ended = _end(state, "no_moderator")
        return Outcome(ended.state, (*events, *ended.events), seat)
    if not state.seats:
        ended = _end(state, "empty")
        return Outcome(ended.state, (*events, *ended.events), seat)
    return Outcome(state, tuple(events), seat)


def revoke(state: CallState, person: str) -> Outcome:
    """``person`` lost the right to the call's class room (removed from the
    room by a moderator, moved to another class, gone from the school): their
    seat or lobby entry goes at once (``revoked``). No-op when they hold none."""
    seat = state.seat_of_person(person)
    if seat is None or state.status is Status.ENDED:
        return Outcome(state)
    return leave(state, seat.peer, "revoked")


def _end(state: CallState, reason: str) -> Outcome:
    events = [Out(s.peer, "call.ended", {"call": state.id, "reason": reason}, release=True)
              for s in state.seats.values()]
    state = _bump(state, status=Status.ENDED, seats={}, breakouts=(), breakout_ends_ms=0,
                  end_reason=reason)
    return Outcome(state, tuple(events))


def end_if_idle(state: CallState) -> Outcome:
    """End an open call nobody is in (opened and never joined, or left by
    a crashed node): it would otherwise be listed as open forever."""
    if state.status is Status.ENDED or state.seats:
        return Outcome(state)
    return _end(state, "idle")


def end(state: CallState, by: str) -> Outcome:
    """End the call for all (moderators)."""
    _moderator(state, by)
    return _end(state, "ended_by_moderator")


def admit(state: CallState, by: str, peer: str, mesh_size: int, capacity: int) -> Outcome:
    _moderator(state, by)
    seat = state.seats.get(peer)
    if seat is None or seat.admitted:
        raise CallRefused(Refusal.NO_SUCH_PEER, "nobody with this peer id is waiting")
    if len(state.seated()) >= capacity:
        raise CallRefused(Refusal.FULL, "this call is full")
    seat = replace(seat, admitted=True)
    state = _bump(state, seats=_with_seat(state, seat))
    state, events = _maybe_sfu(state, mesh_size)
    events.append(Out(peer, "call.admitted", {"call": state.id, "peer": peer}))
    events += _announce_arrival(state, seat)
    events.append(_lobby_event(state))
    return Outcome(state, tuple(events), seat)


def deny(state: CallState, by: str, peer: str) -> Outcome:
    _moderator(state, by)
    seat = state.seats.get(peer)
    if seat is None or seat.admitted:
        raise CallRefused(Refusal.NO_SUCH_PEER, "nobody with this peer id is waiting")
    state, events = _drop(state, seat, "denied")
    return Outcome(state, tuple(events), seat)


def remove(state: CallState, by: str, peer: str) -> Outcome:
    """Remove a peer for the rest of the call (it may not join again)."""
    mod = _moderator(state, by)
    seat = state.seats.get(peer)
    if seat is None:
        raise CallRefused(Refusal.NO_SUCH_PEER, "no such peer in this call")
    if seat.peer == mod.peer:
        raise CallRefused(Refusal.BAD_REQUEST, "leave the call instead of removing yourself")
    state, events = _drop(state, seat, "removed")
    state = replace(state, removed=state.removed | {seat.person})
    return Outcome(state, tuple(events), seat)


def set_controls(state: CallState, by: str, controls: Controls, mesh_size: int) -> Outcome:
    """Change the call's controls (moderators). Locking the microphones mutes
    every viewer; locking cameras turns their cameras off."""
    _moderator(state, by)
    old = state.controls
    if controls == old:
        return Outcome(state)
    if controls.end_when_no_moderator and not old.end_when_no_moderator and not state.moderated:
        raise CallRefused(Refusal.BAD_REQUEST, "pupils opened this call: it does not end"
                                               " when its teachers leave")
    seats = dict(state.seats)
    events: list[Out] = []
    for p, s in state.seats.items():
        if s.role is not Role.VIEWER:
            continue
        new = replace(s, audio_muted=s.audio_muted or controls.mic_locked,
                      video_muted=s.video_muted or controls.camera_locked)
        if new != s:
            seats[p] = new
            if s.admitted:
                events.append(Out(ALL, "call.peer_updated", {"call": state.id,
                                                             "peer": new.to_wire()}))
    state = _bump(state, controls=controls, seats=seats)
    state, mode = _maybe_sfu(state, mesh_size)
    events.insert(0, Out(ALL, "call.controls", {"call": state.id,
                                                "controls": controls.to_wire()}))
    return Outcome(state, (*events, *mode))


def mute_all(state: CallState, by: str) -> Outcome:
    """Mute every microphone but the moderators' (they may unmute unless locked)."""
    _moderator(state, by)
    seats = dict(state.seats)
    events: list[Out] = []
    for p, s in state.seats.items():
        if s.role is Role.MODERATOR or s.audio_muted:
            continue
        seats[p] = replace(s, audio_muted=True)
        if s.admitted:
            events.append(Out(ALL, "call.peer_updated", {"call": state.id,
                                                         "peer": seats[p].to_wire()}))
    if not events:
        return Outcome(state)
    return Outcome(_bump(state, seats=seats), tuple(events))


def set_media(
    state: CallState, by: str, peer: str, *, audio_muted: bool | None, video_muted: bool | None,
) -> Outcome:
    """Mute or unmute a microphone / camera. Anyone may mute themselves; a
    moderator may mute anyone; unmuting is one's own, and refused to viewers
    while locked."""
    _open(state)
    actor = _seat(state, by)
    seat = state.seats.get(peer)
    if seat is None:
        raise CallRefused(Refusal.NO_SUCH_PEER, "no such peer in this call")
    if peer != by:
        if actor.role is not Role.MODERATOR:
            raise CallRefused(Refusal.FORBIDDEN, "only a moderator may mute someone else")
        if audio_muted is False or video_muted is False:
            raise CallRefused(Refusal.FORBIDDEN, "people unmute themselves")
    if seat.role is Role.VIEWER:
        if audio_muted is False and state.controls.mic_locked:
            raise CallRefused(Refusal.FORBIDDEN, "microphones are locked by the teacher")
        if video_muted is False and state.controls.camera_locked:
            raise CallRefused(Refusal.FORBIDDEN, "cameras are locked by the teacher")
    new = replace(seat,
                  audio_muted=seat.audio_muted if audio_muted is None else audio_muted,
                  video_muted=seat.video_muted if video_muted is None else video_muted)
    if new == seat:
        return Outcome(state, seat=seat)
    state = _bump(state, seats=_with_seat(state, new))
    return Outcome(state, (Out(ALL, "call.peer_updated", {"call": state.id,
                                                           "peer": new.to_wire()}),), new)


def set_hand(state: CallState, by: str, peer: str, raised: bool) -> Outcome:
    """Raise or lower one's own hand; a moderator may lower anyone's."""
    _open(state)
    actor = _seat(state, by)
    seat = _seat(state, peer)
    if peer != by and (raised or actor.role is not Role.MODERATOR):
        raise CallRefused(Refusal.FORBIDDEN, "only a moderator may lower someone's hand")
    if seat.hand == raised:
        return Outcome(state, seat=seat)
    new = replace(seat, hand=raised)
    state = _bump(state, seats=_with_seat(state, new))
    return Outcome(state, (Out(ALL, "call.peer_updated", {"call": state.id,
                                                           "peer": new.to_wire()}),), new)


def lower_all(state: CallState, by: str) -> Outcome:
    _moderator(state, by)
    raised = [s for s in state.seated() if s.hand]
    if not raised:
        return Outcome(state)
    seats = dict(state.seats)
    for s in raised:
        seats[s.peer] = replace(s, hand=False)
    state = _bump(state, seats=seats)
    return Outcome(state, tuple(
        Out(ALL, "call.peer_updated", {"call": state.id, "peer": seats[s.peer].to_wire()})
        for s in raised))


def set_role(state: CallState, by: str, peer: str, role: Role) -> Outcome:
    """Promote a viewer to presenter or back (moderators; moderators stay moderators)."""
    _moderator(state, by)
    seat = _seat(state, peer)
    if seat.role is Role.MODERATOR or role is Role.MODERATOR:
        raise CallRefused(Refusal.FORBIDDEN, "moderators are the class's teachers and staff")
    if seat.role is role:
        return Outcome(state, seat=seat)
    new = replace(seat, role=role)
    if role is Role.VIEWER:
        new = replace(new, audio_muted=new.audio_muted or state.controls.mic_locked,
                      video_muted=new.video_muted or state.controls.camera_locked)
    state = _bump(state, seats=_with_seat(state, new))
    return Outcome(state, (Out(ALL, "call.peer_updated", {"call": state.id,
                                                           "peer": new.to_wire()}),), new)


def open_breakouts(
    state: CallState, by: str, rooms: Iterable[str], assignment: Mapping[str, int],
    duration_s: int, now_ms: int,
) -> Outcome:
    """Split the call: ``assignment`` maps peer ids to an index in ``rooms``.

    Peers not assigned (moderators usually) stay in the main room. Every moved
    peer gets ``call.moved`` with its new peer list: it closes its other peer
    connections and negotiates with the new ones.
    """
    _moderator(state, by)
    names = tuple(rooms)
    if not 1 <= len(names) <= MAX_BREAKOUTS or len(set(names)) != len(names):
        raise CallRefused(Refusal.BAD_REQUEST, f"give 1 to {MAX_BREAKOUTS} distinct rooms")
    if not 60 <= duration_s <= MAX_BREAKOUT_S:
        raise CallRefused(Refusal.BAD_REQUEST, "a breakout lasts 60 s to 4 h")
    if state.breakouts:
        raise CallRefused(Refusal.CONFLICT, "breakout rooms are already open")
    seats = dict(state.seats)
    for peer, index in assignment.items():
        seat = state.seats.get(peer)
        if seat is None or not seat.admitted:
            raise CallRefused(Refusal.NO_SUCH_PEER, "an assigned peer is not in the call")
        if not 0 <= index < len(names):
            raise CallRefused(Refusal.BAD_REQUEST, "a room index is out of range")
        seats[peer] = replace(seat, breakout=names[index])
    state = _bump(state, seats=seats, breakouts=names,
                  breakout_ends_ms=now_ms + duration_s * 1000)
    return Outcome(state, (
        Out(ALL, "call.breakouts", {"call": state.id, "rooms": list(names),
                                    "ends": state.breakout_ends_ms}),
        *_moves(state),
    ))


def _moves(state: CallState) -> list[Out]:
    return [Out(s.peer, "call.moved", {"call": state.id, "breakout": s.breakout or None,
                                       "peers": peer_list(state, s)})
            for s in state.seated()]


def close_breakouts(state: CallState, by: str | None, now_ms: int) -> Outcome:
    """Everyone back to the main room: on a moderator's demand (``by``), or
    by the timer (``by`` None: only once the deadline has passed)."""
    if by is not None:
        _moderator(state, by)
    elif state.status is Status.ENDED or not state.breakouts or now_ms < state.breakout_ends_ms:
        return Outcome(state)
    if not state.breakouts:
        raise CallRefused(Refusal.CONFLICT, "no breakout rooms are open")
    seats = {p: replace(s, breakout="") for p, s in state.seats.items()}
    state = _bump(state, seats=seats, breakouts=(), breakout_ends_ms=0)
    return Outcome(state, (
        Out(ALL, "call.breakouts", {"call": state.id, "rooms": [], "ends": None}),
        *_moves(state),
    ))


def check_signal(state: CallState, sender: str, recipient: str, *, video: bool) -> Seat:
    """May ``sender`` send signalling to ``recipient``? Return the recipient's seat.

    ``video``: the payload is a description with an active video section.
    Refused: the call ended or is in SFU mode, either peer not seated, the two
    in different breakout rooms, or video between two *viewers* under
    teacher-only cameras (a presenter's camera is meant to be seen).
    """
    _open(state)
    me = _seat(state, sender)
    if state.sfu:
        raise CallRefused(Refusal.CONFLICT, "this call is in SFU mode: use the sfu.* ops")
    other = state.seats.get(recipient)
    if other is None or not other.admitted or recipient == sender:
        raise CallRefused(Refusal.NO_SUCH_PEER, "no such peer in this call")
    if me.breakout != other.breakout:
        raise CallRefused(Refusal.FORBIDDEN, "this peer is in another breakout room")
    if (video and state.controls.teacher_only_cameras
            and me.role is Role.VIEWER and other.role is Role.VIEWER):
        raise CallRefused(Refusal.FORBIDDEN,
                          "cameras are visible to the teacher only: no video between pupils")
    return other


def expire_seats(state: CallState, dead_nodes: frozenset[str]) -> Outcome:
    """Drop the seats held by nodes that stopped heartbeating (crashed)."""
    outcome = Outcome(state)
    events: list[Out] = []
    for seat in [s for s in state.seats.values() if s.node in dead_nodes]:
        outcome = leave(outcome.state, seat.peer, "connection_lost")
        events += outcome.events
        if outcome.state.status is Status.ENDED:
            break
    return Outcome(outcome.state, tuple(events))


def catch_up(shown: CallState, now: CallState) -> tuple[Out, ...]:
    """The events that bring peers last shown ``shown`` to ``now``, when the
    outcomes between the two never reached their node (a broker outage) or
    are still on their way: what changed, told as the transitions tell it.
    A reason the state does not keep is inferred: ``removed`` (the person
    may not come back), ``replaced`` (they hold another seat), ``denied``
    (they were waiting), else ``left``."""
    if now.version <= shown.version or shown.status is Status.ENDED:
        return ()
    call = now.id
    if now.status is Status.ENDED:
        reason = now.end_reason or "ended_by_moderator"
        return tuple(Out(s.peer, "call.ended", {"call": call, "reason": reason}, release=True)
                     for s in shown.seats.values())
    events: list[Out] = []
    if now.controls != shown.controls:
        events.append(Out(ALL, "call.controls", {"call": call,
                                                 "controls": now.controls.to_wire()}))
    if now.sfu and not shown.sfu:
        events.append(Out(ALL, "call.mode", {"call": call, "mode": "sfu"}))
    for seat in shown.seats.values():
        if seat.peer in now.seats:
            continue
        reason = ("removed" if seat.person in now.removed
                  else "replaced" if now.seat_of_person(seat.person) is not None
                  else "left" if seat.admitted else "denied")
        events.append(Out(seat.peer, "call.left", {"call": call, "peer": seat.peer,
                                                   "reason": reason}, release=True))
        if seat.admitted:
            events += [Out(other.peer, "call.peer_left", {"call": call, "peer": seat.peer,
                                                          "reason": reason})
                       for other in now.seated() if _was_seated(shown, other.peer)
                       and shown.seats[other.peer].breakout == seat.breakout]
    if now.breakouts != shown.breakouts or now.breakout_ends_ms != shown.breakout_ends_ms:
        events.append(Out(ALL, "call.breakouts", {"call": call, "rooms": list(now.breakouts),
                                                  "ends": now.breakout_ends_ms or None}))
    for seat in now.seated():
        was = shown.seats.get(seat.peer)
        if was is None or not was.admitted:
            if was is not None:  # admitted meanwhile: its welcome lists its peers
                events.append(Out(seat.peer, "call.admitted", {"call": call, "peer": seat.peer}))
            # Told to those who were seated already, and to those who came
            # before it (a later arrival's join reply listed it).
            events += [
                Out(other.peer, "call.peer_joined",
                    {"call": call, "peer": {**seat.to_wire(), "polite": polite(other.peer,
                                                                                seat.peer)}})
                for other in now.seated()
                if other.peer != seat.peer and other.breakout == seat.breakout
                and (_was_seated(shown, other.peer) or other.since_ms < seat.since_ms)
            ]
        elif was.breakout == seat.breakout and was.to_wire() != seat.to_wire():
            events.append(Out(ALL, "call.peer_updated", {"call": call, "peer": seat.to_wire()}))
    if [s.peer for s in shown.waiting()] != [s.peer for s in now.waiting()]:
        events.append(_lobby_event(now))
    if any(_was_seated(shown, s.peer) and shown.seats[s.peer].breakout != s.breakout
           for s in now.seated()):
        # As opening and closing breakout rooms do: every peer its room's peers.
        events += [out for out in _moves(now) if _was_seated(shown, out.target)]
    return tuple(events)


def _was_seated(state: CallState, peer: str) -> bool:
    seat = state.seats.get(peer)
    return seat is not None and seat.admitted
