"""``GET /ws``: the ASGI endpoint. Checks the upgrade, then reads, limits, parses, dispatches.

It stays thin: the protocol is in ``protocol.py`` (no I/O), the fan-out in
``hub.py``, the rules in the services. Every frame gets an answer; the socket
is closed only for abuse (floods after being told to slow down), a session
that ended, or a client too slow to read what it asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.types import Receive, Scope, Send

from preau.server import metrics
from preau.server.auth.service import AuthService
from preau.server.calls.rules import people_per_call, sfu_configured
from preau.server.charter.service import OPEN_OPS, CharterService
from preau.server.chat.service import ChatService, room_wire
from preau.server.directory.rules import presence_shown
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError
from preau.server.gateway import protocol
from preau.server.gateway.moderation_ops import ModerationOps
from preau.server.gateway.registry import OpModule, OpRegistry, OpTable, op, table
from preau.server.live import handshake
from preau.server.live.connection import CloseCode, Connection
from preau.server.live.events import event
from preau.server.live.handshake import header
from preau.server.live.hub import Hub
from preau.server.messages import language
from preau.server.moderation.service import ModerationService
from preau.server.ratelimit.buckets import TokenBucket
from preau.server.settings import Settings

log = logging.getLogger(__name__)


class WebSocketGateway:
    def __init__(
        self,
        settings: Settings,
        auth: AuthService,
        directory: Directory,
        hub: Hub,
        chat: ChatService,
        moderation: ModerationService | None = None,
        modules: Sequence[OpModule] = (),
        charter: CharterService | None = None,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.directory = directory
        self.hub = hub
        self.chat = chat
        # The charter of use gate: every op but charter.get/charter.accept
        # answers charter_required until the current version is accepted.
        self.charter = charter
        # One table {op: (Model, handler)}: the core ops, moderation's, then the
        # modules' (reading, calls, SFU), each joined the same way.
        core: list[OpModule] = [CoreOps(hub, chat, directory)]
        if moderation is not None:
            core.append(ModerationOps(moderation))
        self.registry = OpRegistry([*core, *modules])

    def schemas(self) -> dict[str, Any]:
        """JSON Schema of every op this gateway accepts (served at /api/ws-schema)."""
        return protocol.schemas(self.registry.models)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        admitted = await handshake.admit(
            scope, send,
            allowed_origins=self.settings.allowed_origins,
            resolve=self.auth.resolve,
            people=self.directory,
            sockets_of=self.hub.sockets_of,
            max_sockets=self.settings.max_sockets_per_person,
            label="websocket",
            too_many="too many open sockets",
        )
        if admitted is None:
            return
        session, member = admitted
        await send({"type": "websocket.accept"})
        extensions = scope.get("extensions") or {}
        conn = Connection(
            send,
            session,
            member,
            queue_limit=self.settings.send_queue_frames,
            ops_bucket=TokenBucket(self.settings.ops_per_s, self.settings.ops_burst),
            can_abort="preau.abort" in extensions,
            direct_write=(extensions.get("preau.write") or {}).get("write"),
            node_id=self.hub.broker.node_id,
        )
        # Error messages in the person's language (?lang= from the web client).
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        conn.lang = language(header(scope, b"accept-language"), (query.get("lang") or [None])[0])
        self.hub.register(conn)
        gauge = metrics.CONNECTIONS.labels("ws", member.profile.value)
        gauge.inc()
        metrics.CONNECTIONS_OPENED.labels("ws", member.profile.value).inc()
        conn.push(event(
            "hello",
            node=self.hub.broker.node_id,
            person={"id": member.id, "name": member.display_name,
                    "profile": member.profile.value},
            limits={"frame_bytes": self.settings.max_frame_bytes,
                    "message_chars": self.settings.max_message_chars,
                    # Calls: how many people one seats, and whether an SFU
                    # (the "large class" mode) exists on this server.
                    "call_people": people_per_call(self.settings),
                    "sfu": sfu_configured(self.settings)},
            **({} if self.charter is None else await self.charter.status(member)),
        ))
        # The socket lives no longer than its session (logout closes it sooner).
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, session.expires_ms / 1000 - time.time()),
            conn.close, CloseCode.SESSION_ENDED, "session expired",
        )
        try:
            await self._read_loop(conn, receive)
        finally:
            expiry.cancel()
            for module in self.registry.modules:
                try:
                    await module.on_disconnect(conn)
                except Exception:
                    log.exception("op module %r failed on disconnect", module)
            gauge.dec()
            await self.hub.unregister(conn)
            await conn.finish()

    async def _read_loop(self, conn: Connection, receive: Receive) -> None:
        max_bytes = self.settings.max_frame_bytes
        abuse_limit = 2 * self.settings.ops_burst
        while not conn.closed:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes") or b""
            wait = conn.ops_bucket.take()
            if wait is not None:
                metrics.RATE_OPS.inc()
                conn.refusals += 1
                if conn.refusals > abuse_limit:
                    log.warning("connection %s flooding: closed", conn.id)
                    conn.close(CloseCode.POLICY, "flooding")
                    return
                conn.push(protocol.error_reply(
                    _peek_id(frame),
                    PreauError(ErrorCode.RATE_LIMITED, "slow down", retry_after=wait),
                    conn.lang,
                ))
                continue
            conn.refusals = 0
            await self._handle(conn, frame, max_bytes)

    async def _handle(self, conn: Connection, frame: str | bytes, max_bytes: int) -> None:
        request_id: protocol.RequestId = None
        try:
            # The charter of use gate, before the op's parameters are read:
            # until the current version is accepted, only charter.get and
            # charter.accept pass (two dict look-ups once it is accepted).
            if self.charter is not None and await self.charter.required(conn.member):
                peeked = _peek(frame)
                request_id = _frame_id(peeked)
                if peeked is None or peeked.get("op") not in OPEN_OPS:
                    raise PreauError(ErrorCode.CHARTER_REQUIRED,
                                     "accept the school's charter of use first")
            request = protocol.parse_request(frame, max_bytes, self.registry.models)
            request_id = request.id
            fields = await self.registry.handlers[request.op](conn, request)
            if fields is not _NO_REPLY:
                conn.push(protocol.reply(request_id, **fields))
        except protocol.FrameError as exc:
            conn.push(protocol.error_reply(exc.request_id, exc, conn.lang))
        except PreauError as exc:
            metrics.OP_ERRORS.labels(exc.code.value).inc()
            conn.push(protocol.error_reply(request_id, exc, conn.lang))
        except Exception:
            metrics.OP_ERRORS.labels("internal").inc()
            log.exception("op failed on connection %s", conn.id)
            conn.push(protocol.error_reply(
                request_id, PreauError(ErrorCode.INTERNAL, "internal error, try again"),
                conn.lang))


class CoreOps:
    """The core ops of ``/ws`` (docs/protocol.md): rooms, messages, typing,
    presence, conversations. An op module like the others (registry.py)."""

    def __init__(self, hub: Hub, chat: ChatService, directory: Directory) -> None:
        self.hub = hub
        self.chat = chat
        self.directory = directory

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("ping", protocol.Ping)
    async def _ping(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        return {"time": int(time.time() * 1000)}

    @op("room.subscribe", protocol.RoomSubscribe)
    async def _subscribe(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.RoomSubscribe)
        access = await self.chat.open_room(conn.member, params.room)
        room = access.room

        def acknowledge(fields: dict[str, Any]) -> bytes:
            # Sent by the hub, in one write with the replay that follows it.
            return protocol.reply(request.id, room=room.id, **fields, **access.to_wire())

        await self.hub.subscribe(conn, room.id, params.since, acknowledge)
        return _NO_REPLY

    @op("room.unsubscribe", protocol.RoomUnsubscribe)
    async def _unsubscribe(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.RoomUnsubscribe)
        if not await self.hub.unsubscribe(conn, params.room):
            raise PreauError(ErrorCode.NOT_SUBSCRIBED, "not subscribed to this room")
        return {}

    @op("chat.send", protocol.ChatSend)
    async def _send(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ChatSend)
        result = await self.chat.send(conn.member, params.room, params.txn, params.body,
                                      ack=params.ack, urgent=params.urgent,
                                      attachments=tuple(params.attachments))
        if result.held is not None:  # pre-moderation: waits for a moderator
            held = result.held
            return {"room": held.room_id, "held": True, "id": held.id, "ts": held.created_ms,
                    "status": held.status.value, "duplicate": not result.created}
        if result.scheduled is not None:  # quiet hours: committed, delivered later
            waiting = result.scheduled
            return {"room": waiting.room_id, "scheduled": True, "id": waiting.id,
                    "ts": waiting.created_ms, "deliver_at": waiting.release_ms,
                    "duplicate": not result.created}
        message = result.message
        assert message is not None
        return {"room": message.room_id, "seq": message.seq, "id": message.id,
                "ts": message.created_ms, "duplicate": not result.created}

    @op("conversation.open", protocol.ConversationOpen)
    async def _open_conversation(
        self, conn: Connection, request: protocol.Request
    ) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ConversationOpen)
        room, created = await self.chat.open_conversation(conn.member, list(params.people))
        return {"room": room_wire(room), "created": created}

    @op("scheduled.list", protocol.ScheduledList)
    async def _scheduled(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ScheduledList)
        return {"room": params.room,
                "scheduled": await self.chat.scheduled(conn.member, params.room)}

    @op("scheduled.cancel", protocol.ScheduledOne)
    async def _cancel_scheduled(
        self, conn: Connection, request: protocol.Request
    ) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ScheduledOne)
        await self.chat.cancel_scheduled(conn.member, params.room, params.scheduled)
        return {"room": params.room, "scheduled": params.scheduled}

    @op("scheduled.send_now", protocol.ScheduledOne)
    async def _send_scheduled_now(
        self, conn: Connection, request: protocol.Request
    ) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ScheduledOne)
        message = await self.chat.send_scheduled_now(conn.member, params.room, params.scheduled)
        return {"room": params.room, "scheduled": params.scheduled, "seq": message.seq}

    @op("chat.typing", protocol.ChatTyping)
    async def _typing(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ChatTyping)
        if params.room not in conn.rooms:
            raise PreauError(ErrorCode.NOT_SUBSCRIBED, "subscribe to the room first")
        await self.chat.check_typing(conn.member, params.room)
        await self.hub.publish_ephemeral(
            params.room,
            event("chat.typing", room=params.room,
                           person={"id": conn.member.id, "name": conn.member.display_name}),
            exclude=conn.member.id,
        )
        return {}

    @op("presence.list", protocol.PresenceList)
    async def _presence(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.PresenceList)
        room = (await self.chat.open_room(conn.member, params.room)).room
        try:
            online = await self.hub.presence.online(room.id)
        except Exception:
            raise PreauError(ErrorCode.UNAVAILABLE, "presence is unavailable, retry") from None
        view = await self.directory.school(conn.member.school_id)
        people = [] if view is None else [
            {"id": i, "name": view.members[i].display_name} for i in online if i in view.members
            and presence_shown(conn.member, view.members[i], view.school)
        ]
        return {"room": room.id, "online": people}


_NO_REPLY: dict[str, Any] = {}


def _peek(frame: str | bytes) -> dict[str, Any] | None:
    """A frame's JSON object, for a refusal that does not parse it fully."""
    if isinstance(frame, str) and len(frame) <= 65536:
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return None
        if isinstance(data, dict):
            return data
    return None


def _frame_id(data: dict[str, Any] | None) -> protocol.RequestId:
    """The id to answer with: only one the parser would take (a 20,000-character
    id was echoed back whole in rate_limited answers)."""
    return None if data is None else protocol.valid_id(data.get("id"))


def _peek_id(frame: str | bytes) -> protocol.RequestId:
    """The request id of a frame we refuse without parsing it fully (rate limited)."""
    return _frame_id(_peek(frame))
