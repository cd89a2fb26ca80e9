"""Class chat: validate → authorise → commit → acknowledge → publish.

Handlers (HTTP and WebSocket) only parse and call this layer; every path here
checks the circle of trust (``may_join``) before touching a room, and the
room's moderation state (``open_room``: a removed member is refused) before
reading it. A post is checked against the room's policy by the store, in the
transaction that commits it (preau/server/moderation/rules.py decides).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from preau.server import metrics
from preau.server.chat.notices import Notices
from preau.server.chat.posting import post_message
from preau.server.chat.render import MessageRenderer
from preau.server.clock import Clock
from preau.server.directory.model import MAX_CONVERSATION_PEOPLE, Member, Profile, Room, RoomKind
from preau.server.directory.rules import (
    conversation_break,
    conversation_now,
    may_communicate,
    may_join,
)
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, forbidden, not_found
from preau.server.live.channels import Audience
from preau.server.live.events import encode
from preau.server.live.hub import Hub
from preau.server.moderation.bursts import BurstDetector
from preau.server.moderation.rules import (
    MemberState,
    RoomPolicy,
    RoomRole,
    RoomState,
    base_role,
    decide_typing,
    room_role,
)
from preau.server.ratelimit import RateLimiter
from preau.server.settings import Settings
from preau.server.store import (
    Author,
    HeldMessage,
    Message,
    MessageKind,
    PostOptions,
    ScheduledMessage,
    Store,
)
from preau.server.text import has_controls, is_blank, with_newlines, without_bidi_controls

# Control characters other than newline and tab are refused: they hide text
# from moderators and break clients. One compiled pattern scans in C.
log = logging.getLogger(__name__)

WAITING_AUTHOR_GONE = "its author is no longer in this room: it will not be delivered"

MAX_ATTACHMENTS = 10  # files per message
# After a broker outage, conversations closed this recently are told again
# (longer than any outage the Redis broker rides out with its clients).
RETELL_CLOSED_MS = 15 * 60_000



def check_body(body: str, max_chars: int, *, may_be_empty: bool = False) -> str:
    """The body as it will be stored and shown: bidi overrides removed
    (preau/server/text.py); refused if empty (unless ``may_be_empty``: files
    are sent with it), too long or with control characters."""
    body = with_newlines(without_bidi_controls(body))
    if len(body) > max_chars:
        raise PreauError(ErrorCode.TOO_LARGE, f"a message has at most {max_chars} characters")
    if is_blank(body) and not may_be_empty:
        raise bad_request("empty message")
    if has_controls(body):
        raise bad_request("control characters are not allowed")
    return body


def room_wire(room: Room) -> dict[str, Any]:
    """A room as clients see it; a conversation lists its people's ids."""
    fields: dict[str, Any] = {"id": room.id, "name": room.name, "kind": room.kind.value}
    if room.class_id is not None:
        fields["class_id"] = room.class_id
    if room.kind is RoomKind.PRIVATE:
        fields["people"] = sorted(room.members)
        if room.closed:
            fields["closed"] = True
    return fields


@dataclass(frozen=True, slots=True)
class SendResult:
    """A posted ``message``, a ``held`` one (pre-moderation) or a ``scheduled``
    one (quiet hours); ``created``
    False when the txn was seen before (the first result is returned)."""

    message: Message | None
    created: bool
    held: HeldMessage | None = None
    scheduled: ScheduledMessage | None = None  # quiet hours: delivered when they end


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """A room someone may read, with their role and its moderation state."""

    room: Room
    role: RoomRole
    policy: RoomPolicy
    state: MemberState
    at_ms: int  # when this was read

    def to_wire(self) -> dict[str, Any]:
        """What a client shows: its role, the policy, and its mute if any."""
        fields: dict[str, Any] = {"role": self.role.value, "policy": self.policy.to_wire()}
        if self.state.muted_at(self.at_ms):
            fields["muted_until"] = self.state.muted_until_ms
        return fields


