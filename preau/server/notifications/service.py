"""The notification centre (docs/protocol.md, "Notifications").

What concerns a person becomes a row for them (``preau/server/store/notifications.py``)
and a live ``notification`` event to their sockets on every node
(``Hub.tell_people``). The producers (chat, moderation, documents, calls) call
their own ports (``preau/server/chat/notices.py``, …), which this service implements.

The circle of trust decides, as for the content itself:

- a notification is stored only for a person who may read its source now
  (``may_join`` on the room, ``preau/server/directory/rules.py``; not removed from it
  by a moderator), never for the person who caused it;
- every read re-applies the same check, so a pupil who changed class or a
  parent who lost custody no longer sees what they were told before;
- a document's notifications follow the document's rights
  (``document_readable``: its class, its group, its named readers);
- a message deleted by a moderator or recalled by its author withdraws its
  notifications (``withdraw``): deleted, and ``notification.withdrawn`` to
  the people who had them.

A failure here never fails what caused it (a message is committed and
acknowledged before its notifications exist): it is logged and counted.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from preau.server.clock import Clock
from preau.server.directory import quiet_hours
from preau.server.directory.model import Member, Room, RoomKind
from preau.server.directory.rules import may_join
from preau.server.directory.service import Directory
from preau.server.errors import bad_request, forbidden
from preau.server.live.events import event
from preau.server.live.hub import Hub
from preau.server.notifications import preferences
from preau.server.store import Message, Store
from preau.server.store.notifications import NewNotification, Notification

log = logging.getLogger(__name__)

# The kinds a notification may be (docs/protocol.md, "Notifications").
KINDS = preferences.KINDS

PAGE_MAX = 100
UNREAD_SCAN = 500  # unread notifications counted at most (the badge shows 99+)


class NotificationService:
    def __init__(self, store: Store, directory: Directory, hub: Hub, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._hub = hub
        self._clock = clock
        # May this person open this document now (the documents' rights,
        # preau/server/documents/rights.py)? Set by the composition root.
        self.document_readable: Callable[[str, str], Awaitable[bool]] | None = None

    # -- who may be told -------------------------------------------------------------
    async def _readers(self, room: Room, people: Iterable[str] | None) -> list[Member]:
        """Of ``people`` (``None``: the school), who may read ``room`` now."""
        view = await self._directory.school(room.school_id)
        if view is None:
            return []
        if people is None:
            candidates = list(view.members.values())
        else:
            candidates = [m for p in sorted(set(people)) if (m := view.members.get(p))]
        readers = [m for m in candidates if may_join(m, room)]
        if not readers:
            return []
        removed = await self._store.removed_members([room.id])
        return [m for m in readers if (room.id, m.id) not in removed]

    async def _wanting(
        self, school_id: str, kind: str, members: list[Member]
    ) -> tuple[list[Member], dict[str, str]]:
        """Those of ``members`` who are told of ``kind`` at all (not
        ``never``), and who of them chose an e-mail at once."""
        if not members:
            return [], {}
        forced = (await self._store.school_notification_rules(school_id)).get(kind)
        chosen = await self._store.notification_preferences([m.id for m in members])
        channels = {m.id: preferences.effective_channel(
            m.profile, kind, chosen.get(m.id, {}).get(kind), forced) for m in members}
        by_email = {p: c for p, c in channels.items() if c in ("email", "daily", "weekly")}
        return [m for m in members if channels[m.id] != "never"], by_email

    async def _mail(self, stored: list[Notification], by_email: dict[str, str]) -> None:
        """Queue an e-mail (at once, or in the next daily or weekly digest)
        for the notifications whose person chose one and has an address
        (preau/server/notifications/email.py sends it)."""
        wanted = [n for n in stored if n.person_id in by_email]
        if not wanted:
            return
        emails = await self._store.emails_of([n.person_id for n in wanted])
        now = self._clock.now_ms()
        view = await self._directory.school(wanted[0].school_id)
        if view is None:
            return
        timezone = view.school.timezone
        # The school's quiet hours hold mails until the window opens, as
        # they hold messages to families (preau/server/directory/quiet_hours.py).
        window = quiet_hours.effective_window(view.school.quiet_hours, quiet_hours.SCHOOL)

        def held(due: int) -> int:
            return quiet_hours.release_time(due, timezone, window) or due

        for channel in ("email", "daily", "weekly"):
            jobs = [(n, secrets.token_urlsafe(24)) for n in wanted
                    if n.person_id in emails and by_email[n.person_id] == channel]
            if channel == "email":
                await self._store.add_email_jobs(jobs, now, due_ms=held(now))
            else:
                await self._store.add_email_jobs(
                    jobs, now, digest=channel,
                    due_ms=held(preferences.next_digest_ms(now, timezone, channel)))

    async def _visible(self, member: Member, found: Sequence[Notification]) -> list[Notification]:
        """Those of ``found`` whose source ``member`` may still read."""
        rooms: dict[str, Room | None] = {}
        removed: set[tuple[str, str]] = set()
        wanted = sorted({n.room_id for n in found if n.room_id is not None})
        for room_id in wanted:
            room = await self._directory.room(room_id)
            rooms[room_id] = room if room is not None and may_join(member, room) else None
        if wanted:
            removed = await self._store.removed_members(wanted)
        shown = []
        for n in found:
            if n.room_id is not None:
                if rooms.get(n.room_id) is not None and (n.room_id, member.id) not in removed:
                    shown.append(n)
            elif isinstance(n.data.get("document"), str) and await self._may_open(
                member.id, n.data["document"]
            ):
                shown.append(n)
        return shown

    async def _may_open(self, person_id: str, document_id: str) -> bool:
        return self.document_readable is not None and await self.document_readable(
            person_id, document_id)

    # -- producing (the ports) ---------------------------------------------------------
    async def about_room(
        self,
        kind: str,
        room_id: str,
        *,
        seq: int | None = None,
        actor_id: str | None = None,
        to: Iterable[str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            room = await self._directory.room(room_id)
            if room is not None:
                await self._notify(kind, room, seq, actor_id, to, data or {})
        except Exception:
            log.exception("notifications of %s in room %s failed", kind, room_id)

    async def about_document(
        self, kind: str, document_id: str, school_id: str, title: str, *,
        actor_id: str | None, to: Iterable[str],
    ) -> None:
        try:
            assert kind in KINDS, kind
            view = await self._directory.school(school_id)
            members = [] if view is None else [
                m for p in sorted(set(to)) if p != actor_id and (m := view.members.get(p))
                and await self._may_open(p, document_id)]
            wanting, by_email = await self._wanting(school_id, kind, members)
            people = [m.id for m in wanting]
            if not people:
                return
            stored = await self._store.add_notifications([
                NewNotification(p, school_id, kind, None, None, actor_id,
                                {"document": document_id, "title": title})
                for p in people
            ], self._clock.now_ms())
            await self._mail(stored, by_email)
            by = await self._person(actor_id)
            for n in stored:
                await self._hub.tell_people(
                    [n.person_id], event("notification", **self._wire(n, None, by)))
        except Exception:
            log.exception("notifications of %s on document %s failed", kind, document_id)

    async def message_posted(self, message: Message) -> None:
        try:
            room = await self._directory.room(message.room_id)
            if room is None:
                return
            if message.ack_required:
                await self._notify("announcement", room, message.seq, message.sender_id,
                                   None, {})
            elif room.kind is RoomKind.PRIVATE:
                await self._notify("message", room, message.seq, message.sender_id,
                                   room.members, {})
        except Exception:
            log.exception("notifications of message %s/%s failed", message.room_id,
                          message.seq)

    async def _notify(
        self, kind: str, room: Room, seq: int | None, actor_id: str | None,
        to: Iterable[str] | None, data: Mapping[str, Any],
    ) -> list[Notification]:
        assert kind in KINDS, kind
        readers, by_email = await self._wanting(
            room.school_id, kind, [m for m in await self._readers(room, to) if m.id != actor_id])
        if not readers:
            return []
        stored = await self._store.add_notifications([
            NewNotification(m.id, room.school_id, kind, room.id, seq, actor_id, dict(data))
            for m in readers
        ], self._clock.now_ms())
        await self._mail(stored, by_email)
        by = await self._person(actor_id)
        for n in stored:
            await self._hub.tell_people(
                [n.person_id], event("notification", **self._wire(n, room, by)))
        return stored

    async def withdraw(self, room_id: str, seq: int) -> None:
        try:
            gone = await self._store.withdraw_notifications(room_id, seq)
            per_person: dict[str, list[str]] = {}
            for n in gone:
                per_person.setdefault(n.person_id, []).append(n.id)
            for person_id, ids in sorted(per_person.items()):
                await self._hub.tell_people(
                    [person_id], event("notification.withdrawn", ids=sorted(ids)))
        except Exception:
            log.exception("withdrawing the notifications of %s/%s failed", room_id, seq)

    # -- reading -----------------------------------------------------------------------
    async def _person(self, person_id: str | None) -> dict[str, str] | None:
        if person_id is None:
            return None
        person = await self._directory.person(person_id)
        return {"id": person_id, "name": person.display_name if person else ""}

    @staticmethod
    def _wire(n: Notification, room: Room | None, by: dict[str, str] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "id": n.id, "kind": n.kind, "at": n.created_ms, "read": n.read_ms is not None,
            "by": by, "seq": n.seq,
            "room": None if room is None else {
                "id": room.id, "name": room.name, "kind": room.kind.value},
        }
        if n.data:
            fields["data"] = n.data
        return fields

    async def list(
        self, member: Member, *, before: int | None, limit: int, unread_only: bool = False
    ) -> dict[str, Any]:
        """The caller's notifications, newest first (``before``: older than
        this time, the previous page's ``next``), and the unread count."""
        if not 1 <= limit <= PAGE_MAX:
            raise bad_request(f"limit is between 1 and {PAGE_MAX}")
        found = await self._store.notifications_of(member.id, before, limit,
                                                   unread_only=unread_only)
        shown = await self._visible(member, found)
        out = []
        for n in shown:
            room = await self._directory.room(n.room_id) if n.room_id else None
            out.append(self._wire(n, room, await self._person(n.actor_id)))
        return {
            "notifications": out,
            "unread": await self.unread(member),
            "next": found[-1].created_ms if len(found) == limit else None,
        }

    async def unread(self, member: Member) -> int:
        """How many unread notifications the caller may see (at most ``UNREAD_SCAN``)."""
        found = await self._store.notifications_of(member.id, None, UNREAD_SCAN,
                                                   unread_only=True)
        return len(await self._visible(member, found))

    async def mark_read(self, member: Member, ids: Sequence[str] | None) -> dict[str, Any]:
        """Mark some of one's notifications read (``None``: all); one's other
        devices are told (``notification.read``)."""
        changed = await self._store.mark_notifications_read(
            member.id, None if ids is None else sorted(set(ids)), self._clock.now_ms())
        if changed:
            await self._hub.tell_people([member.id], event("notification.read", ids=changed))
        return {"read": changed, "unread": await self.unread(member)}

    # -- preferences ---------------------------------------------------------------------
    async def preferences(self, member: Member) -> dict[str, Any]:
        """Per kind: my channel, the default, what the school forces, and the
        channels I may choose."""
        forced = await self._store.school_notification_rules(member.school_id)
        chosen = (await self._store.notification_preferences([member.id])).get(member.id, {})
        return {
            "channels": list(preferences.allowed_channels(member.profile)),
            "kinds": [{
                "kind": kind,
                "channel": preferences.effective_channel(
                    member.profile, kind, chosen.get(kind), forced.get(kind)),
                "chosen": chosen.get(kind),
                "default": preferences.default_channel(member.profile, kind),
                "forced": forced.get(kind),
            } for kind in preferences.KINDS],
        }

    async def set_preferences(
        self, member: Member, channels: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Choose a channel per kind (``None``: back to the default)."""
        allowed = preferences.allowed_channels(member.profile)
        forced = await self._store.school_notification_rules(member.school_id)
        for kind, channel in channels.items():
            if kind not in preferences.KINDS:
                raise bad_request(f"{kind}: no such notification kind "
                                  f"(one of {', '.join(preferences.KINDS)})")
            if channel is not None and channel not in allowed:
                raise bad_request(f"{kind}: {channel} is not a channel you may choose "
                                  f"(one of {', '.join(allowed)})")
            if channel == "never" and forced.get(kind) == "on":
                raise forbidden(f"{kind}: your school requires this notification")
        await self._store.set_notification_preferences(
            member.id, dict(channels), self._clock.now_ms())
        return await self.preferences(member)

    async def school_rules(self, member: Member, school_id: str) -> dict[str, Any]:
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("this is for the school's administrators")
        return {"kinds": list(preferences.KINDS),
                "forced": await self._store.school_notification_rules(school_id),
                # E-mails: pending, sent, bounced, failed; bouncing addresses.
                "email": await self._store.email_counts(school_id)}

    async def set_school_rules(
        self, member: Member, school_id: str, rules: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Force kinds on or off for the whole school (``None``: people
        decide); the school's admins, audited."""
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("this is for the school's administrators")
        for kind, forced in rules.items():
            if kind not in preferences.KINDS:
                raise bad_request(f"{kind}: no such notification kind")
            if forced is not None and forced not in preferences.FORCED:
                raise bad_request(f"{kind}: on, off or null")
        await self._store.set_school_notification_rules(
            school_id, dict(rules), member.id, self._clock.now_ms())
        return await self.school_rules(member, school_id)

    async def unsubscribe(self, token: str) -> bool:
        """The one-click unsubscribe of a mail (no login): its kind goes back
        to the app only. False for an unknown token."""
        if not 16 <= len(token) <= 64:
            return False
        return await self._store.unsubscribe(token, self._clock.now_ms()) is not None
