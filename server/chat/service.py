"""Class chat: validate → authorise → commit → acknowledge → publish.

Handlers (HTTP and WebSocket) only parse and call this layer; every path here
checks the circle of trust (``may_join``) before touching a room.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from server.chat.render import MessageRenderer
from server.clock import Clock
from server.directory.model import Member, Room
from server.directory.rules import may_join
from server.directory.service import Directory
from server.errors import ErrorCode, PreauError, bad_request, forbidden, not_found
from server.gateway.hub import Hub
from server.gateway.ratelimit import KeyedBuckets
from server.settings import Settings
from server.store import Message, Store

# Control characters other than newline and tab are refused: they hide text
# from moderators and break clients. One compiled pattern scans in C.
_FORBIDDEN_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def check_body(body: str, max_chars: int) -> str:
    if len(body) > max_chars:
        raise PreauError(ErrorCode.TOO_LARGE, f"a message has at most {max_chars} characters")
    if not body.strip():
        raise bad_request("empty message")
    if _FORBIDDEN_CONTROLS.search(body):
        raise bad_request("control characters are not allowed")
    return body


@dataclass(frozen=True, slots=True)
class SendResult:
    message: Message
    created: bool


class ChatService:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        hub: Hub,
        render: MessageRenderer,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._store = store
        self._render = render
        self._directory = directory
        self._hub = hub
        self._settings = settings
        self._clock = clock
        self._sends = KeyedBuckets(settings.sends_per_s, settings.sends_burst)

    async def room_for(self, member: Member, room_id: str) -> Room:
        """The room, if ``member`` may be in it; ``not_found`` / ``forbidden`` otherwise."""
        room = await self._directory.room(room_id)
        if room is None:
            raise not_found("no such room")
        if not may_join(member, room):
            raise forbidden("you are not a member of this room")
        return room

    async def send(self, member: Member, room_id: str, txn: str, body: str) -> SendResult:
        room = await self.room_for(member, room_id)
        check_body(body, self._settings.max_message_chars)
        wait = self._sends.take(member.id)
        if wait is not None:
            raise PreauError(ErrorCode.RATE_LIMITED, "slow down", retry_after=wait)
        message, created = await self._store.append_message(
            room.id, member.id, txn, body, "m_" + secrets.token_urlsafe(12), self._clock.now_ms()
        )
        if created:
            await self._hub.publish_message(room.id, message.seq, await self._render.frame(message))
        return SendResult(message, created)

    async def history(
        self, member: Member, room_id: str, *, before: int | None, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        room = await self.room_for(member, room_id)
        if after is not None:
            messages = await self._store.messages_after(room.id, after, limit)
        else:
            head = await self._store.room_head(room.id)
            top = head + 1 if before is None else min(before, head + 1)
            messages = await self._store.messages_before(room.id, top, limit)
        return [await self._render.fields(m) for m in messages]