# Who may post their own waiting message through quiet hours.
SEND_THROUGH_QUIET_HOURS = frozenset({Profile.TEACHER, Profile.STAFF})
WAITS_FOR_OPENING = ("this message goes when quiet hours end: it can be withdrawn,"
                     " not sent sooner")


class ChatService:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        hub: Hub,
        render: MessageRenderer,
        settings: Settings,
        clock: Clock,
        sends: RateLimiter,
        opens: RateLimiter | None = None,
        bursts: BurstDetector | None = None,
        notices: Notices | None = None,
    ) -> None:
        """``sends``: the per-account message rate; ``opens``: conversations
        opened per account (both global across nodes on Redis); ``notices``:
        the notification centre (preau/server/notifications/service.py)."""
        self._store = store
        self._render = render
        self._directory = directory
        self._hub = hub
        self._settings = settings
        self._clock = clock
        self._sends = sends
        self._opens = opens
        self._bursts = bursts
        self.notices = notices

    async def close(self) -> None:
        await self._sends.close()
        if self._opens is not None:
            await self._opens.close()
        if self._bursts is not None:
            await self._bursts.close()

    async def room_for(self, member: Member, room_id: str) -> Room:
        """The room, if ``member`` may be in it; ``not_found`` otherwise, as for an unknown id."""
        room = await self._directory.room(room_id)
        # Out of reach answers exactly as unknown: existence does not leak.
        if room is None or not may_join(member, room):
            raise not_found("no such room")
        return room

    async def open_room(self, member: Member, room_id: str) -> RoomAccess:
        """``room_for``, then the room's moderation state: ``forbidden`` for a
        member removed from it. One store read, no cache: a removal made on
        another node holds here at once."""
        room = await self.room_for(member, room_id)
        policy, state = await self._store.room_state(room.id, member.id)
        role = room_role(member, room, RoomState(policy, state))
        if role is RoomRole.NONE:  # removed by a moderator: as if it did not exist
            raise not_found("no such room")
        return RoomAccess(room, role, policy, state, self._clock.now_ms())

    async def may_still_post(self, person_id: str, room_id: str) -> bool:
        """Whether ``person_id`` may still post in ``room_id`` as the directory
        and the room's moderation stand now (a message waiting for quiet hours
        is delivered only then: a class move, a custody change or a removal
        made meanwhile withdraws it)."""
        member = await self._directory.member(person_id)
        if member is None:
            return False
        try:
            await self.open_room(member, room_id)
        except PreauError:
            return False
        return True

    async def check_typing(self, member: Member, room_id: str) -> None:
        """May ``member`` tell the room they are typing? Only who may write
        there now (``decide_typing``): a muted pupil's typing reaches nobody,
        refused with ``muted`` and the end of the mute."""
        access = await self.open_room(member, room_id)
        if access.room.closed:
            raise PreauError(ErrorCode.CLOSED, "this conversation is closed: it is read-only now")
        refusal = decide_typing(
            access.role, RoomState(access.policy, access.state), self._clock.now_ms())
        if refusal is not None:
            raise refusal.error()

    async def open_conversation(self, member: Member, people: list[str]) -> tuple[Room, bool]:
        """Open a private conversation of ``member`` and ``people``, or return the
        existing one-to-one conversation of the pair; ``(room, created)``.

        ``forbidden`` unless the circle of trust lets ``member`` reach every
        one of them (docs/conversations.md)."""
        others = sorted(set(people) - {member.id})
        if not others:
            raise bad_request("a conversation needs someone else")
        if len(others) + 1 > MAX_CONVERSATION_PEOPLE:
            raise bad_request(f"a conversation has at most {MAX_CONVERSATION_PEOPLE} people")
        view = await self._directory.school(member.school_id)
        if view is None:
            raise not_found("no such school")
        names = []
        for person_id in others:
            other = view.members.get(person_id)
            # Unknown and unreachable people look the same: no directory probing.
            if other is None or not may_communicate(member, other, view.rules):
                raise forbidden("you may not open a conversation with these people")
            names.append(other.display_name)
        # A hijacked account opening conversations with many people is the
        # pattern to slow down (tested before the store: no row for refusals).
        wait = None if self._opens is None else await self._opens.take(member.id)
        if wait is not None:
            metrics.RATE_CONVERSATIONS.inc()
            raise PreauError(ErrorCode.RATE_LIMITED, "too many new conversations, wait",
                             retry_after=wait)
        people_set = frozenset([member.id, *others])
        pair_key = "|".join(sorted(people_set)) if len(people_set) == 2 else None
        name = ", ".join(sorted([member.display_name, *names]))
        room, created = await self._store.open_conversation(
            member.school_id, people_set, name, pair_key, self._clock.now_ms(),
            opener_id=member.id,
        )
        if created:  # the others' clients list it at once, on whatever node
            await self._hub.tell_people(others, encode({
                "ev": "conversation.opened", "room": room_wire(room),
                "by": {"id": member.id, "name": member.display_name},
            }))
            if self.notices is not None:
                await self.notices.about_room("conversation", room.id, actor_id=member.id,
                                              to=others)
        return room, created

    async def directory_changed(self, school_id: str) -> None:
        """Record what a directory change did to the school's conversations
        (a directory listener, on every node; the first node to record a
        closing tells the people): closed when a relation they needed ended,
        taken away from whoever may no longer read them (docs/conversations.md)."""
        view = await self._directory.school(school_id)
        if view is None:
            return
        for stored in await self._store.conversations_in_school(school_id):
            now = conversation_now(stored, view.members, view.rules)
            if not now.closed or (stored.closed and now.members == stored.members):
                continue
            reason = conversation_break(stored, view.members, view.rules) or "relation_ended"
            if not await self._store.close_conversation(
                stored.id, reason, now.members, self._clock.now_ms()
            ):
                continue  # another node recorded it first
            if not stored.closed:
                await self._hub.publish_to(stored.id, encode({
                    "ev": "conversation.closed", "room": stored.id, "reason": reason,
                }), Audience(now.members))
            lost = stored.members - now.members
            if lost:  # their lists drop it at once (live sockets: hub.recheck)
                await self._hub.tell_people(lost, encode({"ev": "room.revoked", "room": stored.id}))

    async def resynced(self) -> None:
        """The broker lost messages (a broker listener): a ``conversation.closed``
        published meanwhile by the node that recorded the closing is lost too.
        Each node tells its own subscribers again of the conversations closed
        lately (the state is in the store; a client takes the event twice
        alike)."""
        since = self._clock.now_ms() - RETELL_CLOSED_MS
        for room, reason in await self._store.conversations_closed_since(since):
            await self._hub.tell_subscribers_here(room.id, encode({
                "ev": "conversation.closed", "room": room.id, "reason": reason,
            }), Audience(room.members))

    async def rooms_of(self, member: Member) -> list[Room]:
        """The rooms ``member`` may open now: as the directory says, less the
        rooms a moderator removed them from (listed nowhere, like unknown ones)."""
        rooms = await self._directory.rooms_of(member)
        removed = await self._store.removed_members([r.id for r in rooms])
        return [r for r in rooms if (r.id, member.id) not in removed]

    async def conversations(self, member: Member) -> list[Room]:
        return await self._directory.conversations_of(member)

    async def parents_room(self, member: Member, class_id: str | None) -> tuple[Room, bool]:
        """The class's parents' room, created if missing: by staff or a teacher
        of the class. ``class_id`` None: the school-wide one, by staff."""
        view = await self._directory.school(member.school_id)
        if class_id is None:
            if member.profile is not Profile.STAFF:
                raise forbidden("only staff open the school's parents' room")
        elif view is None or class_id not in view.classes:
            raise not_found("no such class")
        elif not (
            member.profile is Profile.STAFF
            or (member.profile is Profile.TEACHER and class_id in member.classes)
        ):
            # Only the class's own people know it: to anyone else it answers
            # as a class that does not exist.
            if class_id not in member.classes:
                raise not_found("no such class")
            raise forbidden("only staff and the class's teachers open its parents' room")
        room, created = await self._store.ensure_parents_room(
            member.school_id, class_id, self._clock.now_ms()
        )
        if created:  # reload here and on the other nodes, which then list it
            await self._hub.directory_changed(member.school_id)
        return room, created

    async def school_parents_room(self, member: Member, school_id: str) -> tuple[Room, bool]:
        """The school-wide parents' room, created if missing, by staff; another
        school answers as one that does not exist."""
        if school_id != member.school_id:
            raise not_found("no such school")
        return await self.parents_room(member, None)

    async def send(
        self,
        member: Member,
        room_id: str,
        txn: str,
        body: str,
        *,
        ack: bool = False,
        urgent: bool = False,
        attachments: tuple[str, ...] = (),
    ) -> SendResult:
        """Post to a room. ``ack``: an announcement readers acknowledge (room
        moderators; teachers and staff in a conversation). ``urgent``: through
        quiet hours (school admins only). ``attachments``: the sender's uploads
        sent with it, bound in the post's transaction (``not_found`` for one
        that is not theirs)."""
        room = await self.room_for(member, room_id)
        if room.closed:  # also refused by the store, once the closing is recorded
            raise PreauError(ErrorCode.CLOSED, "this conversation is closed: it is read-only now")
        body = check_body(body, self._settings.max_message_chars,
                          may_be_empty=bool(attachments))
        if len(attachments) > MAX_ATTACHMENTS or len(set(attachments)) != len(attachments):
            raise bad_request(f"at most {MAX_ATTACHMENTS} different attachments per message")
        moderator = base_role(member, room) is RoomRole.MODERATOR
        if ack and not (moderator or (
            room.kind is RoomKind.PRIVATE and member.profile in (Profile.TEACHER, Profile.STAFF)
        )):
            raise forbidden("only teachers and staff send announcements")
        if urgent and not member.is_admin:
            raise forbidden("only the school's admins send urgent messages")
        options = await self.post_options(member, urgent=urgent, ack=ack)
        if attachments:
            options = replace(options, attachments=attachments)
        # The per-account rate, then the spread of rooms, counted before the
        # post: the post that would reach one room too many is not delivered,
        # and the account is paused on every node. On Redis one round trip.
        now = self._clock.now_ms()
        if self._bursts is not None:
            wait, burst = await self._bursts.admit(self._sends, member, room.id, now)
        else:
            wait, burst = await self._sends.take(member.id), False
        if wait is not None:
            metrics.RATE_SENDS.inc()
            metrics.refused("rate_limited")
            raise PreauError(ErrorCode.RATE_LIMITED, "slow down", retry_after=wait)
        if burst:
            await self._pause_for_burst(member, now)
            metrics.refused("suspended")
            raise PreauError(ErrorCode.SUSPENDED, "your account is paused: the school's "
                             "administrators were alerted")
        author = Author(member.id, member.profile, moderator)
        started = time.perf_counter()
        result = await post_message(
            self._store, room.id, author, txn, body, "m_" + secrets.token_urlsafe(12),
            "h_" + secrets.token_urlsafe(12), self._clock.now_ms(), options,
            school_id=room.school_id,
        )
        metrics.STORE_POST.observe(time.perf_counter() - started)
        if result.refusal is not None:
            metrics.refused(result.refusal.code.value)
            raise result.refusal.error()
        if result.created and result.message is not None:
            metrics.POSTED.inc()
            message = result.message
            await self._hub.publish_message(room.id, message.seq, await self._render.frame(message))
            if self.notices is not None and (
                    message.ack_required or "@" in message.body
                    or room.kind is RoomKind.PRIVATE):
                # Its notification outbox row was written with it: the
                # fan-out runs after the acknowledgement (the same condition
                # as preau/server/store/rows.py, insert_message).
                self.notices.posted(message.room_id, message.seq)
            if result.alert is not None:
                # The word filter's alert list: the room's moderators take a look.
                await self._hub.publish_to(room.id, encode({
                    "ev": "moderation.alert", "room": room.id, "seq": message.seq,
                    "sender": message.sender_id, "words": list(result.alert.words),
                }), Audience(moderators=True))
        elif result.created and result.held is not None:
            metrics.HELD.inc()
            # Only the author and the moderators learn of a held message.
            frame = encode({"ev": "chat.held", **await self._render.held_fields(result.held)})
            await self._hub.publish_to(room.id, frame, Audience(frozenset({member.id}), True))
        elif result.created and result.scheduled is not None:
            metrics.SCHEDULED.inc()
            # Quiet hours: the author's other devices and the moderators see it waiting.
            frame = encode({"ev": "chat.scheduled",
                            **await self._render.scheduled_fields(result.scheduled)})
            await self._hub.publish_to(room.id, frame, Audience(frozenset({member.id}), True))
        return SendResult(result.message, result.created, result.held, result.scheduled)

    async def forget_spread(self, person_id: str) -> None:
        """An admin resumed the account: its burst count starts again."""
        if self._bursts is not None:
            await self._bursts.forget(person_id)

    async def _pause_for_burst(self, member: Member, now_ms: int) -> None:
        """Pause an account that posted into too many rooms at once, and tell
        the moderators of those rooms (the audit log tells the admins)."""
        rooms = await self._bursts.recent_rooms(member.id, now_ms) if self._bursts else []
        details = {"rooms": len(rooms), "window_s": self._settings.burst_window_s}
        if not await self._store.pause_account(member.id, member.school_id, "burst", details,
                                               now_ms):
            return
        log.warning("account %s paused: posted into %d rooms within %.0f s",
                    member.id, len(rooms), self._settings.burst_window_s)
        person = {"id": member.id, "name": member.display_name}
        for room_id in rooms:
            await self._hub.publish_to(room_id, encode({
                "ev": "moderation.paused", "room": room_id, "person": person, "reason": "burst",
            }), Audience(moderators=True))

    async def post_options(
        self, member: Member, *, urgent: bool = False, ack: bool = False
    ) -> PostOptions:
        """How a post by ``member`` is delivered: their school's quiet hours."""
        view = await self._directory.school(member.school_id)
        if view is None:
            raise not_found("no such school")
        return PostOptions(
            quiet_hours=view.school.quiet_hours, timezone=view.school.timezone,
            urgent=urgent, ack_required=ack, scheduled_id="s_" + secrets.token_urlsafe(12),
        )

    async def scheduled(self, member: Member, room_id: str) -> list[dict[str, Any]]:
        """Messages waiting for quiet hours to end: one's own; moderators: all."""
        access = await self.open_room(member, room_id)
        sender = None if access.role is RoomRole.MODERATOR else member.id
        waiting = await self._store.scheduled_messages(access.room.id, sender)
        return [await self._render.scheduled_fields(w) for w in waiting]

    async def cancel_scheduled(self, member: Member, room_id: str, scheduled_id: str) -> None:
        """Its author withdraws a message waiting for quiet hours to end
        (``not_found``: none such of theirs still waiting); their other
        sockets and the moderators are told (``chat.unscheduled``)."""
        access = await self.open_room(member, room_id)
        waiting = await self._store.cancel_scheduled(access.room.id, scheduled_id, member.id)
        if waiting is None:
            raise not_found("no such waiting message of yours")
        await self._hub.publish_to(access.room.id, encode({
            "ev": "chat.unscheduled", "room": access.room.id, "id": waiting.id,
            "txn": waiting.txn}), Audience(frozenset({member.id}), moderators=True))

    async def send_scheduled_now(
        self, member: Member, room_id: str, scheduled_id: str
    ) -> Message:
        """Post a waiting message at once, through quiet hours: its author if
        a teacher or staff (an adult's judgement, like ``urgent``; a pupil's
        or a parent's message waits, or is withdrawn), or one of the room's
        moderators (who release what a change of the room's delivery hours
        left waiting). ``not_found``: none such waiting."""
        access = await self.open_room(member, room_id)
        sender = None if access.role is RoomRole.MODERATOR else member.id
        if sender is not None and member.profile not in SEND_THROUGH_QUIET_HOURS:
            # Theirs: told why; anyone else's answers as an unknown one.
            mine = await self._store.scheduled_message(access.room.id, scheduled_id)
            if mine is None or mine.sender_id != member.id:
                raise not_found("no such waiting message")
            raise forbidden(WAITS_FOR_OPENING)
        if sender is None:
            # Another's: only while its author may still post here (a class
            # move or a removal since withdraws it at the opening).
            waiting = await self._store.scheduled_message(access.room.id, scheduled_id)
            if waiting is not None and waiting.sender_id != member.id and not (
                    await self.may_still_post(waiting.sender_id, access.room.id)):
                raise PreauError(ErrorCode.CONFLICT, WAITING_AUTHOR_GONE)
        message = await self._store.release_now(
            access.room.id, scheduled_id, sender, self._clock.now_ms(),
            "m_" + secrets.token_urlsafe(12))
        if message is None:
            raise not_found("no such waiting message")
        await self._hub.publish_message(access.room.id, message.seq,
                                        await self._render.frame(message))
        if self.notices is not None:  # as a release by the delivery loop
            await self.notices.posted_now(message.room_id, message.seq)
            if message.sender_id != member.id:  # a moderator released it
                await self.notices.about_room(
                    "scheduled.delivered", message.room_id, seq=message.seq,
                    to=[message.sender_id])
        return message

    async def history(
        self, member: Member, room_id: str, *, before: int | None, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        access = await self.open_room(member, room_id)
        room = access.room
        if after is not None:
            messages = await self._store.messages_after(room.id, after, limit)
        else:
            head = await self._store.room_head(room.id)
            top = head + 1 if before is None else min(before, head + 1)
            messages = await self._store.messages_before(room.id, top, limit)
        moderator = access.role is RoomRole.MODERATOR
        # Each message's reactions as the caller sees them (counts, their own).
        reactions = await self._store.reactions_of(
            room.id, [m.seq for m in messages if m.kind is MessageKind.MESSAGE], member.id)
        entries = []
        for m in messages:
            entry = await self._render.entry(
                m, reason=moderator or await self._authored(m, member.id))
            if m.seq in reactions:
                entry["reactions"] = reactions[m.seq].to_wire()
            entries.append(entry)
        return entries

    async def search(
        self, member: Member, room_id: str, words: str, limit: int
    ) -> list[dict[str, Any]]:
        """Messages of a room containing ``words``, newest ``limit`` (oldest
        first), as the history shows them: under the circle of trust like
        the history itself (``open_room``: out of reach or removed answers
        ``not_found``), so nobody finds a message they could not read;
        redacted messages are never found (their text is gone)."""
        words = without_bidi_controls(words).strip()
        if not 1 <= len(words) <= 100:
            raise bad_request("search for 1 to 100 characters")
        access = await self.open_room(member, room_id)
        found = await self._store.search_messages(access.room.id, words, limit)
        return [await self._render.entry(m) for m in found]

    async def _authored(self, message: Message, person_id: str) -> bool:
        """Whether ``message`` is a redaction of ``person_id``'s own message
        (whose reason they may read: docs/moderation.md, "Deleting and
        recalling")."""
        if message.kind is not MessageKind.REDACTION or not message.reason:
            return False
        if message.sender_id == person_id:
            return True
        assert message.redacts is not None
        found = await self._store.messages_before(message.room_id, message.redacts + 1, 1)
        return bool(found) and found[0].seq == message.redacts and found[0].sender_id == person_id
