"""What only the Redis broker has: the wire format, its connections, and its faults.

The shared behaviour is in test_contract.py. Here: the node tag on the wire,
one pub/sub connection per node, UNSUBSCRIBE when interest disappears, and
Redis going away (restarted, never there at start, silent) with the recovery
each time: healthy() False then True, ``on_resync`` once, subscriptions
working again, and what was published meanwhile sent after the reconnection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from preau.server.broker import Subscription
from preau.server.broker.factory import open_broker
from preau.server.broker.redis import RedisBroker
from tests.server.broker.reader import Reader
from tests.services import RedisServer

pytestmark = pytest.mark.redis

TIMEOUT_S = 3.0


class Node:
    """A RedisBroker with what the tests look at: its resyncs, and a gate on reconnecting."""

    def __init__(self, url: str, node_id: str, **options: float) -> None:
        self.broker = RedisBroker(url, node_id, backoff_base_s=0.02, backoff_cap_s=0.2, **options)
        self.resyncs = 0
        self.broker.on_resync(self._on_resync)
        self._gate: asyncio.Event | None = None

    async def _on_resync(self) -> None:
        self.resyncs += 1

    def hold_reconnection(self) -> asyncio.Event:
        """Make the node wait for the returned event before its next connection attempt.

        Two nodes reconnect on their own schedules; a test that needs one
        node subscribed again before the other flushes its outbox holds the
        second one back.
        """
        gate = self._gate = asyncio.Event()
        real_open = self.broker._open

        async def gated_open() -> object:
            await gate.wait()
            return await real_open()

        self.broker._open = gated_open  # type: ignore[method-assign,assignment]
        return gate


@pytest.fixture
async def nodes() -> AsyncIterator[Callable[..., Node]]:
    opened: list[Node] = []

    def open_node(url: str, node_id: str, **options: float) -> Node:
        node = Node(url, node_id, **options)
        opened.append(node)
        return node

    yield open_node
    for node in opened:
        await node.broker.close()


@pytest.fixture
async def raw(redis_clean_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client on the session's Redis, to look from outside."""
    client = aioredis.Redis.from_url(redis_clean_url)
    yield client
    await client.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.01)


async def is_down(broker: RedisBroker) -> bool:
    return not await broker.healthy()


# -- the wire ------------------------------------------------------------------


async def test_payloads_are_tagged_with_the_node_id(
    redis_clean_url: str, raw: aioredis.Redis, nodes: Callable[..., Node], readers: Callable[
        [Subscription], Reader]
) -> None:
    a = nodes(redis_clean_url, "node-a").broker
    b = nodes(redis_clean_url, "node-b").broker
    on_a = readers(await a.subscribe("room.1"))
    on_b = readers(await b.subscribe("room.1"))
    async with raw.pubsub() as outside:
        await outside.subscribe("room.1")
        assert (await outside.get_message(timeout=TIMEOUT_S) or {})["type"] == "subscribe"
        await a.publish("room.1", b"\x00payload")
        message = await outside.get_message(timeout=TIMEOUT_S)
        assert message is not None
        # Length byte, node id, then the payload as it was: no re-encoding.
        assert message["data"] == b"\x06node-a\x00payload"
    assert await on_b.next() == b"\x00payload"
    # Another publisher's message reaches a; a never got its own back.
    await raw.publish("room.1", b"\x06node-z" + b"from-z")
    await raw.publish("room.1", b"\x06node-a" + b"looks-like-mine")  # dropped as an echo
    await raw.publish("room.1", b"\x09short")  # no room for the tag it announces: dropped
    await b.publish("room.1", b"from-b")
    assert await on_a.next() == b"from-z"
    assert await on_a.next() == b"from-b"


async def test_one_pubsub_connection_per_node_whatever_the_channel_count(
    redis_clean_url: str, raw: aioredis.Redis, nodes: Callable[..., Node]
) -> None:
    a = nodes(redis_clean_url, "node-a").broker
    b = nodes(redis_clean_url, "node-b").broker
    channels = [f"room.{i}" for i in range(50)]
    for channel in channels:
        await a.subscribe(channel)
        await b.subscribe(channel)
    await b.subscribe("room.0")  # a second local subscriber adds nothing on Redis
    clients = await raw.client_list()
    for node in ("node-a", "node-b"):
        subscribers = [c for c in clients if c["name"] == f"preau-sub-{node}"]
        assert len(subscribers) == 1
        assert subscribers[0]["sub"] == "50"
        # Publishing goes through one other connection, not a pool.
        assert len([c for c in clients if c["name"] == f"preau-pub-{node}"]) == 1
    assert await raw.pubsub_numsub(*channels) == [(c.encode(), 2) for c in channels]


