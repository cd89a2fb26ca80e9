"""The call service: who may call whom, seats shared by every node, signalling relay.

Where the state lives (docs/decisions.md, "Call state in the store"): each
call is one row holding its state machine (rtc/room.py) as JSON; every change
is one short transaction under the school's lock (server/store/calls.py), so
any node can serve any op and a crashed node loses nothing but its own seats
(dropped after its heartbeat goes silent). After a commit the node fans the
outcome out on the broker, one channel per call (``call:<id>``), with the new
state attached: each node keeps the latest state of the calls its sockets are
in, delivers events only to its own peers, and checks signalling against that
cached state (re-read from the store when older than :data:`CACHE_S`, so a lost
broker message costs at most that much staleness).

Per-peer relay: an offer, answer or candidate is checked (shape, size, flood
budget, both peers seated in the same room, policy) on the sender's node and
written to the addressed peer only: directly if its socket is here, else
published on the call's channel with its peer id, where only the node holding
that peer writes it.

Losing the right to the class room cuts at once: a person removed from the
room by a moderator (``member.remove``: the hub's removal listener, on every
node) or moved out of the class / gone from the school (a directory change:
:meth:`CallService.recheck`) loses every seat and lobby entry in the room's
calls (``revoked``), and every call path refuses them exactly as it refuses
someone who never had the right (same code, same message).

In SFU mode (more peers than the mesh size, or forced by a moderator) this
service relays no descriptions between peers: the ``sfu.*`` ops of part B do
the SFU signalling, asking :meth:`CallService.seating` who is seated with what
rights, and :meth:`CallService.on_control` tells them when controls change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

import orjson

from rtc import room as rtc
from rtc.room import ALL, MODERATORS, CallRefused, CallState, Controls, Outcome, Refusal, Role
from rtc.signal import CandidateBudget, SdpType, SignalError, check_candidate, check_sdp
from rtc.turn import TurnConfig, ice_servers
from server import metrics
from server.broker import Broker, Subscription
from server.clock import Clock
from server.directory.model import Member, Profile, Room, RoomKind
from server.directory.rules import may_communicate, may_join
from server.directory.service import Directory
from server.errors import ErrorCode, PreauError
from server.live.channels import Audience
from server.live.hub import Hub
from server.log_records import RetryLog
from server.moderation.shown_text import ShownTextGate
from server.settings import Settings
from server.store.calls import CallStore, RemovedFromRoom
from server.text import without_bidi_controls

log = logging.getLogger(__name__)

CACHE_S = 2.0  # a cached call state older than this is re-read before checking a signal
HEARTBEAT_S = 5.0
NODE_TTL_S = 20.0  # a node silent this long has its seats dropped
MAX_STUDY_GROUP = 12
IDLE_S = 15 * 60.0  # an open call with nobody seated this long ends


class Socket(Protocol):
    """What the service needs of a client socket (gateway Connection has it)."""

    id: str
    member: Member

    @property
    def closed(self) -> bool: ...

    def push(self, payload: bytes, wire: bytes | None = None) -> None: ...


class ControlKind(StrEnum):
    """What changed, for :meth:`CallService.on_control` listeners."""

    CONTROLS = "controls"  # locks, teacher-only cameras, lobby, force_sfu…
    MEDIA = "media"  # a seat's mute flags, hand or role changed (``peer`` set)
    REMOVE = "remove"  # ``peer`` was removed by a moderator, or lost the right to the room
    LEAVE = "leave"  # ``peer`` left (or was replaced, or its node died)
    MODE = "mode"  # the call switched to SFU mode
    BREAKOUTS = "breakouts"  # breakout rooms opened or closed
    END = "end"  # the call ended for all


@dataclass(frozen=True, slots=True)
class ControlChange:
    """One change, seen identically on every node.

    ``state`` is the call's state just after the change (``state.seats`` no
    longer holds a removed or departed ``peer``; ``seat`` is its last seat
    then, or its new seat for ``MEDIA``).
    """

    kind: ControlKind
    call_id: str
    state: CallState
    peer: str | None = None
    seat: rtc.Seat | None = None


ControlListener = Callable[[ControlChange], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Seating:
    """A person's seat in a call, with the call's state at the time of asking.

    - ``seat.role``: moderator | presenter | viewer;
    - ``seat.audio_muted`` / ``seat.video_muted``: the person's current flags
      (a locked viewer is always muted: ``state.controls.mic_locked``);
    - ``state.controls``: locks, teacher-only cameras, lobby policy, force_sfu;
    - ``state.sfu``: the call is in SFU mode (sticky once on);
    - ``seat.breakout``: the breakout room ("" for the main room).
    """

    state: CallState
    seat: rtc.Seat

    @property
    def sfu(self) -> bool:
        return self.state.sfu

    @property
    def controls(self) -> Controls:
        return self.state.controls

    def may_publish(self, kind: str) -> bool:
        """May this seat send ``kind`` ("audio" or "video") right now?"""
        if kind == "audio":
            return not self.seat.audio_muted
        return not self.seat.video_muted

    def may_receive_video_of(self, publisher: rtc.Seat) -> bool:
        """Teacher-only cameras: a viewer receives no other viewer's video;
        breakout rooms: media stays inside one room."""
        if publisher.breakout != self.seat.breakout:
            return False
        return not (self.state.controls.teacher_only_cameras
                    and self.seat.role is Role.VIEWER and publisher.role is Role.VIEWER
                    and publisher.peer != self.seat.peer)


@dataclass
class _LocalPeer:
    peer: str
    call_id: str
    socket: Socket
    room_id: str
    # The person lost the right to the room: refused at once, until the cut
    # (a store transaction) releases the peer.
    revoked: bool = False


@dataclass
class _Cached:
    state: CallState
    at: float


_REFUSAL_CODES: dict[Refusal, ErrorCode] = {
    Refusal.NOT_IN_CALL: ErrorCode.NOT_IN_CALL,
    Refusal.NO_SUCH_PEER: ErrorCode.NOT_FOUND,
    Refusal.FORBIDDEN: ErrorCode.FORBIDDEN,
    Refusal.REMOVED: ErrorCode.FORBIDDEN,
    Refusal.FULL: ErrorCode.CALL_FULL,
    Refusal.ENDED: ErrorCode.CALL_ENDED,
    Refusal.CONFLICT: ErrorCode.CONFLICT,
    Refusal.BAD_REQUEST: ErrorCode.BAD_REQUEST,
}


def _error(exc: CallRefused) -> PreauError:
    return PreauError(_REFUSAL_CODES[exc.reason], exc.message)


def _no_such_call() -> PreauError:
    """What a join without the right gets, whatever the reason (no such call,
    another school or class, removed from the room): existence never shows."""
    return PreauError(ErrorCode.NOT_FOUND, "no such call")


def _channel(call_id: str) -> str:
    return f"call:{call_id}"


def _frame(ev: str, fields: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"ev": ev, **fields})


def sfu_configured(settings: Settings) -> bool:
    """Whether calls may go through an SFU (``PREAU_JANUS_URLS``): without
    one a call never leaves mesh mode (docs/video.md, "Without an SFU")."""
    return bool(settings.janus_urls)


def people_per_call(settings: Settings) -> int:
    """How many people a call seats: its capacity with an SFU; without one,
    the mesh size (beyond it a mesh does not hold, and there is no SFU)."""
    if sfu_configured(settings):
        return settings.call_capacity
    return min(settings.call_capacity, settings.call_mesh_size)


def no_sfu_error() -> PreauError:
    return PreauError(ErrorCode.BAD_REQUEST,
                      "no video server (SFU) is configured here: calls stay in mesh mode")


def _seat_room(state: CallState, settings: Settings) -> None:
    """Refuse a seat above what the call holds, saying why when it is the
    missing SFU."""
    limit = people_per_call(settings)
    if len(state.seated()) >= limit and limit < settings.call_capacity:
        raise CallRefused(Refusal.FULL, f"this call is full: at most {limit} people without"
                                        " a video server (SFU)")


class CallService:
    def __init__(
        self, calls: CallStore, directory: Directory, broker: Broker, settings: Settings,
        clock: Clock, hub: Hub | None = None, text_gate: ShownTextGate | None = None,
    ) -> None:
        # The hub announces calls to the class room's subscribers (call.started /
        # call.closed), so clients need not poll call.list.
        self._hub = hub
        # A call's name is shown to the class: the gates of a message (issue 21).
        self._text_gate = text_gate
        self._calls = calls
        self._directory = directory
        self._broker = broker
        self.settings = self._settings = settings
        self._clock = clock
        self._turn = TurnConfig(settings.turn_secret, settings.turn_urls, settings.turn_ttl_s)
        self.node_id = broker.node_id
        self._peers: dict[str, _LocalPeer] = {}  # peer id → socket, for peers on this node
        self._cache: dict[str, _Cached] = {}
        self._subs: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._listeners: list[ControlListener] = []
        self._budget = CandidateBudget()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self.relayed = 0  # signalling messages written to peers (loadtests read it)
        if hub is not None:
            hub.on_removal(self.member_removed)  # member.remove, on every node
        broker.on_resync(self.resync)

    @property
    def default_end_without_moderator(self) -> bool:
        return self._settings.call_end_without_moderator

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # -- the interface for part B (SFU ops) ------------------------------------
    def on_control(self, callback: ControlListener) -> None:
        """Call ``callback(change)`` on every node, once per change, after it committed.

        Invoked for locks and policy changes (``CONTROLS``), a seat's mute /
        hand / role change (``MEDIA``, with ``peer`` and its new ``seat``), a
        removal (``REMOVE``), a departure (``LEAVE``), the switch to SFU mode
        (``MODE``), breakouts (``BREAKOUTS``) and the end of the call (``END``,
        once, with the final state: no seats). Every node gets every change of
        every call it serves (it has a local peer in it) and of the calls its
        own ops changed; delivery between nodes is the broker's (at most once),
        so a listener that must not miss a change re-reads :meth:`seating`
        when it acts. Listeners run one after the other; an exception is
        logged and does not stop the others.
        """
        self._listeners.append(callback)

    def local_seats(self) -> int:
        """Call seats held by this node's sockets (``preau_call_participants``)."""
        return len(self._peers)

    async def seating(self, call_id: str, person_id: str) -> Seating | None:
        """Is ``person_id`` seated (admitted, not in the lobby) in open call
        ``call_id``? Returns the seat and the call's current state, read from
        the store (so it is exact at the time of the call), else None."""
        state, removed = await self._calls.get_for(call_id, person_id)
        if state is None or state.status is not rtc.Status.OPEN or removed:
            return None
        self._remember(state)
        seat = state.seat_of_person(person_id)
        if seat is None or not seat.admitted:
            return None
        return Seating(state, seat)

    async def seating_of_peer(
        self, call_id: str, peer: str, person: str | None = None
    ) -> Seating | None:
        """Same as :meth:`seating`, by peer id (what the ``sfu.*`` ops carry).
        With ``person``: only if the seat is theirs and they are not removed
        from the call's room (read in the same statement)."""
        if person is None:
            state, removed = await self._calls.get(call_id), False
        else:
            state, removed = await self._calls.get_for(call_id, person)
        if state is None or state.status is not rtc.Status.OPEN or removed:
            return None
        seat = state.seats.get(peer)
        if seat is None or not seat.admitted or (person is not None and seat.person != person):
            return None
        return Seating(state, seat)

    def local_peer(self, socket: Socket, call_id: str) -> str | None:
        """The peer id ``socket`` holds in ``call_id`` on this node, if any
        (none once its person lost the right to the room)."""
        for local in self._peers.values():
            if local.socket is socket and local.call_id == call_id and not local.revoked:
                return local.peer
        return None

    # -- life cycle ------------------------------------------------------------
    async def start(self) -> None:
        """Heartbeat this node and drop seats of silent nodes (also this node's
        own seats from a previous run under the same node id)."""
        await self._calls.heartbeat(self.node_id, self._clock.now_ms())
        for state in await self._calls.open_with_node(self.node_id):
            await self._apply(state.id, _expire(frozenset({self.node_id})))
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop())

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for timer in self._timers.values():
            timer.cancel()
        for sub, task in list(self._subs.values()):
            task.cancel()
            await sub.close()
        self._subs.clear()
        for task in list(self._tasks):
            task.cancel()

    async def _heartbeat_loop(self) -> None:
        retries = RetryLog(log, "call heartbeat")
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.sweep()
            except Exception as exc:
                retries.failed(exc, HEARTBEAT_S)
            else:
                retries.succeeded()

    async def sweep(self) -> list[str]:
        """Heartbeat this node, then drop the seats of nodes silent for
        :data:`NODE_TTL_S` (crashed: their sockets are gone). Returns those nodes."""
        now = self._clock.now_ms()
        await self._calls.heartbeat(self.node_id, now)
        # Our own seats whose socket is gone (a leave that failed, say while the
        # store was unreachable): this node is alive, so nobody else frees them.
        for state in await self._calls.open_with_node(self.node_id):
            orphans = [seat.peer for seat in state.seats.values()
                       if seat.node == self.node_id and seat.peer not in self._peers]
            for peer in orphans:
                await self._apply(state.id, _leave_if_seated(peer))
        await self._settle_revoked()
        # Calls opened and never joined (or emptied without a leave) end after
        # IDLE_S; the transition re-checks under the lock that nobody came in.
        for call_id in await self._calls.idle_open(now - int(IDLE_S * 1000)):
            await self._apply(call_id, lambda state, _others: rtc.end_if_idle(state))
        dead = await self._calls.silent_nodes(now - int(NODE_TTL_S * 1000))
        for node in sorted(dead - {self.node_id}):
            log.warning("node %s stopped heartbeating: dropping its call seats", node)
            gone = frozenset({node})
            for state in await self._calls.open_with_node(node):
                await self._apply(state.id, _expire(gone))
            await self._calls.forget_node(node)
        return sorted(dead - {self.node_id})

    # -- ops -------------------------------------------------------------------
    async def create(
        self, member: Member, room_id: str, name: str | None, people: Iterable[str] | None,
        controls: Controls | None,
    ) -> CallState:
        """Open a call in a class room, for the whole class or a study group.

        Teachers (of the class) and staff open class calls; a pupil opens a
        study group with classmates they may reach (may_communicate), and
        belongs to it. Controls are the moderators' business: a pupil's call
        gets the defaults.
        """
        room = await self._class_room(member, room_id)
        moderator = self._is_moderator(member, room)
        members: frozenset[str] | None = None
        if people is not None:
            view = await self._directory.school(member.school_id)
            group = set(people)
            if member.profile is Profile.PUPIL:
                group.add(member.id)
            if not 1 <= len(group) <= MAX_STUDY_GROUP:
                raise PreauError(ErrorCode.BAD_REQUEST,
                                 f"a study group has 1 to {MAX_STUDY_GROUP} pupils")
            for person_id in group:
                other = None if view is None else view.members.get(person_id)
                if (other is None or other.profile is not Profile.PUPIL
                        or not may_join(other, room)
                        or view is None or not may_communicate(member, other, view.rules)):
                    raise PreauError(ErrorCode.FORBIDDEN,
                                     "a study group gathers pupils of this class you may reach")
            members = frozenset(group)
        elif not moderator:
            raise PreauError(ErrorCode.FORBIDDEN, "pupils open study groups, not class calls")
        if name and self._text_gate is not None:
            await self._text_gate.check(member, name)
        if controls is not None and controls.force_sfu and not sfu_configured(self._settings):
            raise no_sfu_error()
        if controls is None or not moderator:
            # A call pupils open never ends because a visiting teacher left.
            controls = Controls(
                end_when_no_moderator=moderator and self._settings.call_end_without_moderator)
        now = self._clock.now_ms()
        state = CallState(
            id="c" + secrets.token_hex(8), school_id=room.school_id, room_id=room.id,
            name=without_bidi_controls(name or room.name)[: rtc.MAX_NAME_CHARS],
            created_by=member.id,
            created_ms=now, members=members, controls=controls,
            sfu=controls.force_sfu, moderated=moderator,
        )
        await self._calls.create(state, now)
        metrics.CALLS_STARTED.inc()
        await self._announce("call.started", state)
        return state

    async def list_calls(self, member: Member, room_id: str) -> list[CallState]:
        """Open calls of a class room that ``member`` could join."""
        room = await self._class_room(member, room_id)
        return [s for s in await self._calls.open_in_room(room.id)
                if s.members is None or member.id in s.members
                or self._is_moderator(member, room)]

    async def join(self, socket: Socket, call_id: str) -> tuple[CallState, rtc.Seat]:
        member = socket.member
        state = await self._calls.get(call_id)
        if state is None or state.school_id != member.school_id:
            raise _no_such_call()
        try:
            room = await self._class_room(member, state.room_id)
        except PreauError:
            # No right to the class room (another class, removed from it):
            # the call's existence does not show.
            raise _no_such_call() from None
        role, guest = await self._role(member, room, state)
        peer = "p" + secrets.token_urlsafe(12)
        joiner = rtc.Joiner(peer, member.id, member.display_name, role, guest, self.node_id,
                            socket.id)
        settings = self._settings

        def transition(s: CallState, others: int) -> Outcome:
            if others + len(s.seated()) >= settings.call_school_capacity:
                raise CallRefused(Refusal.FULL, "the school's call capacity is reached")
            _seat_room(s, settings)
            return rtc.join(s, joiner, self._clock.now_ms(), capacity=settings.call_capacity,
                            mesh_size=settings.call_mesh_size)

        # Listen before the seat exists, so nothing addressed to it is missed.
        self._peers[peer] = _LocalPeer(peer, call_id, socket, state.room_id)
        try:
            await self._listen(call_id)
            # A removal committed since the check above refuses the seat here,
            # under the lock the removal's cut takes too.
            outcome = await self._apply(call_id, transition, unless_removed=member.id,
                                        removed=_no_such_call())
        except BaseException:
            self._peers.pop(peer, None)
            await self._maybe_unlisten(call_id)
            raise
        assert outcome.seat is not None
        metrics.CALL_JOINS.inc()
        return outcome.state, outcome.seat

    def welcome(self, state: CallState, seat: rtc.Seat) -> dict[str, Any]:
        """What a peer learns on being seated: the call, its peers (with the
        polite flag), its ICE servers with fresh TURN credentials."""
        body: dict[str, Any] = {
            **state.to_wire(for_moderator=seat.role is Role.MODERATOR),
            "peer": seat.peer, "role": seat.role.value, "admitted": seat.admitted,
            "audio_muted": seat.audio_muted, "video_muted": seat.video_muted,
            "ice_servers": ice_servers(self._turn, seat.person, int(time.time())),
        }
        if seat.admitted:
            body["peers"] = rtc.peer_list(state, seat)
        return body

    async def leave(self, socket: Socket, call_id: str, peer: str) -> None:
        await self._own(socket, call_id, peer)
        await self._apply(call_id, lambda s, _o: rtc.leave(s, peer))

    async def on_disconnect(self, socket: Socket) -> None:
        """The socket closed: free every seat it held (never raises)."""
        for local in [p for p in self._peers.values() if p.socket is socket]:
            try:
                await self._apply(local.call_id, _leave_if_seated(local.peer))
            except Exception:
                log.exception("freeing call seat %s failed", local.peer)
            self._peers.pop(local.peer, None)
            await self._maybe_unlisten(local.call_id)

    async def admit(self, socket: Socket, call_id: str, peer: str, who: str,
                    ) -> Outcome:
        """A moderator (``peer``) admits lobby peer ``who``; refused, as if
        nobody were waiting, when ``who``'s person was removed from the room."""
        await self._own(socket, call_id, peer)
        known = await self._calls.get(call_id)
        waiting = None if known is None else known.seats.get(who)
        settings = self._settings
        def transition(s: CallState, _others: int) -> Outcome:
            _seat_room(s, settings)
            return rtc.admit(s, peer, who, settings.call_mesh_size, settings.call_capacity)

        return await self._apply(
            call_id, transition,
            unless_removed=None if waiting is None else waiting.person,
            removed=PreauError(ErrorCode.NOT_FOUND, "nobody with this peer id is waiting"))

    async def recheck(self, school_id: str) -> None:
        """Re-apply the circle of trust to this node's seats after a directory
        change (a directory listener): a pupil moved to another class, or gone
        from the school, leaves the class's calls (``revoked``) at once.

        The person is read from the reloaded directory, not from the socket:
        the hub closes a departed person's socket without refreshing it."""
        view = await self._directory.school(school_id)
        for local in [p for p in self._peers.values()
                      if p.socket.member.school_id == school_id]:
            try:
                state = await self._calls.get(local.call_id)
                if state is None or local.peer not in state.seats:
                    continue
                member = None if view is None else view.members.get(local.socket.member.id)
                if member is not None:
                    try:
                        room = await self._class_room(member, state.room_id)
                        await self._role(member, room, state)
                        continue
                    except PreauError:
                        pass
                log.info("call seat %s revoked by a directory change", local.peer)
                local.revoked = True
                await self._apply(local.call_id, _revoke(local.peer))
            except Exception:
                log.exception("re-checking call seat %s failed", local.peer)

    async def member_removed(self, room_id: str, person_id: str, removed: bool) -> None:
        """A moderator removed ``person_id`` from ``room_id`` (hub listener, on
        every node, once the removal is committed): their peers on this node
        are refused at once, and their seats in the room's open calls go.

        Every node runs the cut (idempotent: a call without their seat is not
        written), so it holds if some node misses the notice. Re-admission
        needs nothing: each right check reads the removal from the store."""
        if not removed:
            return
        for local in self._peers.values():
            if local.room_id == room_id and local.socket.member.id == person_id:
                local.revoked = True
        # Not awaited: the hub tells the other nodes after its listeners.
        self._spawn(self._cut(room_id, person_id))

    async def _cut(self, room_id: str, person_id: str) -> None:
        try:
            calls = [s.id for s in await self._calls.open_in_room(room_id)]
        except Exception:
            log.exception("listing the calls of room %s failed", room_id)
            return
        for call_id in calls:
            # Under the school's lock: a join that read the store before the
            # removal committed is seated by now, and goes here.
            try:
                await self._apply(call_id, lambda s, _o: rtc.revoke(s, person_id))
            except Exception:
                log.exception("cutting %s from call %s failed", person_id, call_id)

    async def resync(self) -> None:
        """The broker lost messages (a broker listener): removal notices may be
        among them, so ask the store about this node's peers."""
        pairs = {(p.room_id, p.socket.member.id) for p in self._peers.values() if not p.revoked}
        for room_id, person_id in sorted(pairs):
            try:
                if await self._calls.removed_from(room_id, person_id):
                    await self.member_removed(room_id, person_id, True)
            except Exception:
                log.exception("re-checking removals after a broker loss failed")

    async def _settle_revoked(self) -> None:
        """Revoked local peers the cut has not released (it failed, or its
        outcome came from another node and was lost): cut again, or forget."""
        for local in [p for p in self._peers.values() if p.revoked]:
            try:
                state = await self._calls.get(local.call_id)
                if state is not None and local.peer in state.seats:
                    await self._apply(local.call_id, _revoke(local.peer))
                    continue
                if self._peers.get(local.peer) is local:
                    del self._peers[local.peer]
                    self._budget.forget(local.peer)
                    await self._maybe_unlisten(local.call_id)
            except Exception:
                log.exception("settling revoked call seat %s failed", local.peer)

    async def act(
        self, socket: Socket, call_id: str, peer: str,
        transition: Callable[[CallState, int], Outcome],
    ) -> Outcome:
        """Run a moderator's or a peer's transition (controls, hands, lobby…)
        for ``peer``, which ``socket`` must hold."""
        await self._own(socket, call_id, peer)
        return await self._apply(call_id, transition)

    async def signal(
        self, socket: Socket, call_id: str, peer: str, to: str, kind: str,
        payload: Mapping[str, Any],
    ) -> None:
        """Relay one signalling message from ``peer`` (held by ``socket``) to ``to``.

        ``kind``: offer | answer (``payload`` has ``sdp``), candidate
        (``candidate``, ``sdpMid``, ``sdpMLineIndex``, ``usernameFragment``),
        end_of_candidates. Checked before anything is sent: shape and size,
        the pair's candidate budget, both seated in the same room of an open
        mesh call, teacher-only cameras.
        """
        await self._own(socket, call_id, peer)
        video = False
        body: dict[str, Any] = {"call": call_id, "from": peer, "kind": kind}
        try:
            if kind in ("offer", "answer"):
                summary = check_sdp(str(payload["sdp"]), SdpType(kind))
                video = summary.carries_video()
                body["sdp"] = payload["sdp"]
                body["restart"] = bool(payload.get("restart", False))
            elif kind == "candidate":
                body["candidate"] = check_candidate(
                    str(payload["candidate"]), payload.get("sdpMid"),
                    payload.get("sdpMLineIndex"), payload.get("usernameFragment"),
                ).to_wire()
        except SignalError as exc:
            code = ErrorCode.TOO_LARGE if exc.too_large else ErrorCode.BAD_REQUEST
            raise PreauError(code, str(exc)) from None
        state = await self._fresh(call_id)
        try:
            rtc.check_signal(state, peer, to, video=video)
        except CallRefused as exc:
            if exc.reason not in (Refusal.NO_SUCH_PEER, Refusal.NOT_IN_CALL):
                raise _error(exc) from None
            # The cache may predate the addressed peer's arrival (its broker
            # message still on the way): the store decides.
            state = await self._calls.get(call_id) or state
            self._remember(state)
            try:
                rtc.check_signal(state, peer, to, video=video)
            except CallRefused as again:
                if again.reason is Refusal.NOT_IN_CALL and peer not in state.seats:
                    # Gone from the store (cut on another node, notice lost):
                    # answered as for a peer id never held.
                    raise PreauError(ErrorCode.NOT_IN_CALL,
                                     "you hold no such peer in this call") from None
                raise _error(again) from None
        if kind == "candidate":
            if not self._budget.take(peer, to, time.monotonic()):
                raise PreauError(ErrorCode.RATE_LIMITED, "too many candidates for this peer",
                                 retry_after=1.0)
        elif kind in ("offer", "answer"):
            self._budget.refill(peer, to)
        frame = _frame("call.signal", body)
        if to in self._peers:
            self._write(to, call_id, frame)
        else:
            await self._publish(call_id, {"k": "sig", "to": to, "frame": frame.decode()})

    # -- internals -------------------------------------------------------------
    async def _announce(self, ev: str, state: CallState) -> None:
        """Tell the class room's subscribers (a study group's people and the
        room's moderators only) that a call opened or closed. Best effort."""
        if self._hub is None:
            return
        frame = _frame(ev, {"room": state.room_id, "call": state.to_wire()})
        try:
            if state.members is None:
                await self._hub.publish_ephemeral(state.room_id, frame)
            else:
                await self._hub.publish_to(state.room_id, frame,
                                           Audience(frozenset(state.members), True))
        except Exception:
            log.exception("announcing call %s failed", state.id)

    async def _class_room(self, member: Member, room_id: str) -> Room:
        room = await self._directory.room(room_id)
        if (room is None or not may_join(member, room)
                or await self._calls.removed_from(room.id, member.id)):
            raise PreauError(ErrorCode.NOT_FOUND, "no such room")
        if room.kind is not RoomKind.CLASS:
            raise PreauError(ErrorCode.BAD_REQUEST, "calls belong to class rooms")
        return room

    @staticmethod
    def _is_moderator(member: Member, room: Room) -> bool:
        return member.profile is Profile.STAFF or (
            member.profile is Profile.TEACHER and room.class_id in member.classes)

    async def _role(self, member: Member, room: Room, state: CallState) -> tuple[Role, bool]:
        """Role and guest flag of ``member`` in ``state`` (already past may_join)."""
        if self._is_moderator(member, room):
            # Staff act school-wide: they are guests of a class's call.
            return Role.MODERATOR, member.profile is Profile.STAFF
        if state.members is not None:
            if member.id not in state.members:
                raise PreauError(ErrorCode.NOT_FOUND, "no such call")  # as if unknown
            starter = await self._directory.member(state.created_by)
            view = await self._directory.school(member.school_id)
            if starter is None or view is None or not may_communicate(
                    member, starter, view.rules):
                raise PreauError(ErrorCode.NOT_FOUND, "no such call")
        return Role.VIEWER, False

    async def _own(self, socket: Socket, call_id: str, peer: str) -> None:
        """Refuse a peer id this socket does not hold with ``not_in_call``,
        whether someone else holds it or nobody does: existence does not leak."""
        local = self._peers.get(peer)
        if (local is not None and local.call_id == call_id and local.socket is socket
                and not local.revoked):  # (revoked: the cut is on its way)
            return
        raise PreauError(ErrorCode.NOT_IN_CALL, "you hold no such peer in this call")

    async def _fresh(self, call_id: str) -> CallState:
        cached = self._cache.get(call_id)
        if cached is None or time.monotonic() - cached.at > CACHE_S:
            state = await self._calls.get(call_id)
            if state is None:
                raise PreauError(ErrorCode.NOT_FOUND, "no such call")
            self._remember(state)
            return state
        return cached.state

    def _remember(self, state: CallState) -> None:
        cached = self._cache.get(state.id)
        if cached is None or cached.state.version <= state.version:
            self._cache[state.id] = _Cached(state, time.monotonic())

    async def _apply(self, call_id: str, transition: Callable[[CallState, int], Outcome],
                     *, unless_removed: str | None = None, removed: PreauError | None = None,
                     ) -> Outcome:
        try:
            result = await self._calls.update(call_id, transition, self._clock.now_ms(),
                                              unless_removed=unless_removed)
        except CallRefused as exc:
            raise _error(exc) from None
        except RemovedFromRoom:
            raise (removed or _no_such_call()) from None
        if result is None:
            raise PreauError(ErrorCode.NOT_FOUND, "no such call")
        before, outcome = result
        if outcome.state.version != before.version:
            self._remember(outcome.state)
            if before.status is rtc.Status.OPEN and outcome.state.status is rtc.Status.ENDED:
                await self._announce("call.closed", outcome.state)
            await self._dispatch(outcome.state, outcome.events, before)
            await self._publish(call_id, {
                "k": "out", "state": outcome.state.to_store(),
                "before": before.to_store(),
                "events": [[o.target, o.ev, o.fields, o.exclude, o.release]
                           for o in outcome.events],
            })
        return outcome

    async def _dispatch(self, state: CallState, events: Iterable[rtc.Out],
                        before: CallState) -> None:
        """Write the events meant for this node's peers; tell the listeners."""
        events = list(events)
        for out in events:
            self._deliver(state, out)
        self._schedule_breakout_timer(state)
        await self._notify(state, events, before)
        released = {o.target for o in events if o.release}
        calls = set()
        for peer in released:
            local = self._peers.pop(peer, None)
            self._budget.forget(peer)
            if local is not None:
                calls.add(local.call_id)
        for call_id in calls:
            await self._maybe_unlisten(call_id)
        if state.status is rtc.Status.ENDED:
            self._cache.pop(state.id, None)

    def _deliver(self, state: CallState, out: rtc.Out) -> None:
        if out.target == ALL:
            targets = [s.peer for s in state.seated()]
        elif out.target == MODERATORS:
            targets = [s.peer for s in state.moderators()]
        else:
            targets = [out.target]
        for peer in targets:
            if peer == out.exclude or peer not in self._peers:
                continue
            fields = dict(out.fields)
            if out.ev == "call.admitted":
                seat = state.seats.get(peer)
                if seat is not None:
                    fields = {**self.welcome(state, seat), **fields}
            self._write(peer, state.id, _frame(out.ev, fields))

    def _write(self, peer: str, call_id: str, frame: bytes) -> None:
        local = self._peers.get(peer)
        if local is None or local.call_id != call_id or local.socket.closed:
            return
        local.socket.push(frame)
        self.relayed += 1

    async def _notify(self, state: CallState, events: list[rtc.Out], before: CallState) -> None:
        if not self._listeners:
            return
        changes: list[ControlChange] = []
        for out in events:
            if out.ev == "call.controls":
                changes.append(ControlChange(ControlKind.CONTROLS, state.id, state))
            elif out.ev == "call.peer_updated":
                peer = out.fields["peer"]["peer"]
                changes.append(ControlChange(ControlKind.MEDIA, state.id, state, peer,
                                             state.seats.get(peer)))
            elif out.ev == "call.left":
                peer = out.fields["peer"]
                # Revoked (no right to the room any more) is cut like a removal:
                # the SFU kicks the feed rather than waiting for a hang-up.
                kind = ControlKind.REMOVE if out.fields["reason"] in ("removed", "revoked") \
                    else ControlKind.LEAVE
                changes.append(ControlChange(kind, state.id, state, peer,
                                             before.seats.get(peer)))
            elif out.ev == "call.mode":
                changes.append(ControlChange(ControlKind.MODE, state.id, state))
            elif out.ev == "call.breakouts":
                changes.append(ControlChange(ControlKind.BREAKOUTS, state.id, state))
        if state.status is rtc.Status.ENDED and before.status is rtc.Status.OPEN:
            changes.append(ControlChange(ControlKind.END, state.id, state))
        for change in changes:
            for listener in self._listeners:
                try:
                    await listener(change)
                except Exception:
                    log.exception("call control listener failed on %s", change.kind)

    def _schedule_breakout_timer(self, state: CallState) -> None:
        timer = self._timers.pop(state.id, None)
        if timer is not None:
            timer.cancel()
        if not state.breakout_ends_ms or state.status is rtc.Status.ENDED:
            return
        delay = max(0.0, (state.breakout_ends_ms - self._clock.now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[state.id] = loop.call_later(delay, self._due, state.id)

    def _due(self, call_id: str) -> None:
        # The coroutine is made when the timer fires, never for a cancelled timer.
        self._spawn(self._breakouts_due(call_id))

    async def _breakouts_due(self, call_id: str) -> None:
        """Every node serving the call tries; the transition is a no-op for all
        but the first (the deadline passed and the rooms are already closed)."""
        self._timers.pop(call_id, None)
        try:
            await self._apply(call_id, lambda s, _o: rtc.close_breakouts(
                s, None, self._clock.now_ms()))
        except Exception:
            log.exception("closing the breakout rooms of %s failed", call_id)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the call's broker channel ---------------------------------------------
    async def _publish(self, call_id: str, message: dict[str, Any]) -> None:
        try:
            await self._broker.publish(_channel(call_id), orjson.dumps(message))
        except Exception:
            # At most once: peers on other nodes miss this one; their cached
            # state is re-read within CACHE_S and a lost signal is retried by
            # the client's negotiation (ICE restart).
            log.exception("publishing on call %s failed", call_id)

    async def _listen(self, call_id: str) -> None:
        if call_id in self._subs:
            return
        sub = await self._broker.subscribe(_channel(call_id))
        if call_id in self._subs:  # another join raced us while subscribing
            await sub.close()
            return
        task = asyncio.get_running_loop().create_task(self._read(call_id, sub))
        self._subs[call_id] = (sub, task)

    async def _maybe_unlisten(self, call_id: str) -> None:
        if any(p.call_id == call_id for p in self._peers.values()):
            return
        entry = self._subs.pop(call_id, None)
        self._cache.pop(call_id, None)
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()
        if entry is not None:
            sub, task = entry
            task.cancel()
            with contextlib.suppress(Exception):
                await sub.close()

    async def _read(self, call_id: str, sub: Subscription) -> None:
        async for payload in sub:
            try:
                message = orjson.loads(payload)
                if message["k"] == "sig":
                    self._write(message["to"], call_id, message["frame"].encode())
                elif message["k"] == "out":
                    state = CallState.from_store(message["state"])
                    before = CallState.from_store(message["before"])
                    self._remember(state)
                    events = [rtc.Out(t, ev, f, ex, rel)
                              for t, ev, f, ex, rel in message["events"]]
                    await self._dispatch(state, events, before)
            except Exception:
                log.exception("bad message on call channel %s", call_id)


def controls_with(base: Controls, changes: Mapping[str, Any]) -> Controls:
    """``base`` with the fields of ``changes`` that are not None."""
    return replace(base, **{k: v for k, v in changes.items() if v is not None})


def _expire(nodes: frozenset[str]) -> Callable[[CallState, int], Outcome]:
    return lambda state, _others: rtc.expire_seats(state, nodes)


def _leave_if_seated(peer: str) -> Callable[[CallState, int], Outcome]:
    def transition(state: CallState, _others: int) -> Outcome:
        if peer not in state.seats:
            return Outcome(state)
        return rtc.leave(state, peer, "disconnected")

    return transition


def _revoke(peer: str) -> Callable[[CallState, int], Outcome]:
    def transition(state: CallState, _others: int) -> Outcome:
        if peer not in state.seats:
            return Outcome(state)
        return rtc.leave(state, peer, "revoked")

    return transition
