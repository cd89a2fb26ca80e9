"""One pipelined Redis connection for a command in the path of every message.

redis-py's client takes a pooled connection per command, wraps it in retries
and timeouts, writes it and waits for its reply alone: about 80 µs of a
node's CPU per command, which the per-post check of the send rate and the
spread window (preau/server/ratelimit/spread.py, ``take_then_add``) paid on
every message (issue 14). Here the commands of every task go over one
connection: those issued while the previous write was going out leave
together in one write, and a reader task hands each reply, in order, to the
command that waits for it (about 20 µs a command).

Faults are the caller's to handle, as with redis-py: a command raises a
``RedisError`` (``ConnectionError``, ``TimeoutError``, ``ResponseError``) and
the caller falls back (the rate limits to this node's buckets). A lost
connection fails every command in flight and is opened again by the next
command, but not before ``retry_after_s`` (each command meanwhile fails at
once instead of waiting for a connection attempt of its own); a reply that
does not come within ``reply_timeout_s`` counts as a lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class PipelinedRedis:
    """Commands from many tasks over one connection, pipelined."""

    def __init__(
        self, url: str, *, connect_timeout_s: float = 1.0, reply_timeout_s: float = 1.0,
        retry_after_s: float = 1.0,
    ) -> None:
        options: dict[str, Any] = dict(parse_url(url))
        self._connection_class: type[AbstractConnection] = options.pop(
            "connection_class", Connection)
        options.update(socket_connect_timeout=connect_timeout_s, socket_timeout=None,
                       retry=None, retry_on_error=[], health_check_interval=0, protocol=2)
        self._options = options
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.retry_after_s = retry_after_s
        self._conn: AbstractConnection | None = None
        self._connecting: asyncio.Lock | None = None
        self._failed_at = -retry_after_s - 1.0
        self._outbox: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._in_flight: deque[asyncio.Future[Any]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def call(self, *args: Any) -> Any:
        """Send one command; its reply (bytes not decoded), or a ``RedisError``."""
        if self._closed:
            raise RedisConnectionError("this Redis client is closed")
        if self._conn is None:
            await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outbox.append((args, future))
        self._wake.set()
        try:
            async with asyncio.timeout(self.reply_timeout_s):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            late = RedisTimeoutError(f"no reply from Redis within {self.reply_timeout_s} s")
            if not future.done():  # Redis hangs: the connection is given up
                self._lost(late)
            raise late from exc

    def script(self, lua: str) -> Callable[[list[str], list[Any]], Awaitable[Any]]:
        """A Lua script run by its SHA1 (``EVALSHA``), loaded again by ``EVAL``
        when Redis does not know it (a restart, ``SCRIPT FLUSH``)."""
        sha = hashlib.sha1(lua.encode()).hexdigest()  # Redis names scripts so

        async def run(keys: list[str], args: list[Any]) -> Any:
            try:
                return await self.call("EVALSHA", sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self.call("EVAL", lua, len(keys), *keys, *args)

        return run

    async def close(self) -> None:
        self._closed = True
        self._lost(RedisConnectionError("this Redis client is closed"))
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the connection -------------------------------------------------------
    async def _connect(self) -> None:
        if time.monotonic() - self._failed_at < self.retry_after_s:
            raise RedisConnectionError("Redis unreachable a moment ago: not retried yet")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._conn is not None:
                return
            if time.monotonic() - self._failed_at < self.retry_after_s:
                raise RedisConnectionError("Redis unreachable a moment ago: not retried yet")
            conn = self._connection_class(**self._options)
            try:
                # The handshake too (HELLO, AUTH, SELECT) within the deadline.
                async with asyncio.timeout(self.connect_timeout_s + self.reply_timeout_s):
                    connect: Callable[[], Awaitable[None]] = conn.connect
                    await connect()
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed_at = time.monotonic()
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
                if isinstance(exc, RedisError):
                    raise
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            if self._closed:
                await conn.disconnect(nowait=True)
                raise RedisConnectionError("this Redis client is closed")
            self._conn = conn
            loop = asyncio.get_running_loop()
            self._tasks = [t for t in self._tasks if not t.done()]
            self._tasks += [loop.create_task(self._write(conn)),
                            loop.create_task(self._read(conn))]

    async def _write(self, conn: AbstractConnection) -> None:
        """Send what is queued, all of it in one write, until the connection goes."""
        while self._conn is conn:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._outbox = self._outbox, []
            self._in_flight.extend(future for _, future in batch)
            try:
                await conn.send_packed_command(
                    conn.pack_commands([args for args, _ in batch]), check_health=False)
            except (RedisError, OSError) as exc:
                self._lost(exc, conn)
                return

    async def _read(self, conn: AbstractConnection) -> None:
        """Hand each reply to the oldest command in flight."""
        while self._conn is conn:
            try:
                reply = await conn.read_response(disable_decoding=True)
            except ResponseError as exc:  # an error reply: that command's
                reply = exc
            except (RedisError, OSError, asyncio.IncompleteReadError) as exc:
                self._lost(exc, conn)
                return
            if not self._in_flight:  # cannot happen: a reply nobody asked for
                self._lost(RedisConnectionError("a reply from Redis out of turn"), conn)
                return
            future = self._in_flight.popleft()
            if future.done():
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def _lost(self, exc: BaseException, conn: AbstractConnection | None = None) -> None:
        """The connection failed (or timed out): fail what waits, drop it."""
        if conn is not None and conn is not self._conn:
            return  # an older connection's task, already replaced
        lost, self._conn = self._conn, None
        if lost is not None and not self._closed:
            self._failed_at = time.monotonic()
        error = exc if isinstance(exc, RedisError) else RedisConnectionError(str(exc) or
                                                                            type(exc).__name__)
        waiting = [*self._in_flight, *(future for _, future in self._outbox)]
        self._in_flight.clear()
        self._outbox = []
        for future in waiting:
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a caller may have timed out meanwhile
        self._wake.set()  # the writer sees the connection is gone
        if lost is not None:
            task = asyncio.get_running_loop().create_task(lost.disconnect(nowait=True))
            self._tasks.append(task)
