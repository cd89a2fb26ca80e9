"""Choose a presence implementation from a URL (as the broker's factory does).

``memory://``: one process. ``redis://host:port/db`` or ``rediss://…``: shared
by the nodes of a deployment; redis-py is imported only then.
"""

from __future__ import annotations

from preau.server.presence import Presence
from preau.server.presence.memory import MemoryPresence


def open_presence(url: str) -> Presence:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryPresence()
    if scheme in ("redis", "rediss"):
        try:
            from preau.server.presence.redis import RedisPresence
        except ImportError as exc:  # pragma: no cover - redis is a main dependency
            raise ValueError(
                f"{scheme}:// presence needs redis-py: pip install 'redis>=5' ({exc})"
            ) from exc
        return RedisPresence(url)
    raise ValueError(f"unknown presence URL scheme {scheme!r}: expected memory:// or redis://")
