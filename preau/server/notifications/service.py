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

A member's post (``chat.send``; also a held message approved, a scheduled
one delivered: ``posted_now``, awaited) that may notify someone leaves a row
in the notification outbox in its own transaction (``notification_outbox``,
preau/server/store/rows.py ``insert_message``); the sender is acknowledged at
once, and the fan-out runs after (``posted``: a task on the sender's node,
and ``run``: every node takes rows left behind by a crash or a failure, once
their lease is over). The fan-out of one message — its notifications, their
e-mail and push jobs — is stored with the deletion of its outbox row in one
transaction, by the node that holds the row (``record_fanout``): each
message notifies exactly once, whatever crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from preau.server.clock import Clock
from preau.server.directory.model import Member, Room, RoomKind
from preau.server.directory.rules import may_join
from preau.server.directory.service import Directory
from preau.server.errors import bad_request, forbidden
from preau.server.live.events import event
from preau.server.live.hub import Hub
from preau.server.notifications import leaving, preferences, push
from preau.server.notifications.mentions import mentioned
from preau.server.store import Message, Store
from preau.server.store.notifications import (
    Fanout,
    Notification,
    OutboxItem,
    notification_id,
)
from preau.server.text import decimal

log = logging.getLogger(__name__)

# The kinds a notification may be (docs/protocol.md, "Notifications").
KINDS = preferences.KINDS

PAGE_MAX = 100
UNREAD_SCAN = 500  # unread notifications counted at most (the badge shows 99+)
OUTBOX_LEASE_MS = 60_000  # a node's claim of a message's fan-out; then another node's turn
OUTBOX_BATCH = 50


