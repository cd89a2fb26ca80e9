"""The Broker contract (preau/server/broker/__init__.py), run on every implementation.

Each test gets nodes of one deployment from ``cluster``: brokers with their own
node ids sharing one medium (``pair`` is two of them). Only the Broker
interface is used, and waits are for messages, never sleeps of a guessed
length, so an implementation whose delivery crosses a network (Redis) can join
as it is: add its name to ``IMPLEMENTATIONS`` and a branch to each method of
``Cluster`` (open brokers on one private Redis; read its overflow count).

Two points where a network medium differs from the in-process one, made
explicit through ``Cluster`` (no-ops in memory): ``published(node)`` waits
until what the node queued has reached the medium (a Redis node's
``publish()`` only queues), before a test subscribes and expects none of it;
``dropped(node)`` first lets the node dispatch what the medium already sent it.

"Nothing else arrived" is checked with a marker: the publisher sends a marker
after the message that must not arrive; per-channel order from one publisher
means the marker is the next thing the subscriber sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from preau.server.broker import Broker, Subscription
from preau.server.broker.memory import MemoryBroker, MemoryBus
from preau.server.broker.redis import RedisBroker
from tests.server.broker.reader import Reader

IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
TIMEOUT_S = 2.0


class Cluster:
    """Nodes of one deployment: brokers on one shared medium."""

    def __init__(self, kind: str, redis_url: str | None = None) -> None:
        self.kind = kind
        self.opened: list[Broker] = []
        if kind == "memory":
            self._bus = MemoryBus()
        elif kind == "redis":
            assert redis_url is not None
            self._redis_url = redis_url
        else:  # pragma: no cover - a new implementation adds its medium here
            raise AssertionError(f"no cluster for {kind}")

    async def node(self, node_id: str, buffer_size: int = 10_000) -> Broker:
        """A broker with its own node id and a per-subscription buffer of ``buffer_size``."""
        broker: Broker
        if self.kind == "memory":
            broker = MemoryBroker(node_id, self._bus, buffer_size=buffer_size)
        elif self.kind == "redis":
            broker = RedisBroker(self._redis_url, node_id, buffer_size=buffer_size)
            assert await broker.healthy()
        else:  # pragma: no cover
            raise AssertionError(self.kind)
        self.opened.append(broker)
        return broker

    async def published(self, broker: Broker) -> None:
        """Wait until what ``broker`` published so far has reached the medium."""
        if isinstance(broker, RedisBroker):
            await asyncio.wait_for(broker.flush(), TIMEOUT_S)

    async def dropped(self, broker: Broker) -> int:
        """The node's overflow count, once it dispatched what the medium sent it."""
        if isinstance(broker, RedisBroker):
            await asyncio.wait_for(broker.sync(), TIMEOUT_S)
        assert isinstance(broker, MemoryBroker | RedisBroker)
        return broker.dropped

    async def close(self) -> None:
        for broker in self.opened:
            await broker.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    # Asked for here, not as an argument, so a memory-only run starts no Redis.
    url = request.getfixturevalue("redis_clean_url") if request.param == "redis" else None
    opened = Cluster(request.param, url)
    try:
        yield opened
    finally:
        await opened.close()


@dataclass
class Pair:
    a: Broker
    b: Broker


@pytest.fixture
async def pair(cluster: Cluster) -> Pair:
    return Pair(await cluster.node("node-a"), await cluster.node("node-b"))


Start = Callable[[Subscription], Reader]


async def test_delivery_to_the_other_node(pair: Pair, readers: Start) -> None:
    sub = await pair.b.subscribe("room.1")
    assert sub.channel == "room.1"
    reader = readers(sub)
    await pair.a.publish("room.1", b"hello")
    assert await reader.next() == b"hello"


async def test_every_subscription_of_a_node_receives(pair: Pair, readers: Start) -> None:
    one, two = readers(await pair.b.subscribe("room.1")), readers(await pair.b.subscribe("room.1"))
    await pair.a.publish("room.1", b"x")
    assert await one.next() == b"x"
    assert await two.next() == b"x"


