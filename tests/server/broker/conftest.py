"""Fixtures of the broker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from preau.server.broker import Subscription
from tests.server.broker.reader import Reader


@pytest.fixture
async def readers() -> AsyncIterator[Callable[[Subscription], Reader]]:
    """Start readers on subscriptions; every one is stopped after the test."""
    started: list[Reader] = []

    def start(sub: Subscription) -> Reader:
        reader = Reader(sub)
        started.append(reader)
        return reader

    yield start
    for reader in started:
        await reader.stop()
