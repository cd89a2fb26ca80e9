"""``GET /collab/{document}``: the y-websocket endpoint (stock ``WebsocketProvider`` clients).

The upgrade is checked by the same code as ``/ws`` (preau/server/live/handshake.py):
the Origin against the allow-list, then the session (header, cookie, or
``?token=``, which is what y-websocket in a browser can send), then the cap
on open sockets. Then the document's rights,
before the socket is accepted: none, or no such document → 404 (one answer
for both, so names cannot be probed); read → accepted read-only; write →
accepted. Frames go to the document's room
(preau/collab/room.py), which answers every one of them.

Limits here: text frames are refused (the protocol is binary), and a token
bucket per socket closes a client that floods (1008). An awareness frame
that only echoes states the room sent (every stock y-websocket client does
that) is not charged (``DocumentRoom.receive`` says which frames count). Frames above the hard
limit are closed by the server (1009, uvicorn's ``ws_max_size``); the room
refuses updates above the update limit with ``too_large``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Protocol

import orjson
from starlette.types import Receive, Scope, Send

from preau.collab import codec
from preau.collab.ports import Access
from preau.collab.room import DocumentRoom
from preau.collab.rooms import DocumentRooms
from preau.server import metrics
from preau.server.auth.service import AuthService
from preau.server.broker import Broker, Subscription
from preau.server.directory.model import Member
from preau.server.directory.service import Directory
from preau.server.documents.connection import CollabConnection
from preau.server.documents.service import DocumentService
from preau.server.errors import ErrorCode
from preau.server.live.channels import SESSIONS_CHANNEL
from preau.server.live.handshake import admit, deny
from preau.server.live.outbox import GOING_AWAY
from preau.server.ratelimit.buckets import TokenBucket
from preau.server.settings import Settings

log = logging.getLogger(__name__)

SESSION_ENDED = 4001  # as on /ws: log in again
POLICY = 1008


class CharterGate(Protocol):
    """The charter of use (preau/server/charter/): has this person accepted it?"""

    async def required(self, member: Member) -> bool: ...


class CollabEndpoint:
    def __init__(
        self,
        settings: Settings,
        auth: AuthService,
        directory: Directory,
        documents: DocumentService,
        rooms: DocumentRooms,
        charter: CharterGate | None = None,
    ) -> None:
        self.settings = settings
        # Until the school's current charter of use is accepted, documents do
        # not open either (answered 403 charter_required, as every /ws op is).
        self.charter = charter
        self.auth = auth
        self.directory = directory
        self.documents = documents
        self.rooms = rooms
        self._connections: set[CollabConnection] = set()
        self._per_person: dict[str, int] = {}  # open /collab sockets, per person
        self._sessions: Subscription | None = None
        self._follower: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        admitted = await admit(
            scope, send,
            allowed_origins=self.settings.allowed_origins,
            resolve=self.auth.resolve,
            people=self.directory,
            sockets_of=lambda person_id: self._per_person.get(person_id, 0),
            max_sockets=self.settings.max_sockets_per_person,
            label="collab websocket",
            too_many="too many open documents",
        )
        if admitted is None:
            return
        session, member = admitted
        try:
            charter_pending = self.charter is not None and await self.charter.required(member)
        except Exception:
            log.exception("collab: charter check failed")
            await deny(scope, send, 503, ErrorCode.UNAVAILABLE, "try again")
            return
        if charter_pending:
            await deny(scope, send, 403, ErrorCode.CHARTER_REQUIRED,
                       "accept the school's charter of use first")
            return
        document_id = str(scope.get("path_params", {}).get("document", ""))
        # A removal from the class room announced between this check and the
        # join would find no connection to cut: re-checked after the join.
        removals = self.documents.removals_seen
        try:
            access = await self.documents.access(member.id, document_id)
        except Exception:
            log.exception("collab: rights check failed")
            await deny(scope, send, 503, ErrorCode.UNAVAILABLE, "try again")
            return
        if access is Access.NONE:
            await deny(scope, send, 404, ErrorCode.NOT_FOUND, "no such document")
            return
        await send({"type": "websocket.accept"})
        extensions = scope.get("extensions") or {}
        conn = CollabConnection(
            send, member.id, access, name=member.display_name,
            session_hash=session.token_hash,
            queue_limit=self.settings.send_queue_frames,
            direct_write=(extensions.get("preau.write") or {}).get("write"),
        )
        self._connections.add(conn)
        self._per_person[member.id] = self._per_person.get(member.id, 0) + 1
        gauge = metrics.CONNECTIONS.labels("collab", member.profile.value)
        gauge.inc()
        metrics.CONNECTIONS_OPENED.labels("collab", member.profile.value).inc()
        # The socket lives no longer than its session (logout closes it sooner).
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, session.expires_ms / 1000 - time.time()),
            conn.close, SESSION_ENDED, "session expired",
        )
        room: DocumentRoom | None = None
        try:
            room = await self.rooms.join(document_id, conn)
            if self.documents.removals_seen != removals:
                await room.recheck(member.id)
            await self._read_loop(conn, room, receive)
        except Exception:
            log.exception("collab connection %s failed", conn.id)
            conn.close(1011, "internal error")
        finally:
            expiry.cancel()
            gauge.dec()
            self._connections.discard(conn)
            left = self._per_person.pop(member.id, 1) - 1
            if left > 0:
                self._per_person[member.id] = left
            if room is not None:
                try:
                    await self.rooms.leave(room, conn)
                except Exception:
                    log.exception("collab connection %s: leave failed", conn.id)
            await conn.finish()

    async def _read_loop(
        self, conn: CollabConnection, room: DocumentRoom, receive: Receive
    ) -> None:
        bucket = TokenBucket(self.settings.collab_frames_per_s, self.settings.collab_frames_burst)
        while not conn.closed:
            message = await receive()
            if message["type"] == "websocket.disconnect" or conn.closed:
                return  # closed meanwhile (session ended, rights withdrawn): ignore the rest
            frame = message.get("bytes")
            if frame is None:  # refused, and charged like any frame: no free flood
                conn.send(codec.permission_denied("bad_request: binary frames only"))
                charged = True
            else:
                charged = await room.receive(conn, frame)
            if charged and bucket.take() is not None:
                metrics.RATE_COLLAB.inc()
                log.warning("collab connection %s flooding: closed", conn.id)
                conn.close(POLICY, "flooding")
                return

    async def start(self, broker: Broker) -> None:
        """Follow session revocations of every node (the hub announces them on
        its sessions channel; this node's own arrive through ``revoke_sessions``)."""
        self._sessions = await broker.subscribe(SESSIONS_CHANNEL)
        self._follower = asyncio.get_running_loop().create_task(self._follow(self._sessions))
        # What the broker could not carry: the store says (as the hub does
        # for /ws; an outside probe found a logged-out session's document
        # socket saving what it typed for the whole outage).
        broker.on_resync(self._close_ended_sessions)
        self._watcher = asyncio.get_running_loop().create_task(self._while_cut_off(broker))

    async def _while_cut_off(self, broker: Broker) -> None:
        """While the broker is down, ask the store about the sessions of this
        node's document sockets, as often as the hub asks about /ws's."""
        while True:
            await asyncio.sleep(self.settings.presence_ttl_s / 3)
            try:
                if not await broker.healthy():
                    await self._close_ended_sessions()
            except Exception:
                log.warning("collab: checking sessions during a broker outage failed",
                            exc_info=True)

    async def _close_ended_sessions(self) -> None:
        hashes = sorted({conn.session_hash for conn in self._connections})
        if hashes:
            self.close_sessions(await self.auth.ended_among(hashes))

    async def _follow(self, subscription: Subscription) -> None:
        async for payload in subscription:
            try:
                revoked = orjson.loads(payload).get("revoked", [])
                self.close_sessions(str(h) for h in revoked)
            except Exception:
                log.exception("collab: bad sessions message")

    async def stop(self) -> None:
        for conn in list(self._connections):
            conn.close(GOING_AWAY, "server shutting down")
        for task in (self._follower, self._watcher):
            if task is not None:
                task.cancel()
        if self._sessions is not None:
            await self._sessions.close()

    def close_sessions(self, token_hashes: Iterable[str]) -> None:
        """Sessions ended on this node (logout, password change): close their sockets."""
        ended = set(token_hashes)
        for conn in list(self._connections):
            if conn.session_hash in ended:
                conn.close(SESSION_ENDED, "session ended")

    async def revoke_sessions(self, token_hashes: list[str]) -> None:
        self.close_sessions(token_hashes)

    def stats(self) -> dict[str, int]:
        return {"sockets": len(self._connections), **self.rooms.stats()}

