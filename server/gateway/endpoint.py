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
from collections.abc import Awaitable, Callable, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.types import Receive, Scope, Send

from server.auth.service import AuthService, Session
from server.chat.service import ChatService, room_wire
from server.directory.model import Member
from server.directory.service import Directory
from server.errors import ErrorCode, PreauError
from server.gateway import protocol
from server.gateway.connection import CloseCode, Connection
from server.gateway.extension import OpModule
from server.gateway.hub import Hub
from server.gateway.moderation_ops import ModerationOps
from server.gateway.ratelimit import TokenBucket
from server.moderation.service import ModerationService
from server.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "preau_session"



def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def token_from_scope(scope: Scope, *, allow_query: bool = False) -> str | None:
    """A session token from the Authorization header, the cookie, or — with
    ``allow_query``, on the WebSocket upgrades only — ``?token=``.

    The query parameter exists for clients that cannot set headers on a
    WebSocket (y-websocket in browsers); logs redact it (server/log_redaction.py).
    REST never takes it: a URL ends up in proxies' logs and browser histories.
    """
    auth = header(scope, b"authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie_header = header(scope, b"cookie")
    if cookie_header:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(cookie_header)
        except Exception:
            cookie = SimpleCookie()
        if SESSION_COOKIE in cookie:
            return cookie[SESSION_COOKIE].value
    if not allow_query:
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


def origin_allowed(scope: Scope, allowed: frozenset[str]) -> bool:
    """Exact match against the allow-list; with no list, same origin as the Host.

    No Origin header means no browser (an SDK, a bot): cross-site hijacking is a
    browser attack, and such clients still need a valid token.
    """
    origin = header(scope, b"origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return origin in allowed
    host = header(scope, b"host")
    parts = urlsplit(origin)
    return host is not None and parts.scheme in ("http", "https") and parts.netloc == host


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
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.directory = directory
        self.hub = hub
        self.chat = chat
        self.handlers: dict[str, Callable[[Connection, Any], Awaitable[dict[str, Any]]]] = {
            "ping": self._ping,
            "room.subscribe": self._subscribe,
            "room.unsubscribe": self._unsubscribe,
            "chat.send": self._send,
            "chat.typing": self._typing,
            "presence.list": self._presence,
            "conversation.open": self._open_conversation,
            "scheduled.list": self._scheduled,
        }
        if moderation is not None:
            self.handlers.update(ModerationOps(moderation).handlers())
        self.ops: dict[str, type[protocol.Op]] = dict(protocol.OPS)
        self.modules = tuple(modules)
        for module in self.modules:
            clash = (set(module.ops()) | set(module.handlers())) & set(self.handlers)
            if clash or set(module.ops()) != set(module.handlers()):
                raise ValueError(f"op module {module!r}: ops clash or lack handlers: {clash}")
            self.ops.update(module.ops())
            self.handlers.update(module.handlers())

    def schemas(self) -> dict[str, Any]:
        """JSON Schema of every op this gateway accepts (served at /api/ws-schema)."""
        return protocol.schemas(self.ops)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        if not origin_allowed(scope, self.settings.allowed_origins):
            log.warning("websocket refused: origin not allowed")
            await self._deny(scope, send, 403, ErrorCode.FORBIDDEN, "origin not allowed")
            return
        identity = await self._authenticate(scope)
        if identity is None:
            await self._deny(scope, send, 401, ErrorCode.UNAUTHENTICATED, "log in first")
            return
        session, member = identity
        if self.hub.sockets_of(member.id) >= self.settings.max_sockets_per_person:
            await self._deny(scope, send, 429, ErrorCode.RATE_LIMITED, "too many open sockets")
            return
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
        self.hub.register(conn)
        conn.push(protocol.event(
            "hello",
            node=self.hub.broker.node_id,
            person={"id": member.id, "name": member.display_name,
                    "profile": member.profile.value},
            limits={"frame_bytes": self.settings.max_frame_bytes,
                    "message_chars": self.settings.max_message_chars},
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
            for module in self.modules:
                try:
                    await module.on_disconnect(conn)
                except Exception:
                    log.exception("op module %r failed on disconnect", module)
            await self.hub.unregister(conn)
            await conn.finish()

    async def _authenticate(self, scope: Scope) -> tuple[Session, Member] | None:
        token = token_from_scope(scope, allow_query=True)
        if token is None:
            return None
        session = await self.auth.resolve(token)
        if session is None:
            return None
        member = await self.directory.member(session.person_id)
        return None if member is None else (session, member)

    async def _deny(
        self, scope: Scope, send: Send, status: int, code: ErrorCode, message: str
    ) -> None:
        if "websocket.http.response" in (scope.get("extensions") or {}):
            body = orjson.dumps({"error": {"code": code.value, "message": message}})
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

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
                conn.refusals += 1
                if conn.refusals > abuse_limit:
                    log.warning("connection %s flooding: closed", conn.id)
                    conn.close(CloseCode.POLICY, "flooding")
                    return
                conn.push(protocol.error_reply(
                    _peek_id(frame),
                    PreauError(ErrorCode.RATE_LIMITED, "slow down", retry_after=wait),
                ))
                continue
            conn.refusals = 0
            await self._handle(conn, frame, max_bytes)

    async def _handle(self, conn: Connection, frame: str | bytes, max_bytes: int) -> None:
        request_id: protocol.RequestId = None
        try:
            request = protocol.parse_request(frame, max_bytes, self.ops)
            request_id = request.id
            fields = await self.handlers[request.op](conn, request)
            if fields is not _NO_REPLY:
                conn.push(protocol.reply(request_id, **fields))
        except protocol.FrameError as exc:
            conn.push(protocol.error_reply(exc.request_id, exc))
        except PreauError as exc:
            conn.push(protocol.error_reply(request_id, exc))
        except Exception:
            log.exception("op failed on connection %s", conn.id)
            conn.push(protocol.error_reply(
                request_id, PreauError(ErrorCode.INTERNAL, "internal error, try again")))

    # -- ops -----------------------------------------------------------------
    async def _ping(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        return {"time": int(time.time() * 1000)}

    async def _subscribe(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.RoomSubscribe)
        access = await self.chat.open_room(conn.member, params.room)
        room = access.room

        def acknowledge(fields: dict[str, Any]) -> None:
            conn.push(protocol.reply(request.id, room=room.id, **fields, **access.to_wire()))

        await self.hub.subscribe(conn, room.id, params.since, acknowledge)
        return _NO_REPLY

    async def _unsubscribe(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.RoomUnsubscribe)
        if not await self.hub.unsubscribe(conn, params.room):
            raise PreauError(ErrorCode.NOT_SUBSCRIBED, "not subscribed to this room")
        return {}

    async def _send(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ChatSend)
        result = await self.chat.send(conn.member, params.room, params.txn, params.body,
                                      ack=params.ack, urgent=params.urgent)
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

    async def _open_conversation(
        self, conn: Connection, request: protocol.Request
    ) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ConversationOpen)
        room, created = await self.chat.open_conversation(conn.member, list(params.people))
        return {"room": room_wire(room), "created": created}

    async def _scheduled(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ScheduledList)
        return {"room": params.room,
                "scheduled": await self.chat.scheduled(conn.member, params.room)}

    async def _typing(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        params = request.params
        assert isinstance(params, protocol.ChatTyping)
        if params.room not in conn.rooms:
            raise PreauError(ErrorCode.NOT_SUBSCRIBED, "subscribe to the room first")
        await self.hub.publish_ephemeral(
            params.room,
            protocol.event("chat.typing", room=params.room,
                           person={"id": conn.member.id, "name": conn.member.display_name}),
            exclude=conn.member.id,
        )
        return {}

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
        ]
        return {"room": room.id, "online": people}


_NO_REPLY: dict[str, Any] = {}


def _peek_id(frame: str | bytes) -> protocol.RequestId:
    """The request id of a frame we refuse without parsing it fully (rate limited)."""
    if isinstance(frame, str) and len(frame) <= 65536:
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return None
        if isinstance(data, dict):
            rid = data.get("id")
            if isinstance(rid, int | str) and not isinstance(rid, bool):
                return rid
    return None
