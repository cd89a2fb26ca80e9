"""How stored timeline entries look to clients (HTTP history and live events).

Three shapes share one timeline:

- a message: ``chat.message`` with its body and txn (its latest text, with
  ``edited`` and ``edit_rev`` once its author edited it);
- a redacted message (a *tombstone*): ``chat.message`` with ``"redacted": true``
  and neither body nor txn — the store no longer has them on the timeline, and
  this is the only shape replays and history give it;
- a redaction: ``chat.redaction`` with ``redacts`` (the seq it removes) and
  ``by`` (who removed it). Its ``reason`` is given only to the author of the
  removed message and to the room's moderators (``fields(..., reason=True)``,
  decided by the caller); the frame shared by every subscriber never has it.

Held messages (pre-moderation) and scheduled ones (quiet hours) are not on
the timeline: they have their own shapes (``held_fields``,
``scheduled_fields``), shown only to their author and to moderators.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from preau.server.directory.service import Directory
from preau.server.live.events import encode
from preau.server.store import AttachmentRef, HeldMessage, Message, MessageKind, ScheduledMessage


def event_name(message: Message) -> str:
    return "chat.redaction" if message.kind is MessageKind.REDACTION else "chat.message"


class MessageRenderer:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        # A held message's files (wired by the composition root to the
        # attachment store); None: held messages are shown without them.
        self.held_attachments: Callable[[str], Awaitable[list[AttachmentRef]]] | None = None

    async def person(self, person_id: str) -> dict[str, str]:
        """``{"id", "name"}`` of anyone who appears in a room (name empty once gone)."""
        person = await self._directory.person(person_id)
        return {"id": person_id, "name": person.display_name if person else ""}

    async def fields(self, message: Message, *, reason: bool = False) -> dict[str, Any]:
        who = await self.person(message.sender_id)
        if message.kind is MessageKind.REDACTION:
            fields: dict[str, Any] = {
                "room": message.room_id,
                "seq": message.seq,
                "id": message.id,
                "redacts": message.redacts,
                "by": who,
                "ts": message.created_ms,
            }
            if reason and message.reason:
                fields["reason"] = message.reason
            return fields
        if message.redacted:
            return {
                "room": message.room_id,
                "seq": message.seq,
                "id": message.id,
                "sender": who,
                "ts": message.created_ms,
                "redacted": True,
            }
        fields = {
            "room": message.room_id,
            "seq": message.seq,
            "id": message.id,
            "sender": who,
            "body": message.body,
            "txn": message.txn,
            "ts": message.created_ms,
        }
        if message.ack_required:
            fields["ack"] = True  # an announcement: "J'ai lu" (chat.ack)
        if message.edited_ms is not None:
            # Edited by its author: shown "modifié"; ``chat.edited`` carries
            # later edits with a higher revision (preau/server/chat/editing.py).
            fields["edited"] = message.edited_ms
            fields["edit_rev"] = message.edit_rev
        if message.attachments:  # its files (docs/protocol.md, "Attachments")
            fields["attachments"] = [a.to_wire() for a in message.attachments]
        return fields

    async def entry(self, message: Message, *, reason: bool = False) -> dict[str, Any]:
        """A history entry: the event as a live client receives it (with a
        redaction's reason when ``reason``: its reader may know it)."""
        return {"ev": event_name(message), **await self.fields(message, reason=reason)}

    async def frame(self, message: Message) -> bytes:
        """The event, encoded once and shared by every recipient (so never a
        redaction's reason)."""
        return encode(await self.entry(message))

    async def scheduled_fields(self, waiting: ScheduledMessage) -> dict[str, Any]:
        """A message waiting for quiet hours to end (its author and moderators)."""
        fields: dict[str, Any] = {
            "room": waiting.room_id,
            "id": waiting.id,
            "sender": await self.person(waiting.sender_id),
            "body": waiting.body,
            "txn": waiting.txn,
            "ts": waiting.created_ms,
            "deliver_at": waiting.release_ms,
        }
        if waiting.ack_required:
            fields["ack"] = True
        return fields

    async def held_fields(self, held: HeldMessage) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "room": held.room_id,
            "id": held.id,
            "sender": await self.person(held.sender_id),
            "body": held.body,
            "txn": held.txn,
            "ts": held.created_ms,
            "status": held.status.value,
        }
        if self.held_attachments is not None:
            files = await self.held_attachments(held.id)
            if files:  # they wait with it (its author and the moderators see them)
                fields["attachments"] = [a.to_wire() for a in files]
        if held.reason:
            fields["reason"] = held.reason
        if held.seq is not None:
            fields["seq"] = held.seq
        return fields
