"""Read markers, read receipts and announcement acknowledgements.

- A *read marker* says how far a person has read a room: it gives unread
  counts, and in a private conversation it is a *read receipt* the other
  participants see (``chat.read``), as in Matrix and every messenger. In class
  and parents' rooms markers stay private: pupils do not watch each other read.
- An *announcement* (a message sent with ``ack``) asks its readers to
  acknowledge it ("J'ai lu", Pronote's "accusé de lecture"): the sender and the
  room's moderators see who did and who has not yet (``chat.acks``), and are
  told live (``chat.acked``).
"""

from __future__ import annotations

from typing import Any

from preau.server.chat.render import MessageRenderer
from preau.server.chat.service import ChatService, room_wire
from preau.server.clock import Clock
from preau.server.directory.model import Member, Room, RoomKind
from preau.server.directory.rules import may_join
from preau.server.directory.service import Directory
from preau.server.errors import forbidden, not_found
from preau.server.live.channels import Audience
from preau.server.live.events import event
from preau.server.live.hub import Hub
from preau.server.moderation.rules import RoomRole, base_role
from preau.server.store import Store


class ReceiptService:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        hub: Hub,
        chat: ChatService,
        render: MessageRenderer,
        clock: Clock,
    ) -> None:
        self._store = store
        self._directory = directory
        self._hub = hub
        self._chat = chat
        self._render = render
        self._clock = clock

    async def acknowledge(self, member: Member, room_id: str, seq: int) -> dict[str, Any]:
        room = (await self._chat.open_room(member, room_id)).room
        result = await self._store.acknowledge(room.id, seq, member.id, self._clock.now_ms())
        if result is None:
            raise not_found("no announcement to acknowledge at this seq")
        message, at_ms, created = result
        if created:
            await self._hub.publish_to(room.id, event(
                "chat.acked", room=room.id, seq=seq,
                person=await self._render.person(member.id), ts=at_ms,
            ), Audience(frozenset({message.sender_id}), moderators=True))
        return {"room": room.id, "seq": seq, "ts": at_ms, "duplicate": not created}

    async def acknowledgements(self, member: Member, room_id: str, seq: int) -> dict[str, Any]:
        """Who acknowledged announcement ``seq`` and who has not yet: for its
        sender and the room's moderators only."""
        access = await self._chat.open_room(member, room_id)
        room = access.room
        message = next(iter(await self._store.messages_after(room.id, seq - 1, 1)), None)
        if message is None or message.seq != seq or not message.ack_required:
            raise not_found("no announcement at this seq")
        if message.sender_id != member.id and access.role is not RoomRole.MODERATOR:
            raise forbidden("only its sender and the room's moderators see who read it")
        acks = await self._store.acknowledgements(room.id, seq)
        done = {person for person, _ in acks}
        readers = await self._readers(room, exclude=message.sender_id)
        return {
            "room": room.id,
            "seq": seq,
            "acknowledged": [
                {"person": await self._render.person(p), "ts": at} for p, at in acks
            ],
            "pending": [
                {"id": m.id, "name": m.display_name}
                for m in sorted(readers, key=lambda m: m.display_name) if m.id not in done
            ],
        }

    async def mark_read(self, member: Member, room_id: str, seq: int) -> dict[str, Any]:
        room = (await self._chat.open_room(member, room_id)).room
        marker = await self._store.mark_read(room.id, member.id, seq, self._clock.now_ms())
        if room.kind is RoomKind.PRIVATE:
            await self._hub.publish_ephemeral(room.id, event(
                "chat.read", room=room.id, seq=marker,
                person=await self._render.person(member.id),
            ), exclude=member.id)
        return {"room": room.id, "seq": marker}

    async def receipts(self, member: Member, room_id: str) -> dict[str, Any]:
        """A private conversation's read markers (its participants only):
        ``read`` (person id → seq) and ``people`` (with names, for display)."""
        room = (await self._chat.open_room(member, room_id)).room
        markers = {} if room.kind is not RoomKind.PRIVATE else \
            await self._store.read_markers(room.id)
        return {
            "room": room.id,
            "read": markers,
            "people": [{**await self._render.person(p), "seq": s} for p, s in markers.items()],
        }

    async def my_acknowledgements(self, member: Member, room_id: str) -> dict[str, Any]:
        """The announcements of a room I acknowledged (the latest 500): a
        client shows "Lu ✓" instead of the button after a reload."""
        room = (await self._chat.open_room(member, room_id)).room
        return {"room": room.id,
                "seqs": await self._store.acknowledged_by(room.id, member.id, 500)}

    async def unread(self, member: Member, room_ids: list[str]) -> dict[str, int]:
        return await self._store.unread_counts(member.id, room_ids)

    async def room_list(self, member: Member) -> list[dict[str, Any]]:
        """The rooms ``member`` may open, as clients see them, each with its
        head (last seq) and ``member``'s unread count."""
        rooms = await self._chat.rooms_of(member)
        unread = await self.unread(member, [r.id for r in rooms])
        return [
            {**room_wire(r), "head": await self._store.room_head(r.id), "unread": unread[r.id]}
            for r in rooms
        ]

    async def _readers(self, room: Room, exclude: str) -> list[Member]:
        """Who an announcement in ``room`` is for: its members who do not
        moderate it (every other participant, in a conversation)."""
        view = await self._directory.school(room.school_id)
        if view is None:
            return []
        return [
            m for m in view.members.values()
            if m.id != exclude and may_join(m, room)
            and base_role(m, room) is not RoomRole.MODERATOR
        ]
