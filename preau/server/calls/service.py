"""The call service: who may call whom, seats shared by every node, signalling relay.

One class, :class:`CallService`, composed of parts by job (as the store's
``SqlStore`` is): the seats and ops — create, join, leave, admit, a
moderator's controls (``act``), this node's heartbeat and the sweep of dead
nodes' seats — and the one place a change is written (``_apply``), here; the
signalling relay and the call's broker channel in ``relay.py``; the rights
re-applied after removals and directory changes in ``rights.py``; what the
SFU ops ask (``seating``, ``on_control``) in ``seating.py``; the shared state
in ``core.py`` (where the state lives: its docstring); the pure rules
(refusal codes, people per call with or without an SFU) in ``rules.py``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from preau.collab.gate import HeldRelays, RelayGate
from preau.rtc import room as rtc
from preau.rtc.room import CallRefused, CallState, Controls, Outcome, Refusal, Role
from preau.rtc.signal import CandidateBudget
from preau.rtc.turn import TurnConfig, ice_servers
from preau.server import metrics
from preau.server.broker import Broker, Subscription
from preau.server.calls.core import Cached, CallCore, LocalPeer, Socket
from preau.server.calls.notices import CallNotices
from preau.server.calls.relay import CallRelay
from preau.server.calls.rights import CallRights
from preau.server.calls.rules import (
    check_seat_room,
    error_of,
    expire,
    leave_if_seated,
    no_sfu_error,
    no_such_call,
    sfu_configured,
)
from preau.server.calls.seating import CallSeating, ControlListener
from preau.server.clock import Clock
from preau.server.directory.model import Member, Profile
from preau.server.directory.rules import may_communicate, may_join
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError
from preau.server.live.hub import Hub
from preau.server.log_records import RetryLog
from preau.server.moderation.shown_text import ShownTextGate
from preau.server.settings import Settings
from preau.server.store.calls import CallStore, RemovedFromRoom
from preau.server.text import is_blank, without_invisible

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
NODE_TTL_S = 20.0  # a node silent this long has its seats dropped
MAX_STUDY_GROUP = 12
IDLE_S = 15 * 60.0  # an open call with nobody seated this long ends


class CallService(CallRelay, CallRights, CallSeating, CallCore):
    def __init__(
        self, calls: CallStore, directory: Directory, broker: Broker, settings: Settings,
        clock: Clock, hub: Hub | None = None, text_gate: ShownTextGate | None = None,
    ) -> None:
        # The hub announces calls to the class room's subscribers (call.started /
        # call.closed), so clients need not poll call.list.
        self._hub = hub
        # The notification centre (preau/server/notifications/service.py; set by app.py).
        self.notices: CallNotices | None = None
        # A call's name is shown to the class: the gates of a message (issue 21).
        self._text_gate = text_gate
        self._calls = calls
        self._directory = directory
        self._broker = broker
        self.settings = self._settings = settings
        self._clock = clock
        self._turn = TurnConfig(settings.turn_secret, settings.turn_urls, settings.turn_ttl_s)
        self.node_id = broker.node_id
        self._peers: dict[str, LocalPeer] = {}  # peer id → socket, for peers on this node
        self._cache: dict[str, Cached] = {}
        self._shown: dict[str, CallState] = {}
        self._subs: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._listeners: list[ControlListener] = []
        self._budget = CandidateBudget()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self.relayed = 0  # signalling messages written to peers (loadtests read it)
        # Frames to this node's peers held while a directory change's rights
        # are re-read (preau/collab/gate.py; the composition root holds it).
        self.gate = RelayGate()
        self._held = HeldRelays(self.gate)
        if hub is not None:
            hub.on_removal(self.member_removed)  # member.remove, on every node
        broker.on_resync(self.resync)  # removals first, then
        broker.on_resync(self.catch_up_calls)  # whatever else the outage kept from peers

    @property
    def default_end_without_moderator(self) -> bool:
        return self._settings.call_end_without_moderator

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # -- life cycle ------------------------------------------------------------
    async def start(self) -> None:
        """Heartbeat this node and drop seats of silent nodes (also this node's
        own seats from a previous run under the same node id)."""
        await self._calls.heartbeat(self.node_id, self._clock.now_ms())
        for state in await self._calls.open_with_node(self.node_id):
            await self._apply(state.id, expire(frozenset({self.node_id})))
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
                await self._apply(state.id, leave_if_seated(peer))
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
                await self._apply(state.id, expire(gone))
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
            name=without_invisible(
                name if name and not is_blank(name) else room.name)[: rtc.MAX_NAME_CHARS],
            created_by=member.id,
            created_ms=now, members=members, controls=controls,
            sfu=controls.force_sfu, moderated=moderator,
        )
        await self._calls.create(state, now)
        metrics.CALLS_STARTED.inc()
        await self._announce("call.started", state)
        if self.notices is not None:
            await self.notices.about_room(
                "call.started", state.room_id, actor_id=member.id, to=state.members,
                data={"call": state.id, "name": state.name})
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
            raise no_such_call()
        try:
            room = await self._class_room(member, state.room_id)
        except PreauError:
            # No right to the class room (another class, removed from it):
            # the call's existence does not show.
            raise no_such_call() from None
        role, guest = await self._role(member, room, state)
        peer = "p" + secrets.token_urlsafe(12)
        joiner = rtc.Joiner(peer, member.id, member.display_name, role, guest, self.node_id,
                            socket.id)
        settings = self._settings

        def transition(s: CallState, others: int) -> Outcome:
            if others + len(s.seated()) >= settings.call_school_capacity:
                raise CallRefused(Refusal.FULL, "the school's call capacity is reached")
            check_seat_room(s, settings)
            return rtc.join(s, joiner, self._clock.now_ms(), capacity=settings.call_capacity,
                            mesh_size=settings.call_mesh_size)

        # Listen before the seat exists, so nothing addressed to it is missed.
        self._peers[peer] = LocalPeer(peer, call_id, socket, state.room_id)
        try:
            await self._listen(call_id)
            # A removal committed since the check above refuses the seat here,
            # under the lock the removal's cut takes too.
            outcome = await self._apply(call_id, transition, unless_removed=member.id,
                                        removed=no_such_call())
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
                await self._apply(local.call_id, leave_if_seated(local.peer))
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
            check_seat_room(s, settings)
            return rtc.admit(s, peer, who, settings.call_mesh_size, settings.call_capacity)

        return await self._apply(
            call_id, transition,
            unless_removed=None if waiting is None else waiting.person,
            removed=PreauError(ErrorCode.NOT_FOUND, "nobody with this peer id is waiting"))

    async def act(
        self, socket: Socket, call_id: str, peer: str,
        transition: Callable[[CallState, int], Outcome],
    ) -> Outcome:
        """Run a moderator's or a peer's transition (controls, hands, lobby…)
        for ``peer``, which ``socket`` must hold."""
        await self._own(socket, call_id, peer)
        return await self._apply(call_id, transition)

    async def _apply(self, call_id: str, transition: Callable[[CallState, int], Outcome],
                     *, unless_removed: str | None = None, removed: PreauError | None = None,
                     ) -> Outcome:
        try:
            result = await self._calls.update(call_id, transition, self._clock.now_ms(),
                                              unless_removed=unless_removed)
        except CallRefused as exc:
            raise error_of(exc) from None
        except RemovedFromRoom:
            raise (removed or no_such_call()) from None
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
