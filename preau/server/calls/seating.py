"""What the SFU ops (preau/server/gateway/sfu_ops.py) ask the call service.

In SFU mode (more peers than the mesh size, or forced by a moderator) the
service relays no descriptions between peers: the ``sfu.*`` ops do the SFU
signalling, asking :meth:`CallSeating.seating` who is seated with what
rights, and :meth:`CallSeating.on_control` tells them when controls change
(every node, once per committed change).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from preau.rtc import room as rtc
from preau.rtc.room import CallState, Controls, Role
from preau.server.calls.core import CallCore, Socket

log = logging.getLogger(__name__)


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


class CallSeating(CallCore):
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