class NotificationService:
    def __init__(self, store: Store, directory: Directory, hub: Hub, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._hub = hub
        self._clock = clock
        # May this person open this document now (the documents' rights,
        # preau/server/documents/rights.py)? Set by the composition root.
        self.document_readable: Callable[[str, str], Awaitable[bool]] | None = None
        self.holder = "node"  # this node's name in outbox claims (the broker's node id)
        self._fanouts: set[asyncio.Task[int]] = set()

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
        ``never``), and their channel (``in_app``, ``email``, ``daily``, ``weekly``)."""
        if not members:
            return [], {}
        forced = (await self._store.school_notification_rules(school_id)).get(kind)
        chosen = await self._store.notification_preferences([m.id for m in members])
        channels = {m.id: preferences.effective_channel(
            m.profile, kind, chosen.get(m.id, {}).get(kind), forced) for m in members}
        told = {p: c for p, c in channels.items() if c != "never"}
        return [m for m in members if m.id in told], told

    async def _deliver(self, stored: list[Notification], channels: dict[str, str], now: int,
                       *, urgent: bool = False) -> Fanout:
        """What leaves Préau for ``stored``: their mails and pushes, as jobs
        stored with them. An admin's urgent message goes through quiet hours,
        as the message itself does (its mail at once, its push with high urgency)."""
        if not stored:
            return Fanout(now)
        # The school's quiet hours (the rule retries follow too: leaving.py).
        hours = await leaving.school_hours(self._directory, stored[0].school_id)
        if hours is None:
            return Fanout(now, stored)
        timezone, held = hours
        if urgent:
            held = leaving.at_once
        return Fanout(now, stored, await self._mail(stored, channels, now, timezone, held),
                      await self._push(stored, channels, now, held, urgent=urgent),
                      urgent=urgent)

    async def _push(self, stored: list[Notification], channels: dict[str, str], now: int,
                    held: Callable[[int], int], *, urgent: bool = False
                    ) -> list[tuple[Notification, str, str, int]]:
        """A push per subscribed device for what its person is told of
        at once (``in_app`` or ``email``; digests and ``never`` do not push;
        preau/server/notifications/push.py sends them)."""
        wanted = [n for n in stored if channels.get(n.person_id) in ("in_app", "email")]
        if not wanted:
            return []
        devices = await self._store.push_subscriptions_of(
            sorted({n.person_id for n in wanted}))
        due = held(now)
        return [(n, device.id, push.urgency_of(n.kind, urgent), due) for n in wanted
                for device in devices.get(n.person_id, [])]

    async def _mail(self, stored: list[Notification], channels: dict[str, str], now: int,
                    timezone: str, held: Callable[[int], int]
                    ) -> list[tuple[Notification, str, str | None, int]]:
        """An e-mail (at once, or in the next daily or weekly digest) for the
        notifications whose person chose one and has an address
        (preau/server/notifications/email.py sends it)."""
        by_email = {p: c for p, c in channels.items() if c in ("email", "daily", "weekly")}
        wanted = [n for n in stored if n.person_id in by_email]
        if not wanted:
            return []
        emails = await self._store.emails_of([n.person_id for n in wanted])
        jobs: list[tuple[Notification, str, str | None, int]] = []
        for channel in ("email", "daily", "weekly"):
            due = held(now) if channel == "email" else held(
                preferences.next_digest_ms(now, timezone, channel))
            jobs += [(n, secrets.token_urlsafe(24), None if channel == "email" else channel, due)
                     for n in wanted
                     if n.person_id in emails and by_email[n.person_id] == channel]
        return jobs

    async def visible_to(self, person_id: str,
                         found: Sequence[Notification]) -> list[Notification]:
        """Those of ``found`` (``person_id``'s) that they may still read now:
        what the e-mails and pushes ask before they leave."""
        member = await self._directory.member(person_id)
        return [] if member is None else await self._visible(member, found)

    async def source_readable(self, person_id: str, room_id: str | None,
                              document_id: str | None) -> bool:
        """Whether ``person_id`` may still read a notification's source (a
        room, a document, or nothing named): the rule of the centre and of
        the e-mails, which the personal export keeps too."""
        member = await self._directory.member(person_id)
        if member is None:
            return False
        if room_id is not None:
            return room_id in await self._readable_rooms(member, [room_id])
        if document_id is not None:
            return await self._may_open(member.id, document_id)
        return True  # nothing named: nothing to hide

    async def _visible(self, member: Member, found: Sequence[Notification]) -> list[Notification]:
        """Those of ``found`` whose source ``member`` may still read."""
        rooms = await self._readable_rooms(
            member, sorted({n.room_id for n in found if n.room_id is not None}))
        shown = []
        for n in found:
            if n.room_id is not None:
                if n.room_id in rooms:
                    shown.append(n)
            elif isinstance(n.data.get("document"), str) and await self._may_open(
                member.id, n.data["document"]
            ):
                shown.append(n)
        return shown

    async def _readable_rooms(self, member: Member, room_ids: Sequence[str]) -> set[str]:
        """Those of ``room_ids`` ``member`` may join now and was not removed
        from by a moderator."""
        if not room_ids:
            return set()
        removed = await self._store.removed_members(room_ids)
        readable = set()
        for room_id in room_ids:
            room = await self._directory.room(room_id)
            if room is not None and may_join(member, room) and (room_id, member.id) not in removed:
                readable.add(room_id)
        return readable

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
            wanting, channels = await self._wanting(school_id, kind, members)
            if not wanting:
                return
            now = self._clock.now_ms()
            made = [Notification(notification_id(now), m.id, school_id, kind, None, None,
                                 actor_id, {"document": document_id, "title": title}, now, None)
                    for m in wanting]
            stored = await self._store.record_fanout(await self._deliver(made, channels, now))
            if not stored:
                return
            by = await self._person(actor_id)
            await self._hub.tell_each({
                n.person_id: event("notification", **self._wire(n, None, by)) for n in stored})
        except Exception:
            log.exception("notifications of %s on document %s failed", kind, document_id)

    async def message_posted(self, message: Message, *, urgent: bool = False) -> None:
        try:
            await self._message_fanout(message, urgent, None)
        except Exception:
            log.exception("notifications of message %s/%s failed", message.room_id,
                          message.seq)

    async def _message_fanout(
        self, message: Message, urgent: bool, outbox: tuple[str, int, str] | None
    ) -> None:
        """Who ``message`` concerns, told; ``outbox``: the claimed outbox row
        it is for (deleted with what is stored, even when nobody is told)."""
        room = await self._directory.room(message.room_id)
        if room is not None and message.ack_required:
            await self._notify("announcement", room, message.seq, message.sender_id,
                               None, {}, urgent=urgent, outbox=outbox)
        elif room is not None and room.kind is RoomKind.PRIVATE:
            await self._notify("message", room, message.seq, message.sender_id,
                               room.members, {}, urgent=urgent, outbox=outbox)
        elif room is not None and "@" in message.body:
            # A class or parents' room: who it names (« @Léa Martin ») among
            # those who may read it (announcements and private messages
            # already tell everyone concerned).
            named = mentioned(message.body, await self._readers(room, None))
            await self._notify("mention", room, message.seq, message.sender_id,
                               [m.id for m in named], {}, urgent=urgent, outbox=outbox)
        elif outbox is not None:
            await self._store.record_fanout(Fanout(self._clock.now_ms()), outbox)

    async def _notify(
        self, kind: str, room: Room, seq: int | None, actor_id: str | None,
        to: Iterable[str] | None, data: Mapping[str, Any], *, urgent: bool = False,
        outbox: tuple[str, int, str] | None = None,
    ) -> list[Notification]:
        assert kind in KINDS, kind
        readers, channels = await self._wanting(
            room.school_id, kind, [m for m in await self._readers(room, to) if m.id != actor_id])
        if not readers and outbox is None:
            return []
        now = self._clock.now_ms()
        made = [Notification(notification_id(now), m.id, room.school_id, kind, room.id, seq,
                             actor_id, dict(data), now, None) for m in readers]
        stored = await self._store.record_fanout(
            await self._deliver(made, channels, now, urgent=urgent), outbox)
        if not stored:
            return []
        by = await self._person(actor_id)
        # One broker message for everyone told (each their own frame).
        await self._hub.tell_each({
            n.person_id: event("notification", **self._wire(n, room, by)) for n in stored})
        return stored

    # -- the outbox: a member's post notifies after its acknowledgement ------------------
    def posted(self, room_id: str, seq: int) -> None:
        """Message ``seq`` was posted with an outbox row: its fan-out starts
        now, off the sender's acknowledgement (a task of this node; if it
        fails or the node stops, ``run`` on any node takes the row later)."""
        task = asyncio.get_running_loop().create_task(self.drain(only=(room_id, seq)))
        self._fanouts.add(task)
        task.add_done_callback(self._fanouts.discard)

    async def posted_now(self, room_id: str, seq: int) -> None:
        """The fan-out of message ``seq``, awaited (an approval, a delivery
        of quiet hours: nobody's acknowledgement waits on a person's post);
        left to ``run`` if it fails."""
        await self.drain(only=(room_id, seq))

    async def drain(self, only: tuple[str, int] | None = None) -> int:
        """Claim outbox rows (``only``: that message's) and make their
        notifications; returns how many rows were done."""
        done = 0
        try:
            items = await self._store.claim_outbox(
                self.holder, self._clock.now_ms(), OUTBOX_LEASE_MS, OUTBOX_BATCH, only)
        except Exception:
            log.exception("claiming the notification outbox failed")
            return 0
        for item in items:
            if await self._fan_out(item):
                done += 1
        return done

    async def _fan_out(self, item: OutboxItem) -> bool:
        outbox = (item.room_id, item.seq, self.holder)
        try:
            found = await self._store.messages_after(item.room_id, item.seq - 1, 1)
            message = next((m for m in found if m.seq == item.seq), None)
            if message is None or message.redacts is not None or message.redacted:
                # Gone (recalled, deleted, purged) before its notifications: nobody.
                await self._store.record_fanout(Fanout(self._clock.now_ms()), outbox)
            else:
                await self._message_fanout(message, item.urgent, outbox)
        except Exception:
            # The row stays claimed until its lease ends, then any node retries it.
            log.exception("notifications of message %s/%s failed", item.room_id, item.seq)
            return False
        return True

    async def settled(self) -> None:
        """Wait for this node's fan-outs under way (tests; a stopping node)."""
        while self._fanouts:
            await asyncio.gather(*list(self._fanouts), return_exceptions=True)

    async def run(self, every_s: float) -> None:
        """Every ``every_s``: the outbox rows nobody holds (a node that
        stopped or failed between a post and its fan-out), on every node."""
        while True:
            await asyncio.sleep(every_s)
            while await self.drain() >= OUTBOX_BATCH:
                pass

    async def close(self) -> None:
        """Let the fan-outs under way finish (briefly); what is cut stays in
        the outbox for the next claim."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled(), 5)

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
        self, member: Member, *, before: int | str | None, limit: int,
        unread_only: bool = False,
    ) -> dict[str, Any]:
        """The caller's notifications, newest first, and the unread count.
        ``before``: the previous page's ``next`` (``"<ms>:<id>"``: after the
        last one listed, same-millisecond ones included), or a time (ms)."""
        if not 1 <= limit <= PAGE_MAX:
            raise bad_request(f"limit is between 1 and {PAGE_MAX}")
        before_ms, before_id = _cursor(before)
        found = await self._store.notifications_of(member.id, before_ms, limit,
                                                   unread_only=unread_only, before_id=before_id)
        shown = await self._visible(member, found)
        out = []
        for n in shown:
            room = await self._directory.room(n.room_id) if n.room_id else None
            out.append(self._wire(n, room, await self._person(n.actor_id)))
        return {
            "notifications": out,
            "unread": await self.unread(member),
            "next": f"{found[-1].created_ms}:{found[-1].id}" if len(found) == limit else None,
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

    async def set_language(self, member: Member, language: str) -> dict[str, str]:
        """The language of my notification e-mails and pushes."""
        if language not in ("fr", "en"):
            raise bad_request("language: fr or en")
        await self._store.set_language(member.id, language, self._clock.now_ms())
        return {"language": language}

    async def language(self, member: Member) -> dict[str, str]:
        return {"language": (await self._store.languages_of([member.id])).get(member.id, "fr")}

    async def school_rules(self, member: Member, school_id: str) -> dict[str, Any]:
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("this is for the school's administrators")
        return {"kinds": list(preferences.KINDS),
                "forced": await self._store.school_notification_rules(school_id),
                # A short excerpt in adults' mails and pushes (off: who and where only).
                "excerpt": await self._store.notification_excerpt(school_id),
                # E-mails: pending, sent, bounced, failed; bouncing addresses.
                "email": await self._store.email_counts(school_id),
                # Pushes: pending, sent, gone (404/410), failed; subscribed devices.
                "push": await self._store.push_counts(school_id)}

    async def set_school_rules(
        self, member: Member, school_id: str, rules: Mapping[str, str | None],
        excerpt: bool | None = None,
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
        if rules:
            await self._store.set_school_notification_rules(
                school_id, dict(rules), member.id, self._clock.now_ms())
        if excerpt is not None:
            await self._store.set_notification_excerpt(
                school_id, excerpt, member.id, self._clock.now_ms())
        return await self.school_rules(member, school_id)

    async def unsubscribe_subject(self, token: str) -> str | None:
        """What a mail's unsubscribe link would stop, changing nothing (the
        page before the click): the kind, or ``daily`` / ``weekly`` for a
        digest's link; None for an unknown token."""
        if not 16 <= len(token) <= 64:
            return None
        return await self._store.unsubscribe_subject(token)

    async def unsubscribe(self, token: str) -> str | None:
        """The one-click unsubscribe of a mail (no login): its kind goes back
        to the app only (a digest's link: the kinds in that digest). What
        stopped — the kind, or ``daily`` / ``weekly`` — or None for an unknown
        token."""
        if not 16 <= len(token) <= 64:
            return None
        done = await self._store.unsubscribe(token, self._clock.now_ms())
        return None if done is None else done[1]


def _cursor(before: int | str | None) -> tuple[int | None, str | None]:
    """A page cursor: ``"<ms>:<id>"`` (a previous ``next``) or a time in ms."""
    if before is None or isinstance(before, int):
        return before, None
    raw_ms, _, last = before.partition(":")
    ms = decimal(raw_ms)
    if ms is None or not 1 <= ms <= 1 << 53 or not 1 <= len(last) <= 64:
        raise bad_request("before is a previous page's next")
    return ms, last