async def test_unsubscribe_when_the_last_local_subscription_closes(
    redis_clean_url: str, raw: aioredis.Redis, nodes: Callable[..., Node]
) -> None:
    b = nodes(redis_clean_url, "node-b").broker

    async def channels() -> set[bytes]:
        await b.sync()  # after the UNSUBSCRIBE that close() sent, on the same connection
        return set(await raw.pubsub_channels())

    one, two = await b.subscribe("room.1"), await b.subscribe("room.1")
    other = await b.subscribe("room.2")
    assert await channels() == {b"room.1", b"room.2"}
    await one.close()
    assert await channels() == {b"room.1", b"room.2"}  # ``two`` still wants it
    await two.close()
    assert await channels() == {b"room.2"}
    again = await b.subscribe("room.1")
    assert await channels() == {b"room.1", b"room.2"}
    await again.close()
    await other.close()
    assert await channels() == set()


async def test_open_broker_chooses_redis_from_the_url(redis_clean_url: str) -> None:
    broker = open_broker(redis_clean_url, "node-a")
    assert isinstance(broker, RedisBroker)
    assert await broker.healthy()
    await broker.close()
    assert not await broker.healthy()
    with pytest.raises(ValueError, match="node_id"):
        RedisBroker(redis_clean_url, "")
    with pytest.raises(ValueError, match="scheme"):
        open_broker("amqp://localhost", "node-a")


# -- faults --------------------------------------------------------------------


async def test_redis_restarted_mid_stream(
    own_redis: RedisServer, nodes: Callable[..., Node], readers: Callable[
        [Subscription], Reader]
) -> None:
    a, b = nodes(own_redis.url, "node-a"), nodes(own_redis.url, "node-b")
    on_a = readers(await a.broker.subscribe("room.1"))
    on_b = readers(await b.broker.subscribe("room.1"))
    await a.broker.publish("room.1", b"before")
    assert await on_b.next() == b"before"
    assert (a.resyncs, b.resyncs) == (0, 0)  # the first connection is no recovery

    gate = a.hold_reconnection()
    own_redis.stop()
    await eventually(lambda: is_down(a.broker), "node a sees Redis gone")
    await eventually(lambda: is_down(b.broker), "node b sees Redis gone")
    for i in range(3):  # never raises, never blocks
        await asyncio.wait_for(a.broker.publish("room.1", f"while-down-{i}".encode()), 0.1)

    own_redis.start()
    await eventually(b.broker.healthy, "node b reconnected")
    await eventually(lambda: asyncio.sleep(0, b.resyncs == 1), "node b resynced")
    gate.set()  # b listens again: now let a reconnect and flush its outbox
    await eventually(a.broker.healthy, "node a reconnected")
    for i in range(3):
        assert await on_b.next() == f"while-down-{i}".encode()

    # Subscriptions opened before the restart work in both directions, and
    # new ones too.
    await b.broker.publish("room.1", b"after")
    assert await on_a.next() == b"after"
    on_b2 = readers(await b.broker.subscribe("room.2"))
    await a.broker.publish("room.2", b"new-channel")
    assert await on_b2.next() == b"new-channel"
    await a.broker.sync()
    await b.broker.sync()
    assert (a.resyncs, b.resyncs) == (1, 1)
    assert a.broker.publish_dropped == 0


async def test_the_outbox_is_bounded_while_redis_is_down(
    own_redis: RedisServer, nodes: Callable[..., Node], readers: Callable[
        [Subscription], Reader]
) -> None:
    a = nodes(own_redis.url, "node-a", outbox_size=5)
    b = nodes(own_redis.url, "node-b")
    on_b = readers(await b.broker.subscribe("room.1"))
    assert await a.broker.healthy()
    gate = a.hold_reconnection()
    own_redis.stop()
    await eventually(lambda: is_down(a.broker), "node a sees Redis gone")
    for i in range(8):
        await a.broker.publish("room.1", f"m{i}".encode())
    assert a.broker.publish_dropped == 3  # the oldest went
    own_redis.start()
    await eventually(b.broker.healthy, "node b reconnected")
    gate.set()
    for i in range(3, 8):
        assert await on_b.next() == f"m{i}".encode()


