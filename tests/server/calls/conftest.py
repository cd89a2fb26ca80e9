"""Fixtures for call tests: aiortc peers confined to loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from preau_client.peer import confine_ice


@pytest.fixture(autouse=True)
def loopback_ice() -> Iterator[None]:
    """ICE host candidates on 127.0.0.1 only: test traffic never leaves loopback."""
    with confine_ice(["127.0.0.1"]):
        yield
