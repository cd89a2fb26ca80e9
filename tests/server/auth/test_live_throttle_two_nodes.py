"""The login throttle holds across two real nodes sharing one Redis (and one
SQLite file, as nodes share PostgreSQL): failures counted on one node delay
the account and spend the address's budget on the other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.live import PASSWORD, LiveServer

pytestmark = pytest.mark.redis

WRONG = "Pas-le-bon-mot-2"
BUDGET = 8  # failures per address per hour, on both nodes


@pytest.fixture
def pair(tmp_path: Path, redis_clean_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    common = {
        "PREAU_STORE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "PREAU_BROKER_URL": redis_clean_url,
        "PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR": str(BUDGET),
    }
    a = LiveServer(tmp_path / "a", common).start()
    try:
        b = LiveServer(tmp_path / "b", {**common, "PREAU_SEED_DEMO": "false"}).start()
        b.accounts = a.accounts
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


async def _login(node: LiveServer, login: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        return await http.post("/api/auth/login",
                               json={"login": login, "password": password, "kind": "bearer"})


async def test_failures_on_one_node_delay_and_budget_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    lea = a.login_of("Léa Martin")
    await (await a.client("Léa Martin")).close()  # activated on node A

    for _ in range(5):  # the free failures, all on node A
        assert (await _login(a, lea, WRONG)).status_code == 401
    delayed = await _login(b, lea, PASSWORD)
    assert delayed.status_code == 429, delayed.text
    wait = delayed.json()["error"]["retry_after"]
    assert 0 < wait <= 1.0  # the first delay: a second, not an hour
    await asyncio.sleep(wait)  # as a client does when told to wait
    assert (await _login(b, lea, PASSWORD)).status_code == 200

    # The address's budget is one for the deployment too: 5 failures spent
    # on A, the rest on B (and one more: Léa's logins from here earned it
    # one, once, whichever node they went through), and the address is out on A.
    for i in range(BUDGET - 5 + 1):
        assert (await _login(b, f"personne.{i}", WRONG)).status_code == 401
    refused = await _login(a, lea, PASSWORD)
    assert refused.status_code == 429
    assert "réseau" in refused.json()["error"]["message"]  # French unless asked otherwise
