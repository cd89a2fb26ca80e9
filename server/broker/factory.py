"""Choose a broker implementation from a URL."""

from __future__ import annotations

from server.broker import Broker
from server.broker.memory import MemoryBroker


def open_broker(url: str, node_id: str) -> Broker:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryBroker(node_id)
    if scheme in ("redis", "rediss"):
        raise ValueError(
            "the Redis broker is not available in this version yet; use PREAU_BROKER_URL=memory://"
        )
    raise ValueError(f"unknown broker URL scheme {scheme!r}: expected memory:// or redis://")
