"""Who keeps a seat: the circle of trust and removals, re-applied to calls.

Losing the right to the class room cuts at once: a person removed from the
room by a moderator (``member.remove``: the hub's removal listener, on every
node) or moved out of the class / gone from the school (a directory change:
:meth:`CallRights.recheck`) loses every seat and lobby entry in the room's
calls (``revoked``), and every call path refuses them exactly as it refuses
someone who never had the right (same code, same message).
"""

from __future__ import annotations

import logging

from preau.rtc import room as rtc
from preau.rtc.room import CallState, Role
from preau.server.calls.core import CallCore, Socket
from preau.server.calls.rules import (
    revoke_seat,
)
from preau.server.directory.model import Member, Profile, Room, RoomKind
from preau.server.directory.rules import may_communicate, may_join
from preau.server.errors import ErrorCode, PreauError

log = logging.getLogger(__name__)


class CallRights(CallCore):
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
                await self._apply(local.call_id, revoke_seat(local.peer))
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
                    await self._apply(local.call_id, revoke_seat(local.peer))
                    continue
                if self._peers.get(local.peer) is local:
                    del self._peers[local.peer]
                    self._budget.forget(local.peer)
                    await self._maybe_unlisten(local.call_id)
            except Exception:
                log.exception("settling revoked call seat %s failed", local.peer)

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
