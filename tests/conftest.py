"""Fixtures shared by the whole test suite.

Servers: ``postgres_server_url`` (one PostgreSQL for the session, see
tests/services.py) and ``postgres_database_url`` (a fresh database per test).
Stores: ``store_url`` runs a test once per implementation (SQLite, PostgreSQL)
on an empty database; ``store`` opens and migrates it.
Redis: ``redis_server_url`` (one for the session), ``redis_clean_url`` (its
database flushed for the test), ``own_redis`` (a private server a fault test
may restart).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from preau.server.store import Store
from preau.server.store.factory import open_store
from tests.services import RedisServer, fresh_database, postgres_url, private_redis, redis_url

# Property tests count examples, never time: hypothesis' per-example deadline
# and its "too slow" check are timings, which a loaded CI machine trips
# (speed is measured in loadtests/, not asserted here).
settings.register_profile("preau", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("preau")


@pytest.fixture(scope="module", autouse=True)
def _collect_leaks_of_this_module() -> Iterator[None]:
    """Run the garbage collector as each test file ends: a socket or transport
    a file's tests left open is then reported (ResourceWarning, an error
    here) in that file's last teardown, instead of in whichever test of
    another file the collector happens to run in later (with two workers, a
    browser test of a file that leaked nothing failed that way)."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest.fixture
async def postgres_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, unmigrated database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'preau.sqlite3'}"
        return
    # Asked for here, not as an argument, so a SQLite-only run starts no server.
    server_url: str = request.getfixturevalue("postgres_server_url")
    async with fresh_database(server_url) as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store of each kind, closed after the test."""
    opened = await open_store(store_url)
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated SQLite store in a fresh file, for tests that need a real
    store but are not store contract tests (so no PostgreSQL is started)."""
    opened = await open_store(f"sqlite:///{tmp_path / 'preau-test.sqlite3'}")
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()


# -- Redis -------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """One Redis for the session: ``REDIS_URL`` if set, else a private redis-server."""
    with redis_url() as url:
        yield url


@pytest.fixture
def redis_clean_url(redis_server_url: str) -> str:
    """The session's Redis with its database emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server_url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private redis-server for this test alone, which it may stop and restart."""
    with private_redis() as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def no_token_in_any_server_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole run: no log a test server wrote holds a session token
    given in a URL (preau/server/log_redaction.py), the password every live test
    account has (tests/server/live.py), or a message body marked secret
    (``Corps-secret-…``, tests/server/test_live_metrics.py)."""
    yield
    import re

    from tests.server.live import PASSWORD

    leak = re.compile(r"(?i)token=(?!\[redacted\])[^&\s\"'#;]+|"
                      + re.escape(PASSWORD) + r"|Corps-secret-[0-9a-f]+")
    found = []
    for log in tmp_path_factory.getbasetemp().rglob("*.log"):
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        found += [f"{log}: {m.group(0)[:20]}…" for m in leak.finditer(text)]
    assert not found, f"tokens, passwords or bodies in server logs: {found[:5]}"
