"""Fixtures for tests that drive a real server process over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.live import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One embedded-default server (demo school) shared by a test module."""
    server = LiveServer(tmp_path_factory.mktemp("live")).start()
    try:
        yield server
    finally:
        server.stop()
