"""Choose a broker implementation from a URL.

``memory://`` is the embedded default (one process). ``redis://host:port/db``
or ``rediss://…`` (TLS) shares the nodes of a deployment through one Redis;
redis-py is imported only then.
"""

from __future__ import annotations

from preau.server.broker import Broker
from preau.server.broker.memory import MemoryBroker


def open_broker(url: str, node_id: str) -> Broker:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryBroker(node_id)
    if scheme in ("redis", "rediss"):
        try:
            from preau.server.broker.redis import RedisBroker
        except ImportError as exc:  # pragma: no cover - redis is a main dependency
            raise ValueError(
                f"PREAU_BROKER_URL={scheme}:// needs redis-py: pip install 'redis>=5' ({exc})"
            ) from exc
        return RedisBroker(url, node_id)
    raise ValueError(f"unknown broker URL scheme {scheme!r}: expected memory:// or redis://")