async def test_starting_while_redis_is_down(
    own_redis: RedisServer, nodes: Callable[..., Node], readers: Callable[
        [Subscription], Reader]
) -> None:
    b = nodes(own_redis.url, "node-b")
    own_redis.stop()
    a = nodes(own_redis.url, "node-a")
    assert not await a.broker.healthy()
    # Subscribing and publishing work (they take effect once connected).
    on_a = readers(await a.broker.subscribe("room.1"))
    await a.broker.publish("room.1", b"queued")
    own_redis.start()
    await eventually(a.broker.healthy, "node a connected")
    await eventually(b.broker.healthy, "node b connected")
    await b.broker.publish("room.1", b"hello")
    assert await on_a.next() == b"hello"
    # Its channel was subscribed late: the node was told to resync, once.
    assert a.resyncs == 1


async def test_a_silent_redis_fails_the_health_check(
    own_redis: RedisServer, nodes: Callable[..., Node], readers: Callable[
        [Subscription], Reader]
) -> None:
    # CLIENT PAUSE makes Redis keep every connection open but answer nothing:
    # what a vanished peer looks like before TCP notices.
    options = {"health_check_interval_s": 0.2, "connect_timeout_s": 0.2, "reply_timeout_s": 0.3}
    a, b = nodes(own_redis.url, "node-a", **options), nodes(own_redis.url, "node-b", **options)
    on_b = readers(await b.broker.subscribe("room.1"))
    assert await a.broker.healthy()
    client = aioredis.Redis.from_url(own_redis.url)
    try:
        await client.execute_command("CLIENT", "PAUSE", "1000", "ALL")
    finally:
        await client.aclose()
    await eventually(lambda: is_down(b.broker), "node b's health check failed")
    await eventually(b.broker.healthy, "node b reconnected after the pause")
    await eventually(a.broker.healthy, "node a reconnected after the pause")
    assert b.resyncs == 1
    await a.broker.publish("room.1", b"after-pause")
    assert await on_b.next() == b"after-pause"


async def test_close_while_redis_is_down_is_prompt(
    own_redis: RedisServer, nodes: Callable[..., Node]
) -> None:
    a = nodes(own_redis.url, "node-a")
    sub = await a.broker.subscribe("room.1")
    own_redis.stop()
    await eventually(lambda: is_down(a.broker), "node a sees Redis gone")
    await a.broker.publish("room.1", b"never-sent")
    await asyncio.wait_for(a.broker.close(), 1.0)
    assert [m async for m in sub] == []  # ended
    await a.broker.publish("room.1", b"after-close")  # ignored, no error
    with pytest.raises(RuntimeError):
        await a.broker.subscribe("room.1")


async def test_a_failing_resync_listener_is_logged_and_the_others_still_run(
    own_redis: RedisServer, nodes: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    a = nodes(own_redis.url, "node-a")

    async def broken() -> None:
        raise RuntimeError("listener bug")

    a.broker.on_resync(broken)
    assert await a.broker.healthy()
    own_redis.restart()
    await eventually(lambda: asyncio.sleep(0, a.resyncs == 1), "node a resynced")
    await asyncio.sleep(0)
    assert "resync listener failed" in caplog.text


async def test_what_arrives_on_a_new_link_waits_inside_the_resync_hooks(
    own_redis: RedisServer, nodes: Callable[..., Node], readers: Callable[
        [Subscription], Reader]
) -> None:
    """``while_resyncing``: begin before the lost link's channels are
    subscribed again (so before anything of the new link is read), end once
    every resync listener returned; each begin gets one end, also when the
    new link fails before it is ready. (The composition root holds the
    node's relays between them: what node A sends after an outage may rest
    on a directory change node B has not read yet.)"""
    a, b = nodes(own_redis.url, "node-a"), nodes(own_redis.url, "node-b")
    events: list[str] = []
    resynced = asyncio.Event()
    release = asyncio.Event()

    async def slow_resync() -> None:
        events.append("resync")
        await release.wait()
        events.append("resynced")
        resynced.set()

    b.broker.while_resyncing(lambda: events.append("begin"), lambda: events.append("end"))
    b.broker.on_resync(slow_resync)
    on_b = readers(await b.broker.subscribe("room.1"))
    assert await a.broker.healthy()
    assert await b.broker.healthy()
    assert events == []  # the first connection is no recovery

    own_redis.restart()
    await eventually(lambda: asyncio.sleep(0, "resync" in events), "node b resyncing")
    assert events == ["begin", "resync"]
    await eventually(a.broker.healthy, "node a reconnected")
    await a.broker.publish("room.1", b"after the outage")
    assert await on_b.next() == b"after the outage"  # delivered: the host holds, not the broker
    assert events == ["begin", "resync"]
    release.set()
    await resynced.wait()
    await eventually(lambda: asyncio.sleep(0, events[-1] == "end"), "hooks ended")
    assert events == ["begin", "resync", "resynced", "end"]
