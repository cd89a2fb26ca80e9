"""Fixtures for tests that drive a real server process over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.server.attachments import clamd
from tests.server.live import LiveServer
from tests.server.twonodes import Nodes, two_nodes


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One embedded-default server (demo school) shared by a test module."""
    server = LiveServer(tmp_path_factory.mktemp("live")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    """Two nodes in this process on one store and one bus (tests/server/twonodes.py)."""
    async with two_nodes(tmp_path) as pair:
        yield pair


@pytest.fixture(scope="session")
def clamd_address() -> Iterator[str]:
    """A real clamd (tests/server/attachments/clamd.py) for the whole session:
    ``unix:/…`` (or ``CLAMD_ADDRESS``). Its database detects EICAR
    (``clamd.EICAR``) and ``clamd.PREAU_TEST_MARKER``."""
    with clamd.clamd_address() as address:
        yield address
