"""The PostgreSQL engine's view of a server going away (preau/server/store/postgres.py).

A server that stops sends each idle connection a FATAL error (57P01), then
closes it. A statement sent after the error is read but before the close is
read finds asyncpg's protocol still waiting for the end of that error
("another operation (2) is in progress"): that is the database going away,
an outage (``unavailable``, retried by the client with the same txn), not an
internal error; and that connection is never lent again. Reproduced here on
a real PostgreSQL with ``pg_terminate_backend`` (the same FATAL error as a
fast shutdown), holding the victim's reads until both are on its socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from preau.server.store.outage import StoreUnavailable
from preau.server.store.postgres import PostgresEngine

pytestmark = pytest.mark.postgres


async def _stick(engine: PostgresEngine, admin: Any) -> None:
    """Leave the pool's one connection with the FATAL error read and its close not yet."""
    pid = await engine.call("SELECT pg_backend_pid()")
    holder = next(h for h in engine._pool._holders if h._con is not None)
    transport = holder._con._transport
    transport.pause_reading()
    await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    await asyncio.sleep(0.3)  # the error and the close wait on the socket
    transport.resume_reading()
    await asyncio.sleep(0)  # a turn: the error is read
    await asyncio.sleep(0)  # the next one starts with this task, before the close


async def _one_statement(engine: PostgresEngine, way: str) -> None:
    if way == "call":
        await engine.call("SELECT 1")
        return
    async with engine.transaction() as tx:
        await tx.fetchval("SELECT 1")


@pytest.mark.parametrize("way", ["call", "transaction"])
async def test_a_statement_between_the_fatal_error_and_the_close_is_an_outage(
    postgres_database_url: str, way: str
) -> None:
    engine = await PostgresEngine.open(postgres_database_url, max_size=1)
    admin = await asyncpg.connect(postgres_database_url)
    try:
        await _stick(engine, admin)
        with pytest.raises(StoreUnavailable):
            await _one_statement(engine, way)
        # The stuck connection is gone; the next statement gets a new one.
        assert await engine.call("SELECT 2") == 2
        assert not engine.outage.down
    finally:
        await admin.close()
        await engine.close()
