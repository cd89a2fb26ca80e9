"""How a stored message looks to clients (HTTP history and ``chat.message`` events)."""

from __future__ import annotations

from typing import Any

from server.directory.service import Directory
from server.gateway.protocol import encode
from server.store import Message


class MessageRenderer:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def fields(self, message: Message) -> dict[str, Any]:
        person = await self._directory.person(message.sender_id)
        return {
            "room": message.room_id,
            "seq": message.seq,
            "id": message.id,
            "sender": {"id": message.sender_id, "name": person.display_name if person else ""},
            "body": message.body,
            "txn": message.txn,
            "ts": message.created_ms,
        }

    async def frame(self, message: Message) -> bytes:
        """The ``chat.message`` event, encoded once and shared by every recipient."""
        return encode({"ev": "chat.message", **await self.fields(message)})
