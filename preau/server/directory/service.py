"""The directory as the running server sees it: cached per school, invalidated on change.

Each school's whole directory (people, classes, rules, rooms) is loaded in one
store call and kept in memory, so the circle-of-trust checks on the hot path
are dictionary look-ups. An import bumps the cache on this node and tells the
other nodes over the broker (channel ``directory``), after which live
subscriptions are re-checked (a pupil who changed class loses the old room at
once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from preau.server.directory.model import Member, Person, Room, RoomKind
from preau.server.directory.rules import conversation_now, may_communicate, may_join
from preau.server.log_records import RetryLog
from preau.server.store import SchoolView, Store
from preau.server.store.privacy import PSEUDONYM_PREFIX

log = logging.getLogger(__name__)

ChangeListener = Callable[[str], Awaitable[None]]


class Directory:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._schools: dict[str, SchoolView] = {}
        self._person_school: dict[str, str] = {}
        self._room_school: dict[str, str] = {}
        self._private: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[SchoolView | None]] = {}
        self._listeners: list[ChangeListener] = []
        self._reloading: list[tuple[Callable[[], None], Callable[[], None]]] = []

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(school_id)`` after a school's directory was reloaded."""
        self._listeners.append(listener)

    def while_reloading(self, begin: Callable[[], None], end: Callable[[], None]) -> None:
        """Call ``begin()`` as a reload starts, before anything is read, and
        ``end()`` once every change listener has run (or the reload failed):
        what reaches people meanwhile may rest on rights the change took away
        (the chat, document and call relays hold: preau/collab/gate.py, RelayGate)."""
        self._reloading.append((begin, end))

    def hold_relays(self) -> None:
        """Hold what ``while_reloading`` holds, outside a reload: the broker
        reconnecting after an outage, until its resync (which refreshes this
        directory first) is done. Paired with ``release_relays``."""
        for begin, _ in self._reloading:
            begin()

    def release_relays(self) -> None:
        for _, end in self._reloading:
            end()

    async def school(self, school_id: str) -> SchoolView | None:
        view = self._schools.get(school_id)
        if view is not None:
            return view
        # One load per school even when many requests miss the cache at once.
        pending = self._loading.get(school_id)
        if pending is not None:
            return await pending
        future: asyncio.Future[SchoolView | None] = asyncio.get_running_loop().create_future()
        self._loading[school_id] = future
        try:
            view = await self._store.load_school(school_id)
            if view is not None:
                self._index(view)
            future.set_result(view)
            return view
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[school_id]

    def _index(self, view: SchoolView) -> None:
        self._schools[view.school.id] = view
        for person_id in view.people:
            self._person_school[person_id] = view.school.id
        for room_id in view.rooms:
            self._room_school[room_id] = view.school.id

    async def view_of_person(self, person_id: str) -> SchoolView | None:
        school_id = self._person_school.get(person_id)
        if school_id is None:
            if person_id.startswith(PSEUDONYM_PREFIX):
                return None  # an erased author: no store round trip per message shown
            school_id = await self._store.person_school(person_id)
            if school_id is None:
                return None
        view = await self.school(school_id)
        if view is None or person_id not in view.people:
            return None
        return view

    async def member(self, person_id: str) -> Member | None:
        view = await self.view_of_person(person_id)
        return None if view is None else view.members.get(person_id)

    async def person(self, person_id: str) -> Person | None:
        view = await self.view_of_person(person_id)
        return None if view is None else view.people.get(person_id)

    async def room(self, room_id: str) -> Room | None:
        """A room; a private conversation as the directory allows it *now*
        (``conversation_now``: closed, and with only the people who keep its
        history, as soon as a relation it needed ended, on every node)."""
        private = self._private.get(room_id)
        if private is not None:
            return await self._conversation_now(private)
        school_id = self._room_school.get(room_id)
        if school_id is not None:
            view = await self.school(school_id)
            if view is not None and room_id in view.rooms:
                return view.rooms[room_id]
        room = await self._store.get_room(room_id)
        if room is None:
            return None
        view = await self.school(room.school_id)
        if view is None:
            return None
        if room.kind is RoomKind.PRIVATE:
            # Cached until the school's directory changes (``reload``); what the
            # directory allows is applied on every read.
            self._private[room_id] = room
            return await self._conversation_now(room)
        # A room created since the school was cached (a parents' room made on
        # another node): its rules only read people's classes, so it is usable
        # before the directory reloads.
        return view.rooms.get(room_id, room)

    async def _conversation_now(self, room: Room) -> Room | None:
        view = await self.school(room.school_id)
        if view is None:
            return None
        return conversation_now(room, view.members, view.rules)

    async def conversations_of(self, member: Member) -> list[Room]:
        """The conversations ``member`` may read now (closed ones included)."""
        rooms = []
        for stored in await self._store.conversations_of(member.id):
            room = await self._conversation_now(stored)
            if room is not None and may_join(member, room):
                rooms.append(room)
        return rooms

    async def may_communicate(self, sender: Member, recipient_id: str) -> bool:
        view = await self.school(sender.school_id)
        if view is None:
            return False
        recipient = view.members.get(recipient_id)
        return recipient is not None and may_communicate(sender, recipient, view.rules)

    async def reachable(self, viewer: Member, person_id: str) -> Member | None:
        """The person if the circle of trust lets ``viewer`` reach them, else
        None: out of reach reads exactly as unknown (existence does not leak)."""
        view = await self.school(viewer.school_id)
        target = None if view is None else view.members.get(person_id)
        if view is None or target is None or not may_communicate(viewer, target, view.rules):
            return None
        return target

    async def children(self, parent: Member) -> list[dict[str, str]]:
        """A parent's children in their school, each with its class(es):
        ``[{"id", "name", "class"}]`` by name (families share surnames, so a
        parent is named with their child: "parent de Léa Martin (6eA)")."""
        view = await self.school(parent.school_id)
        if view is None:
            return []
        found = []
        for child_id in parent.children:
            child = view.members.get(child_id)
            if child is None:
                continue
            classes = sorted(view.classes[c].name for c in child.classes if c in view.classes)
            found.append({"id": child.id, "name": child.display_name,
                          "class": ", ".join(classes)})
        found.sort(key=lambda c: (c["name"], c["id"]))
        return found

    async def reachable_people(self, viewer: Member, name_part: str, limit: int) -> list[Member]:
        """The people of ``viewer``'s school they may reach (themselves aside)
        whose name contains ``name_part`` (casefolded), by name, at most ``limit``."""
        view = await self.school(viewer.school_id)
        people = [] if view is None else [
            m for m in view.members.values()
            if m.id != viewer.id
            and name_part in m.display_name.casefold()
            and may_communicate(viewer, m, view.rules)
        ]
        people.sort(key=lambda m: m.display_name)
        return people[:limit]

    async def rooms_of(self, member: Member) -> list[Room]:
        """The class and parents' rooms ``member`` may join, then their conversations."""
        view = await self.school(member.school_id)
        if view is None:
            return []
        shared = sorted(
            (r for r in view.rooms.values() if may_join(member, r)), key=lambda r: r.name
        )
        return shared + await self.conversations_of(member)

    async def watch(self, interval_s: float = 5.0) -> None:
        """Reload schools whose directory changed in another process (run as a task).

        A ``preau import`` beside running nodes bumps the school's version in
        the store; every node notices within ``interval_s``.
        """
        retries = RetryLog(log, "directory watch")
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh_changed()
            except Exception as exc:
                retries.failed(exc, interval_s)
            else:
                retries.succeeded()

    async def refresh_changed(self) -> list[str]:
        """Reload the cached schools whose stored version moved; return their ids."""
        versions = await self._store.directory_versions()
        changed = [
            school_id for school_id, view in list(self._schools.items())
            if versions.get(school_id, view.version) != view.version
        ]
        for school_id in changed:
            await self.reload(school_id)
        return changed

    async def reload(self, school_id: str) -> None:
        """Drop a school from the cache, reload it, and tell the listeners."""
        self.hold_relays()
        try:
            await self._reload(school_id)
        finally:
            self.release_relays()

    async def _reload(self, school_id: str) -> None:
        self._schools.pop(school_id, None)
        for cache in (self._person_school, self._room_school):
            for key in [k for k, v in cache.items() if v == school_id]:
                del cache[key]
        # Conversations too: an erasure renames them and removes a member.
        for key in [k for k, r in self._private.items() if r.school_id == school_id]:
            del self._private[key]
        await self.school(school_id)
        for listener in self._listeners:
            try:
                await listener(school_id)
            except Exception:
                log.exception("directory change listener failed for school %s", school_id)