async def test_no_echo_to_the_publishing_node(pair: Pair, readers: Start) -> None:
    on_a = readers(await pair.a.subscribe("room.1"))
    on_b = readers(await pair.b.subscribe("room.1"))
    await pair.a.publish("room.1", b"from-a")
    assert await on_b.next() == b"from-a"
    await pair.b.publish("room.1", b"from-b")
    # Node a's first message is b's: its own never came back.
    assert await on_a.next() == b"from-b"
    await pair.a.publish("room.1", b"from-a-again")
    await pair.b.publish("room.1", b"marker-b")
    assert await on_a.next() == b"marker-b"
    assert await on_b.next() == b"from-a-again"
    assert on_b.queue.empty()


async def test_order_per_channel(pair: Pair, readers: Start) -> None:
    reader = readers(await pair.b.subscribe("room.1"))
    sent = [f"m{i}".encode() for i in range(500)]
    for payload in sent:
        await pair.a.publish("room.1", payload)
    assert await reader.take(len(sent)) == sent


async def test_payloads_arrive_unchanged(pair: Pair, readers: Start) -> None:
    reader = readers(await pair.b.subscribe("room.1"))
    payloads = [b"", b"\x00\xff\x00", bytes(range(256)), "é👋".encode(), b"x" * 65536]
    for payload in payloads:
        await pair.a.publish("room.1", payload)
    assert await reader.take(len(payloads)) == payloads


async def test_only_messages_published_after_subscribe(
    cluster: Cluster, pair: Pair, readers: Start
) -> None:
    await pair.a.publish("room.1", b"before")
    await cluster.published(pair.a)
    reader = readers(await pair.b.subscribe("room.1"))
    await pair.a.publish("room.1", b"after")
    assert await reader.next() == b"after"


async def test_channels_are_isolated(pair: Pair, readers: Start) -> None:
    one = readers(await pair.b.subscribe("room.1"))
    two = readers(await pair.b.subscribe("room.2"))
    other = readers(await pair.b.subscribe("room.10"))  # no prefix matching
    await pair.a.publish("room.2", b"for-2")
    await pair.a.publish("room.1", b"for-1")
    await pair.a.publish("room", b"for-nobody")
    await pair.a.publish("room.10", b"for-10")
    assert await one.next() == b"for-1"
    assert await two.next() == b"for-2"
    assert await other.next() == b"for-10"
    for reader, channel in ((one, "room.1"), (two, "room.2")):
        await pair.a.publish(channel, b"marker")
        assert await reader.next() == b"marker"


async def test_publish_without_subscribers_is_fine(pair: Pair) -> None:
    await pair.a.publish("room.nobody", b"lost")
    assert await pair.a.healthy()
    assert await pair.b.healthy()


async def test_close_ends_iteration_and_delivery(
    cluster: Cluster, pair: Pair, readers: Start
) -> None:
    sub = await pair.b.subscribe("room.1")
    reader = readers(sub)
    await pair.a.publish("room.1", b"one")
    assert await reader.next() == b"one"
    await sub.close()
    await reader.ended()
    await sub.close()  # twice is fine
    await pair.a.publish("room.1", b"after-close")  # no error, nowhere to go
    await cluster.published(pair.a)
    # The channel still works for a new subscription.
    again = readers(await pair.b.subscribe("room.1"))
    await pair.a.publish("room.1", b"two")
    assert await again.next() == b"two"


async def test_close_before_iterating(pair: Pair, readers: Start) -> None:
    sub = await pair.b.subscribe("room.1")
    await sub.close()
    await readers(sub).ended()


