"""A store outage is an ordinary event (issue 16, item 5): PostgreSQL stopped
for a while under a small chat load on two nodes.

Every send is eventually acknowledged exactly once — by the SDK's own retries
of ``unavailable`` with the same ``txn`` —, no send is answered ``internal``,
every reader sees every message once and in order, health says which
dependency is down meanwhile, and each node logs the outage in two lines
(its start and its end) and no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from preau_client import LiveConnection
from prometheus_client.parser import text_string_to_metric_families

from tests.multinode.cluster import (
    Cluster,
    Follower,
    Node,
    class_room,
    running_cluster,
    wait_until,
)
from tests.multinode.conftest import People
from tests.services import (
    PostgresServer,
    RedisServer,
    fresh_database,
    private_postgres,
    private_redis,
)

pytestmark = pytest.mark.slow

OUTAGE_S = 8.0
OPS_TOKEN = "ops-" + secrets.token_hex(16)


async def store_gauges(node: Node) -> tuple[float, float]:
    """``preau_store_up`` and ``preau_store_outages_total`` scraped from ``node``."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(node.base_url + "/metrics",
                                  headers={"authorization": f"Bearer {OPS_TOKEN}"})
    assert response.status_code == 200, response.text
    found = {sample.name: sample.value
             for family in text_string_to_metric_families(response.text)
             for sample in family.samples}
    return found["preau_store_up"], found["preau_store_outages_total"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """This module's own PostgreSQL: the test stops it and starts it again."""
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outage_database_url(postgres: PostgresServer) -> AsyncIterator[str]:
    async with fresh_database(postgres.url) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, outage_database_url: str,
    redis_server: RedisServer,
) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster-outage"), outage_database_url, redis_server.url,
        size=2, env={"PREAU_SENDS_PER_S": "100", "PREAU_SENDS_BURST": "100",
                     "PREAU_OPS_TOKEN": OPS_TOKEN},
    ) as started:
        yield started


async def chat(conn: LiveConnection, room: str, prefix: str, stop: asyncio.Event,
               acked: list[int], refused: list[str]) -> None:
    """Send until ``stop``, each message with the SDK's own retries."""
    i = 0
    while not stop.is_set():
        try:
            reply = await conn.send_message(room, f"{prefix} {i}", retry_for=60)
        except Exception as exc:
            refused.append(repr(exc))
            return
        acked.append(int(reply["seq"]))
        i += 1
        await asyncio.sleep(0.05)


async def test_postgres_stopped_under_a_chat_load(
    cluster: Cluster, people: People, postgres: PostgresServer
) -> None:
    lea = await people("Léa Martin", 0)
    hugo = await people("Hugo Bernard", 1)
    room = await class_room(lea)
    readers = [await Follower(cluster, await people(name, 0), room, nodes).start()
               for name, nodes in (("Chloé Dubois", [0, 1]), ("Claire Lefèvre", [1, 0]))]
    head = readers[0].last
    lea_conn, hugo_conn = await people.connect(lea), await people.connect(people.on(hugo, 1))
    stop = asyncio.Event()
    acked: dict[str, list[int]] = {"lea": [], "hugo": []}
    refused: list[str] = []
    senders = [
        asyncio.get_running_loop().create_task(chat(conn, room, who, stop, acked[who], refused))
        for who, conn in (("lea", lea_conn), ("hugo", hugo_conn))
    ]
    ended = False
    try:
        await wait_until(lambda: min(map(len, acked.values())) >= 5, 10)
        for node in cluster.nodes:
            assert await store_gauges(node) == (1, 0)
        await asyncio.to_thread(postgres.stop)
        down_at = time.monotonic()
        # Health says which dependency is down.
        for node in cluster.nodes:
            status, body = await node.health_status()
            assert status == 503, body
            assert body["store"]["ok"] is False, body
            # And the metrics: the gauge an alert watches (PreauStoreDown).
            assert await store_gauges(node) == (0, 1)
        await asyncio.sleep(OUTAGE_S - (time.monotonic() - down_at))
        assert refused == []
        await asyncio.to_thread(postgres.start)
        # Sends retried through the outage are acknowledged once it ends.
        before = sum(map(len, acked.values()))
        await wait_until(lambda: sum(map(len, acked.values())) >= before + 10, 20)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*senders), 70)
        ended = True
    finally:
        stop.set()
        for task in senders:
            task.cancel()
        if not postgres.running:  # failed during the outage: the next tests need it
            await asyncio.to_thread(postgres.start)
        if not ended:  # the readers' sockets too (else reported as leaks elsewhere)
            for reader in readers:
                with contextlib.suppress(Exception):
                    await reader.stop()
    assert refused == [], refused
    retried = lea_conn.retries + hugo_conn.retries
    assert retried > 0, "no send met the outage"
    everything = sorted(acked["lea"] + acked["hugo"])
    assert everything == list(range(head + 1, head + 1 + len(everything))), \
        "an acknowledged message is missing or was posted twice"
    for reader in readers:
        await reader.caught_up(everything[-1], 10)
        assert reader.duplicates == [], reader.visits
        assert reader.gaps == [], reader.visits
        assert reader.seqs[-len(everything):] == everything
        await reader.stop()
    for node in cluster.nodes:
        status, body = await node.health_status()
        assert status == 200, body
        assert await store_gauges(node) == (1, 1)
        log = node.log_path.read_text(errors="replace")
        assert "Traceback" not in log, node.log_tail(80)
        assert log.count("unreachable (") == 1, node.log_tail(80)
        assert log.count("reachable again after") == 1, node.log_tail(80)
