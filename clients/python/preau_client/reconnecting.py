"""A ``/ws`` connection that outlives its sockets (docs/protocol.md, "Limits and closing").

    live = await ReconnectingConnection(client).start()
    await live.subscribe(room_id)
    await live.send_message(room_id, "Bonjour !")     # survives a node's restart
    event = await live.next_event("chat.message")

When the socket closes — 1012 (the node is draining: a rolling upgrade), a
dropped TCP connection, a missed pong, a slow-consumer cut — it connects
again by itself: at once after a 1012 (the load balancer sends it to another
node), otherwise after an exponential backoff with jitter, trying the next of
``base_urls`` when several are given. On each new socket it subscribes again
to every room with ``since`` = the last sequence number it showed, so the
messages posted meanwhile arrive once each and in order; a ``chat.message``
already shown (a replay overlapping the live feed) is not shown twice.
:meth:`send_message` sends again, with the same ``txn``, a send whose socket
closed before its answer, so a message is posted once however often it is
sent. A send or a subscription left unanswered for ``request_timeout_s`` on
a socket that still looks open (a dead path: a middlebox that dropped the
flow, a node that stopped answering) drops that socket, as Centrifuge's
clients do, and goes again on the next one; any other request so left drops
the socket too, and raises ``TimeoutError`` (it is not sent again). 4001
(session ended) and 4003 (account closed) end it for good: :attr:`ended`
holds the code and waiting calls raise ``ConnectionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import websockets

from preau_client import LiveConnection, PreauClient, PreauError

__all__ = ["FINAL_CLOSE_CODES", "ReconnectingConnection"]

FINAL_CLOSE_CODES = frozenset({4001, 4003})  # log in again / account closed
SERVICE_RESTART = 1012

_CONNECT_ERRORS = (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed,
                   TimeoutError, ConnectionError, PreauError)

Hook = Callable[[LiveConnection], Awaitable[None]]


class ReconnectingConnection:
    """One person's live connection, kept open across sockets.

    ``client``: the logged-in session (its bearer token is reused on every
    socket). ``base_urls``: the addresses to try in turn (default: the
    client's own, which is usually a load balancer's). ``on_connect``: hooks
    run on each new socket after its rooms are subscribed again (for example
    to join a call again), before :attr:`connected` is set.
    """

    def __init__(
        self, client: PreauClient, *, base_urls: Sequence[str] | None = None,
        origin: str | None = None, backoff_base_s: float = 0.2, backoff_cap_s: float = 5.0,
        connect_timeout_s: float = 5.0, request_timeout_s: float = 10.0,
    ) -> None:
        urls = list(base_urls or [client.base_url])
        self._clients = [client if url.rstrip("/") == client.base_url
                         else PreauClient(url, client.token, client.person) for url in urls]
        self._owned = [c for c in self._clients if c is not client]
        self.origin = origin
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.rooms: dict[str, int | None] = {}  # room → last seq shown (None: not yet known)
        self.lost_rooms: dict[str, str] = {}  # rooms refused on a new socket → error code
        self.conn: LiveConnection | None = None
        self.hello: dict[str, Any] = {}
        self.connected = asyncio.Event()
        self.on_connect: list[Hook] = []
        self.connects = 0  # sockets opened so far
        self.close_codes: list[int | None] = []  # of every socket that closed under us
        self.failures: list[str] = []  # failed attempts to connect
        self.resent = 0  # sends sent again after their socket closed or stayed silent
        self.dropped = 0  # sockets dropped because a request went unanswered on them
        self.ended: int | None = None  # 4001 / 4003: no more reconnecting
        self._change = asyncio.Event()  # set (and replaced) on connect, disconnect, end
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------
    async def start(self, timeout: float = 10) -> ReconnectingConnection:
        """Open the first socket; return once it is up (TimeoutError otherwise)."""
        self._task = asyncio.get_running_loop().create_task(self._supervise())
        await self.live(timeout)
        return self

    async def close(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.conn is not None:
            await _close(self.conn)
        for client in self._owned:
            await client.close()

    async def __aenter__(self) -> ReconnectingConnection:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def live(self, timeout: float = 10) -> LiveConnection:
        """The current socket, waiting (up to ``timeout``) for one if it is down
        (or closed and not yet replaced)."""
        async with asyncio.timeout(timeout):
            while True:
                if self.ended is not None:
                    raise ConnectionError(f"closed for good ({self.ended})")
                conn = self.conn
                if self.connected.is_set() and conn is not None and _open(conn):
                    return conn
                # Yields even if the socket is closed and its reader has not
                # run yet (it marks it closed, then the next one comes).
                await self._change.wait()

    def _changed(self) -> None:
        """Wake whoever waits in :meth:`live` (each waits on the event of its time)."""
        self._change.set()
        self._change = asyncio.Event()

    def _backoff(self, failures: int) -> float:
        """Exponential with jitter (half fixed, half random), so clients cut at
        the same moment do not all come back at the same moment."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** min(failures - 1, 20))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def _supervise(self) -> None:
        failures = 0
        index = 0
        while not self._stopped:
            client = self._clients[index % len(self._clients)]
            conn: LiveConnection | None = None
            forwarder: asyncio.Task[None] | None = None
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    conn = await client.connect(self.origin)
                    self.conn = conn
                    forwarder = asyncio.get_running_loop().create_task(self._forward(conn))
                    await self._resubscribe(conn)
                    for hook in tuple(self.on_connect):
                        await hook(conn)
            except _CONNECT_ERRORS as exc:
                self.failures.append(f"{client.base_url}: {exc!r}")
                if forwarder is not None:
                    forwarder.cancel()
                if conn is not None:
                    await _close(conn)
                    if conn.close_code in FINAL_CLOSE_CODES:
                        self._end(conn.close_code)
                        return
                failures += 1
                index += 1  # that node may be gone: the next address
                await asyncio.sleep(self._backoff(failures))
                continue
            self.connects += 1
            self.hello = conn.hello
            failures = 0
            self.connected.set()
            self._changed()
            assert forwarder is not None
            await forwarder  # until the socket closes and its last events are passed on
            self.connected.clear()
            self._changed()
            code = conn.close_code
            self.close_codes.append(code)
            if code in FINAL_CLOSE_CODES:
                self._end(code)
                return
            if code == SERVICE_RESTART:
                # The node is draining: come back at once (a short jitter
                # spreads a whole node's clients), on the next address.
                index += 1
                await asyncio.sleep(random.uniform(0.05, 0.25))
            else:
                failures += 1
                await asyncio.sleep(self._backoff(failures))
                if failures > 1:
                    index += 1

    def _end(self, code: int | None) -> None:
        self.ended = code
        self.connected.clear()
        self._changed()

    async def _resubscribe(self, conn: LiveConnection) -> None:
        for room, last in list(self.rooms.items()):
            try:
                reply = await conn.subscribe(room, since=last)
            except PreauError as exc:
                if exc.code not in ("not_found", "forbidden"):
                    raise  # unavailable and the like: try again on a new socket
                # Out of reach now (removed from the room, the room archived):
                # it is no longer followed; the reason is kept.
                del self.rooms[room]
                self.lost_rooms[room] = exc.code
                continue
            self._seen(room, None if last is not None else int(reply["head"]))

    async def _forward(self, conn: LiveConnection) -> None:
        """Pass this socket's events on, in order, dropping a message already shown."""
        while True:
            if conn.events.empty():
                if conn.closed.is_set():
                    return
                get = asyncio.ensure_future(conn.events.get())
                closed = asyncio.ensure_future(conn.closed.wait())
                try:
                    await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    closed.cancel()
                    if not get.done():
                        get.cancel()
                if not get.done() or get.cancelled():
                    continue
                event = get.result()
            else:
                event = conn.events.get_nowait()
            if event.get("ev") == "chat.message" and event.get("room") in self.rooms:
                room, seq = str(event["room"]), int(event["seq"])
                last = self.rooms[room]
                if last is not None and seq <= last:
                    continue  # already shown (a replay overlapping the live feed)
                self.rooms[room] = seq
            self.events.put_nowait(event)

    def _seen(self, room: str, head: int | None) -> None:
        if head is None:
            return
        last = self.rooms.get(room)
        self.rooms[room] = head if last is None else max(last, head)

    # -- requests ------------------------------------------------------------------
    async def request(self, op: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        """One request on the current socket (waiting for one). Not sent again
        if the socket closes first: that raises ``ConnectionError``, since not
        every op may be repeated safely. Unanswered for ``timeout`` on a
        socket that still looks open: that socket is dropped (the next call
        gets a new one) and ``TimeoutError`` raised."""
        conn = await self.live(timeout)
        try:
            return await conn.request(op, timeout, **params)
        except TimeoutError:
            self._drop_if_silent(conn)
            raise

    async def subscribe(self, room: str, since: int | None = None,
                        timeout: float = 10) -> dict[str, Any]:
        """Follow ``room`` from ``since`` (else from its head), now and on every
        later socket (from the last message shown)."""
        if room not in self.rooms or since is not None:
            self.rooms[room] = since
        async with contextlib.aclosing(
                self._attempts(f"room.subscribe {room}", timeout)) as attempts:
            async for conn, wait in attempts:
                last = self.rooms[room]
                try:
                    reply = await conn.subscribe(
                        room, since=last, timeout=min(self.request_timeout_s, wait))
                except TimeoutError:
                    # Unanswered on a socket that still looks open: drop it; a
                    # subscription may be asked again, on the next one.
                    self._drop_if_silent(conn)
                    continue
                except ConnectionError:
                    continue  # the next socket subscribes it anyway; wait for it
                self._seen(room, None if last is not None else int(reply["head"]))
                return reply
        raise AssertionError("unreachable: attempts end by raising")

    async def send_message(self, room: str, body: str, txn: str | None = None, *,
                           retry_for: float = 60.0) -> dict[str, Any]:
        """Post a message; the same ``txn`` goes again on the next socket if
        this one closes before the answer, and after ``retry_after`` while the
        server answers ``unavailable`` (:meth:`LiveConnection.send_message`)."""
        txn = txn or secrets.token_hex(8)
        async with contextlib.aclosing(self._attempts(f"chat.send {txn}", retry_for)) as attempts:
            async for conn, wait in attempts:
                try:
                    return await conn.send_message(room, body, txn, retry_for=wait,
                                                   timeout=min(self.request_timeout_s, wait))
                except (ConnectionError, TimeoutError):
                    if self.ended is not None:
                        raise
                    self._drop_if_silent(conn)
                    self.resent += 1  # posted once by txn, whatever happened to the first
        raise AssertionError("unreachable: attempts end by raising")

    async def _attempts(self, what: str, budget: float
                        ) -> AsyncGenerator[tuple[LiveConnection, float], None]:
        """A socket for each attempt at ``what``, with the time left of
        ``budget`` seconds; once they are spent, ``TimeoutError``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{what} unanswered after {budget} s")
            conn = await self.live(remaining)
            yield conn, remaining

    def _drop_if_silent(self, conn: LiveConnection) -> None:
        """A request went unanswered on ``conn``: if it still looks open, it
        is a dead path or a node that stopped answering. Its keepalive would
        notice in up to 40 s; the next attempt goes on a new socket (through
        the balancer: maybe elsewhere)."""
        if _open(conn):
            self.dropped += 1
            conn.ws.transport.abort()

    async def next_event(self, name: str | None = None, timeout: float = 10) -> dict[str, Any]:
        """The next event (of kind ``name``, skipping others)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if name is None or event.get("ev") == name:
                    return event

    async def messages(self, room: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``count`` chat messages of ``room``."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            event = await self.next_event("chat.message", timeout)
            if event["room"] == room:
                found.append(event)
        return found


def _open(conn: LiveConnection) -> bool:
    """Still usable: neither marked closed by its reader nor closed under it.

    Between the transport's loss and the reader's next turn, ``closed`` is not
    set yet but a send fails at once without yielding: a retry loop that took
    that socket again would spin there and starve the event loop (until the
    send's deadline: every other task and timer of the loop stood still).
    A transport aborted here (a silent socket given up) is closing at once."""
    return (not conn.closed.is_set() and conn.ws.state is websockets.State.OPEN
            and not conn.ws.transport.is_closing())


async def _close(conn: LiveConnection) -> None:
    try:
        async with asyncio.timeout(5):
            await conn.close()
    except Exception:
        conn.ws.transport.abort()
