"""Redis pub/sub broker: the nodes of a deployment share one Redis.

The shape on the wire:

- one Redis channel per broker channel, named by the caller (``room.<id>``,
  ``control.sessions``…): a node subscribes only to what its own sockets
  need, so it never decodes another room's traffic;
- **one** pub/sub connection per node, multiplexing all its channels: the
  first local :class:`RedisSubscription` of a channel sends ``SUBSCRIBE``, the
  last one to close sends ``UNSUBSCRIBE``; a reader task dispatches every
  message to the bounded buffers of the channel's local subscriptions;
- one more connection per node for publishing: ``publish()`` only queues, and
  a publisher task sends what is queued as one pipeline of ``PUBLISH``
  commands per round trip, so a burst costs one round trip, not one per
  message;
- every payload starts with the publishing node's id, as
  ``<length byte><node id bytes><payload>`` (binary, no re-encoding of the
  payload), so a node drops its own echoes without decoding anything.

Faults. The pair of connections is one *link*. It is declared lost when the
reader or the publisher gets an error, or when the pub/sub connection stays
silent through a health check (a ``PING`` unanswered for
``health_check_interval_s``: a peer that vanished without closing the TCP
connection). Then the broker reconnects with exponential backoff and jitter
(``backoff_base_s`` doubling up to ``backoff_cap_s``), subscribes every
channel again and, once Redis has confirmed it, calls every ``on_resync``
listener once: what was published meanwhile is gone, the store is the source
of truth. While the link is down ``healthy()`` is False, subscriptions stay
open (they simply receive nothing), and ``publish()`` never raises: messages
wait in a bounded outbox (``outbox_size``; past it the oldest is dropped and
counted in ``publish_dropped``) and are sent once the link is back. A node
too slow to read what Redis sends it is disconnected by Redis itself (its
``client-output-buffer-limit pubsub``): to the node, that is a lost link too.

A batch whose replies did not all come back before the link failed is put
back at the head of the outbox and sent again after the reconnection, minus
the messages whose reply did come back. Redis may have processed some of the
others before the failure, so after such a fault a message can arrive twice:
receivers must tolerate it (the hub drops sequence numbers it has already
delivered; ephemeral and control events are idempotent). Losing them instead
would lose session revocations published during a Redis restart.

Not supported: Redis Cluster's sharded pub/sub (``SSUBSCRIBE``); a single
Redis (or a primary behind a proxy that forwards pub/sub) is expected.

Longer than ~600 lines on purpose: one connection's life (connect, serve,
lose, reconnect and resync) with its outbox and subscriptions is one state
machine over the same two connections; its invariants (what is resent after
a loss, what is resubscribed, when listeners hear of a resync) are read and
checked together, and the fault tests (tests/multinode/test_faults.py,
tests/server/broker/) exercise it as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.exceptions import RedisError, ResponseError

from preau.server import metrics
from preau.server.broker.buffer import BufferedSubscription
from preau.server.log_records import RetryLog

log = logging.getLogger(__name__)

# Commands per pipeline and bytes per pipeline: big enough to amortise the
# round trip, small enough not to stall Redis (or our reader) on one batch.
BATCH_MAX = 512
BATCH_BYTES = 1 << 20
# The longest the resync hooks hold a node's relays after a reconnection.
RESYNC_HOLD_MAX_S = 10.0
# Channels per SUBSCRIBE when resubscribing after a reconnection.
SUBSCRIBE_CHUNK = 1000
_HEALTH_TOKEN = b"preau-health"
DROP_LOG_INTERVAL_S = 10.0

Listener = Callable[[], Awaitable[None]]


class RedisSubscription(BufferedSubscription):
    """One local subscriber of a channel: a bounded buffer the reader fills.

    Becomes *active* once Redis has confirmed that the node listens to the
    channel (a round trip after ``subscribe`` was called): messages Redis
    handled before that are not delivered to it.
    """

    def __init__(self, broker: RedisBroker, channel: str, key: bytes, maxsize: int) -> None:
        super().__init__(channel, maxsize, broker.count_drop)
        self._key = key
        self._broker = broker
        self.active = False

    async def close(self) -> None:
        if self.end():
            await self._broker._release(self)


class _Link:
    """The two connections of one connected period, and the tasks serving them."""

    def __init__(self, sub: AbstractConnection, pub: AbstractConnection) -> None:
        loop = asyncio.get_running_loop()
        self.sub = sub
        self.pub = pub
        self.failed: asyncio.Future[BaseException] = loop.create_future()
        self.tasks: list[asyncio.Task[None]] = []
        self.last_frame = loop.time()
        self.writable = True
        # Writes on the pub/sub connection come from several tasks (subscribe,
        # close, health check); asyncio.Lock is FIFO, so commands reach Redis
        # in the order they were issued.
        self.write_lock = asyncio.Lock()

    def fail(self, exc: BaseException) -> None:
        if not self.failed.done():
            self.failed.set_result(exc)


class RedisBroker:
    """The Broker (preau/server/broker/__init__.py) over Redis pub/sub.

    Guarantees, on top of the Broker Protocol's:

    - a message is *published* when the node's publisher task sends it, normally
      within one round trip of ``publish()`` returning; "a subscriber receives
      only messages published after ``subscribe`` returned" is measured at
      Redis: ``flush()`` waits until what was queued has been sent;
    - at most once, except that after a link failure a message whose reply was
      lost is sent again (see the module docstring): it may then arrive twice;
    - ``publish()`` never blocks on Redis and never raises for a Redis fault;
      the outbox is bounded (``publish_dropped`` counts what it dropped);
    - a subscriber's buffer is bounded (``dropped`` counts its overflow): a
      slow subscriber never blocks the reader, the other subscribers or Redis;
    - after a lost link, every ``on_resync`` listener is called exactly once,
      after every channel is subscribed again.

    The broker connects on first use (it needs a running event loop);
    ``subscribe`` and ``healthy`` wait for the first connection attempt.
    """

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        buffer_size: int = 10_000,
        outbox_size: int = 10_000,
        health_check_interval_s: float = 3.0,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 3.0,
        connect_timeout_s: float = 2.0,
        reply_timeout_s: float = 5.0,
        close_flush_s: float = 1.0,
    ) -> None:
        tag = node_id.encode()
        if not 0 < len(tag) < 256:
            raise ValueError("node_id must be 1 to 255 bytes long in UTF-8")
        self.node_id = node_id
        self._tag = bytes([len(tag)]) + tag
        # redis://, rediss:// (TLS), unix://, ?db=, credentials. Parsed once,
        # here, so a bad URL fails at start-up. No pool: the broker owns its
        # two connections.
        options: dict[str, Any] = dict(parse_url(url))
        self._connection_class: type[AbstractConnection] = options.pop(
            "connection_class", Connection
        )
        self._options = options
        self.buffer_size = buffer_size
        self.outbox_size = outbox_size
        self.health_check_interval_s = health_check_interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.close_flush_s = close_flush_s
        self.dropped = 0
        self.publish_dropped = 0
        self.reconnections = 0
        self.received = 0  # messages read from Redis…
        self.echoes = 0  # …that this node had published itself
        self.unrouted = 0  # …for channels no local socket followed any more
        self._drop_logged_at = -DROP_LOG_INTERVAL_S

        self._subs: dict[bytes, set[RedisSubscription]] = {}
        self._outbox: deque[tuple[bytes, bytes]] = deque()
        self._outbox_ready = asyncio.Event()
        self._idle = asyncio.Event()  # outbox empty and nothing in flight
        self._idle.set()
        self._barriers: dict[bytes, tuple[list[RedisSubscription], asyncio.Future[None]]] = {}
        self._tokens = itertools.count()
        self._listeners: list[Listener] = []
        self._resyncing_hooks: list[tuple[Callable[[], None], Callable[[], None]]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._link: _Link | None = None
        self._healthy = False
        self._first_attempt = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        name = re.sub(r"[^A-Za-z0-9._:-]", "_", node_id)
        self._client_names = (f"preau-sub-{name}", f"preau-pub-{name}")

    # -- Broker interface ------------------------------------------------------
    async def publish(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` for ``channel`` and return at once."""
        if self._closed:
            log.debug("broker closed: message for %s dropped", channel)
            return
        self._start()
        if len(self._outbox) >= self.outbox_size:
            self._outbox.popleft()
            self._count_publish_drop(1)
        self._outbox.append((channel.encode(), self._tag + payload))
        metrics.BROKER_PUBLISHED.inc()
        self._idle.clear()
        self._outbox_ready.set()

    async def subscribe(self, channel: str) -> RedisSubscription:
        """A new subscription, active once Redis confirmed the node listens.

        While the link is down it returns at once: the channel is subscribed
        when the link is back (and ``on_resync`` listeners are called then).
        """
        if self._closed:
            raise RuntimeError("the broker is closed")
        self._start()
        await self._first_attempt.wait()
        key = channel.encode()
        sub = RedisSubscription(self, channel, key, self.buffer_size)
        local = self._subs.setdefault(key, set())
        first = not local
        local.add(sub)
        link = self._link
        if link is None or not link.writable:
            sub.active = True
            return sub
        # SUBSCRIBE (for the first local interest) then a PING: the PONG comes
        # back after the subscription is in force, and activates ``sub``.
        commands: list[tuple[bytes, ...]] = [(b"SUBSCRIBE", key)] if first else []
        try:
            await self._barrier(link, commands, [sub])
        except BaseException:
            await sub.close()
            raise
        return sub

    async def close(self) -> None:
        """Flush the outbox (briefly, if Redis is reachable), end every
        subscription, disconnect."""
        if self._closed:
            return
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_if_reachable(), self.close_flush_s)
        self._closed = True
        for local in self._subs.values():
            for sub in local:
                sub.end()
        self._subs.clear()
        tasks = [*self._background]
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Nobody may wait for a connection or a flush any more.
        self._first_attempt.set()
        self._idle.set()

    async def _flush_if_reachable(self) -> None:
        # A short-lived process (a ``preau`` command) may publish before its
        # first connection is made: wait for that attempt, not for an outage.
        await self._first_attempt.wait()
        if self._healthy:
            await self._idle.wait()

    def on_resync(self, listener: Listener) -> None:
        """Call ``listener()`` once after each recovery of a lost link.

        It runs in its own task, after every channel is subscribed again; an
        exception it raises is logged.
        """
        self._listeners.append(listener)

    def while_resyncing(self, begin: Callable[[], None], end: Callable[[], None]) -> None:
        """``begin()`` before a lost link's channels are subscribed again,
        ``end()`` once every ``on_resync`` listener returned (or the new link
        failed before it was ready)."""
        self._resyncing_hooks.append((begin, end))

    def count_drop(self) -> None:
        self.dropped += 1
        metrics.BROKER_DROPPED_IN.inc()

    def stats(self) -> dict[str, int]:
        return {
            "received": self.received,
            "echoes": self.echoes,
            "unrouted": self.unrouted,
            "dropped": self.dropped,
            "publish_dropped": self.publish_dropped,
            "reconnections": self.reconnections,
            "channels": len(self._subs),
        }

    @property
    def connected(self) -> bool:
        """The link is up (read at scrape time by ``preau_broker_up``)."""
        return self._healthy and not self._closed

    async def healthy(self) -> bool:
        """True while connected to Redis with every channel subscribed."""
        if self._closed:
            return False
        self._start()
        await self._first_attempt.wait()
        return self._healthy

    # -- beyond the Protocol -----------------------------------------------
    async def flush(self) -> None:
        """Wait until every message queued so far has been sent and acknowledged.

        While the link is down this waits for it to come back (or for
        ``close()``); wrap it in ``asyncio.wait_for`` for a deadline.
        """
        await self._idle.wait()

    async def sync(self) -> None:
        """Wait until every message Redis sent this node so far is in the buffers.

        A PING round trip on the pub/sub connection; returns at once while the
        link is down.
        """
        link = self._link
        if link is not None and link.writable:
            await self._barrier(link, [], [])

    # -- subscriptions -----------------------------------------------------
    async def _release(self, sub: RedisSubscription) -> None:
        local = self._subs.get(sub._key)
        if local is None or sub not in local:
            return
        local.discard(sub)
        if local:
            return
        del self._subs[sub._key]
        link = self._link
        if link is not None and link.writable:
            await self._write(link, [(b"UNSUBSCRIBE", sub._key)])

    async def _barrier(
        self, link: _Link, commands: list[tuple[bytes, ...]], subs: list[RedisSubscription]
    ) -> None:
        """Send ``commands`` then a PING; when its PONG is read, activate ``subs``.

        Returns after the PONG, or after the link failed (the teardown
        activates the waiting subscriptions: they will be subscribed again).
        """
        token = b"preau-%d" % next(self._tokens)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers[token] = (subs, done)
        await self._write(link, [*commands, (b"PING", token)])
        await done

    async def _write(self, link: _Link, commands: Sequence[tuple[bytes, ...]]) -> None:
        """Send commands on the pub/sub connection; a failure fails the link."""
        async with link.write_lock:
            # Checked under the lock: redis-py would silently reconnect a
            # connection it has closed, outside our resubscription logic.
            if not link.writable or not link.sub.is_connected:
                return
            try:
                await link.sub.send_packed_command(
                    link.sub.pack_commands(commands), check_health=False
                )
            except (RedisError, OSError) as exc:
                link.fail(exc)

    def _resolve_barriers(self, token: bytes | None) -> None:
        """Resolve barrier ``token``, or every pending one when None (teardown)."""
        if token is None:
            pending = list(self._barriers.values())
            self._barriers.clear()
        else:
            entry = self._barriers.pop(token, None)
            if entry is None:
                return
            pending = [entry]
        for subs, done in pending:
            for sub in subs:
                sub.active = True
            if not done.done():  # the waiter may have been cancelled
                done.set_result(None)

    # -- the link's tasks ----------------------------------------------------
    async def _read(self, link: _Link) -> None:
        conn = link.sub
        loop = asyncio.get_running_loop()
        while True:
            frame: Any = await conn.read_response()
            link.last_frame = loop.time()
            if isinstance(frame, list) and frame:
                kind = frame[0]
                if kind == b"message":
                    self._dispatch(frame[1], frame[2])
                elif kind == b"pong":
                    self._resolve_barriers(frame[1])
                # subscribe / unsubscribe confirmations: the barrier's PONG
                # after them is what callers wait for.
            elif isinstance(frame, bytes):
                # A PING answer while the connection has no subscription at
                # all: a plain bulk string.
                self._resolve_barriers(frame)

    def _dispatch(self, key: bytes, payload: bytes) -> None:
        self.received += 1
        metrics.BROKER_RECEIVED.inc()
        local = self._subs.get(key)
        if not local:  # a message in flight while we unsubscribed: wasted work
            self.unrouted += 1
            return
        if payload.startswith(self._tag):  # our own echo: delivered locally already
            self.echoes += 1
            return
        if not payload or len(payload) < 1 + payload[0]:
            log.warning("message without a node tag on %r dropped", key)
            return
        data = payload[1 + payload[0]:]
        for sub in local:
            if sub.active:
                sub.offer(data)

    async def _publish(self, link: _Link) -> None:
        conn = link.pub
        while True:
            if not self._outbox:
                self._idle.set()
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            batch: list[tuple[bytes, bytes]] = []
            size = 0
            while self._outbox and len(batch) < BATCH_MAX and size < BATCH_BYTES:
                item = self._outbox.popleft()
                batch.append(item)
                size += len(item[1])
            confirmed = 0
            try:
                await conn.send_packed_command(
                    conn.pack_commands((b"PUBLISH", ch, data) for ch, data in batch),
                    check_health=False,
                )
                for _ in batch:
                    try:
                        await conn.read_response()
                    except ResponseError as exc:  # refused (OOM…): lost, not retried
                        log.error("Redis refused a PUBLISH: %s", exc)
                    confirmed += 1
            finally:
                if confirmed < len(batch):
                    self._requeue(batch[confirmed:])

    def _requeue(self, items: list[tuple[bytes, bytes]]) -> None:
        """Put unconfirmed messages back at the head of the outbox, in order."""
        self._outbox.extendleft(reversed(items))
        excess = len(self._outbox) - self.outbox_size
        for _ in range(max(0, excess)):
            self._outbox.popleft()  # the oldest go first, as in publish()
        if excess > 0:
            self._count_publish_drop(excess)

    def _count_publish_drop(self, n: int) -> None:
        self.publish_dropped += n
        metrics.BROKER_DROPPED_OUT.inc(n)
        # One line per episode, not one per message.
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_INTERVAL_S:
            self._drop_logged_at = now
            log.warning("broker outbox full (%d messages): oldest dropped, %d so far",
                        self.outbox_size, self.publish_dropped)

    async def _check_health(self, link: _Link) -> None:
        """Fail the link when the pub/sub connection stays silent through a PING."""
        loop = asyncio.get_running_loop()
        interval = self.health_check_interval_s
        while True:
            await asyncio.sleep(interval)
            if loop.time() - link.last_frame < interval:
                continue  # traffic: the connection is alive
            sent = loop.time()
            await self._write(link, [(b"PING", _HEALTH_TOKEN)])
            await asyncio.sleep(interval)
            if link.last_frame < sent:
                raise ConnectionError(f"no answer from Redis to a PING within {interval} s")

    # -- connection lifecycle ----------------------------------------------
    def _start(self) -> None:
        if self._supervisor is None and not self._closed:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def _connection(self, name: str, reply_timeout_s: float | None) -> AbstractConnection:
        kwargs = dict(self._options)
        kwargs.update(
            client_name=name,
            # Our own PINGs watch the connection; the pub/sub reader waits
            # for messages as long as it takes.
            socket_timeout=reply_timeout_s,
            socket_connect_timeout=self.connect_timeout_s,
            socket_keepalive=True,
            health_check_interval=0,
            retry=None,  # no hidden reconnection: the supervisor does it
            retry_on_error=[],
            protocol=2,  # pub/sub messages as plain arrays, not RESP3 pushes
        )
        return self._connection_class(**kwargs)

    async def _open(self) -> _Link:
        sub_name, pub_name = self._client_names
        sub = self._connection(sub_name, None)
        pub = self._connection(pub_name, self.reply_timeout_s)
        try:
            # The deadline covers the handshake too (HELLO, AUTH, SELECT): a
            # server that accepts connections but never answers must not hang
            # the pub/sub connection, which has no read timeout.
            async with asyncio.timeout(self.connect_timeout_s + self.reply_timeout_s):
                for conn in (sub, pub):
                    # AbstractConnection.connect() is not annotated in redis-py.
                    connect: Callable[[], Awaitable[None]] = conn.connect
                    await connect()
        except BaseException:
            await _disconnect(sub, pub)
            raise
        return _Link(sub, pub)

    def _spawn(self, link: _Link, work: Awaitable[None], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                link.fail(exc)
            except Exception as exc:  # a bug: say so loudly, then recover the same way
                log.exception("broker %s task failed", what)
                link.fail(exc)

        link.tasks.append(asyncio.get_running_loop().create_task(run()))

    async def _supervise(self) -> None:
        """Connect, serve, and reconnect after every failure, until closed."""
        failures = 0
        owed = False  # a resync is owed once we are connected again
        retries = RetryLog(log, "connecting to Redis")
        try:
            while True:
                try:
                    link = await self._open()
                except Exception as exc:
                    failures += 1
                    owed = True
                    self._first_attempt.set()
                    delay = self._backoff(failures)
                    # One line per failed attempt (the backoff spaces them
                    # out); a traceback only for what is not a Redis outage.
                    retries.failed(exc, delay)
                    await asyncio.sleep(delay)
                    continue
                retries.succeeded()
                if await self._serve(link, owed):
                    failures = 0
                owed = True
                failures += 1
                await asyncio.sleep(self._backoff(failures))
        finally:
            if self._link is not None:
                await self._teardown(self._link)

    async def _serve(self, link: _Link, owed: bool) -> bool:
        """Serve one connected period until the link fails; True if it got healthy."""
        self._link = link
        if owed:
            # Before any message of the new link: what arrives until the
            # resync listeners are done may rest on state the outage kept stale.
            self._begin_resync()
        self._spawn(link, self._read(link), "reader")
        self._spawn(link, self._publish(link), "publisher")
        self._spawn(link, self._check_health(link), "health check")
        channels = list(self._subs)
        commands: list[tuple[bytes, ...]] = [
            (b"SUBSCRIBE", *channels[i:i + SUBSCRIBE_CHUNK])
            for i in range(0, len(channels), SUBSCRIBE_CHUNK)
        ]
        resubscribed = asyncio.ensure_future(self._barrier(link, commands, []))
        try:
            either: list[asyncio.Future[Any]] = [resubscribed, link.failed]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            healthy = not link.failed.done()
            if healthy:
                self._healthy = True
                if owed:
                    self.reconnections += 1
                    metrics.BROKER_RECONNECTIONS.inc()
                    log.info("Redis link back: %d channels subscribed again", len(channels))
                    self._resync()
            elif owed:
                self._end_resync()  # lost again before it was ready
            self._first_attempt.set()
            log.warning("Redis link lost: %s", _describe(await link.failed))
            return healthy
        finally:
            await self._teardown(link)
            resubscribed.cancel()
            await asyncio.gather(resubscribed, return_exceptions=True)

    async def _teardown(self, link: _Link) -> None:
        # Synchronously first: nothing may be written on the link from now
        # on, and whoever waits for a PONG is released.
        link.writable = False
        self._healthy = False
        if self._link is link:
            self._link = None
        self._resolve_barriers(None)
        for task in link.tasks:
            task.cancel()
        await asyncio.gather(*link.tasks, return_exceptions=True)
        await _disconnect(link.sub, link.pub)

    def _backoff(self, failures: int) -> float:
        """Exponential with jitter: half fixed, half random, so nodes spread out."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** min(failures - 1, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _resync(self) -> None:
        loop = asyncio.get_running_loop()
        listeners = [loop.create_task(_call_listener(listener)) for listener in self._listeners]

        async def all_done() -> None:
            try:
                # Bounded: a listener stuck on an unreachable store must not
                # hold the node's relays for ever.
                late: set[asyncio.Task[None]] = set()
                if listeners:
                    _, late = await asyncio.wait(listeners, timeout=RESYNC_HOLD_MAX_S)
                if late:
                    log.warning("broker resync: %d listeners still running after %.0f s,"
                                " relays released", len(late), RESYNC_HOLD_MAX_S)
            finally:
                self._end_resync()

        for task in (*listeners, loop.create_task(all_done())):
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _begin_resync(self) -> None:
        for begin, _ in self._resyncing_hooks:
            try:
                begin()
            except Exception:
                log.exception("broker resync hook failed")

    def _end_resync(self) -> None:
        for _, end in self._resyncing_hooks:
            try:
                end()
            except Exception:
                log.exception("broker resync hook failed")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _call_listener(listener: Listener) -> None:
    try:
        await listener()
    except Exception:
        log.exception("broker resync listener failed")


async def _disconnect(*conns: AbstractConnection) -> None:
    for conn in conns:
        with contextlib.suppress(Exception):
            # nowait: a dead peer must not keep us waiting for the close.
            await conn.disconnect(nowait=True)