async def test_closing_a_node_ends_its_subscriptions_only(
    cluster: Cluster, pair: Pair, readers: Start
) -> None:
    on_b = [readers(await pair.b.subscribe(c)) for c in ("room.1", "room.2")]
    c = await cluster.node("node-c")
    on_c = readers(await c.subscribe("room.1"))
    await pair.b.close()
    for reader in on_b:
        await reader.ended()
    await pair.a.publish("room.1", b"still-there")
    assert await on_c.next() == b"still-there"


async def test_cancelling_the_iterating_task_is_safe(
    cluster: Cluster, pair: Pair, readers: Start
) -> None:
    sub = await pair.b.subscribe("room.1")
    reader = readers(sub)
    await pair.a.publish("room.1", b"one")
    assert await reader.next() == b"one"
    await reader.stop()  # cancelled while waiting for the next message
    assert reader.task.cancelled()
    # Publishing after the reader is gone neither raises nor blocks.
    for i in range(100):
        await asyncio.wait_for(pair.a.publish("room.1", f"m{i}".encode()), TIMEOUT_S)
    await cluster.published(pair.a)
    await sub.close()
    # The node and the channel keep working.
    again = readers(await pair.b.subscribe("room.1"))
    await pair.a.publish("room.1", b"two")
    assert await again.next() == b"two"


async def test_cancelling_a_task_blocked_in_iteration_before_any_message(
    pair: Pair, readers: Start
) -> None:
    sub = await pair.b.subscribe("room.1")
    reader = readers(sub)
    await asyncio.sleep(0)  # let the task start waiting
    await reader.stop()
    assert reader.task.cancelled()
    await sub.close()
    await pair.a.publish("room.1", b"x")
    await readers(sub).ended()  # closed: a new iteration ends at once


async def test_slow_subscriber_overflows_without_blocking_the_publisher(
    cluster: Cluster, readers: Start
) -> None:
    a = await cluster.node("node-a")
    b = await cluster.node("node-b", buffer_size=10)
    slow = await b.subscribe("room.1")  # nobody iterates it yet
    fast_node = await cluster.node("node-c")
    fast = readers(await fast_node.subscribe("room.1"))
    sent = [f"m{i}".encode() for i in range(25)]
    for payload in sent:
        await asyncio.wait_for(a.publish("room.1", payload), TIMEOUT_S)
    assert await fast.take(25) == sent  # others get everything
    assert await cluster.dropped(b) == 15
    assert await cluster.dropped(a) == 0
    assert await cluster.dropped(fast_node) == 0
    # The slow one gets what fitted, in order, then what comes once it reads.
    reader = readers(slow)
    assert await reader.take(10) == sent[:10]
    await a.publish("room.1", b"later")
    assert await reader.next() == b"later"
    assert await cluster.dropped(b) == 15


async def test_close_of_a_full_subscription_still_ends_iteration(
    cluster: Cluster, readers: Start
) -> None:
    a = await cluster.node("node-a")
    b = await cluster.node("node-b", buffer_size=3)
    sub = await b.subscribe("room.1")
    for i in range(3):
        await a.publish("room.1", f"m{i}".encode())
    await sub.close()
    reader = readers(sub)
    await reader.ended()


async def test_iterating_again_after_close_ends_at_once(pair: Pair, readers: Start) -> None:
    sub = await pair.b.subscribe("room.1")
    first = readers(sub)
    await sub.close()
    await first.ended()
    await readers(sub).ended()


async def test_a_new_iteration_after_a_cancelled_one_loses_nothing(
    pair: Pair, readers: Start
) -> None:
    sub = await pair.b.subscribe("room.1")
    first = readers(sub)
    await pair.a.publish("room.1", b"one")
    assert await first.next() == b"one"
    await first.stop()
    await pair.a.publish("room.1", b"two")
    second = readers(sub)
    assert await second.next() == b"two"


async def test_leaving_async_with_closes_the_subscription(pair: Pair, readers: Start) -> None:
    async with await pair.b.subscribe("room.1") as sub:
        reader = readers(sub)
        await pair.a.publish("room.1", b"inside")
        assert await reader.next() == b"inside"
    await reader.ended()
