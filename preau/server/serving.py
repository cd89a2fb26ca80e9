"""A node's shutdown for rolling upgrades (docs/operations.md, "Upgrading").

On SIGTERM (or SIGINT) uvicorn stops accepting, closes every WebSocket with
1012 "service restart" (clients reconnect elsewhere and resume with
``since``), waits up to ``timeout_graceful_shutdown`` for the requests and
sockets in flight — a send being committed finishes and is acknowledged or,
if the socket is gone, retried by its client with the same ``txn`` — then
runs the lifespan's shutdown (documents flushed and released, call seats
freed, broker and store closed).

Before that, :class:`DrainingServer` marks the node as draining, so that
``/api/health/ready`` answers 503, and keeps serving for ``drain_s`` seconds:
long enough for the load balancer's readiness checks to take the node out of
rotation before its listener closes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


def mark_draining(app: Any) -> None:
    """``app.state.draining = True`` on a Starlette app (what readiness reads)."""
    state = getattr(app, "state", None)
    if state is not None:
        state.draining = True


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, drain_s: float = 0.0) -> None:
        super().__init__(config)
        self.drain_s = drain_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        mark_draining(self.config.app)
        if self.drain_s > 0:
            log.info("draining: readiness answers 503 for %.1f s before the sockets move",
                     self.drain_s)
            await asyncio.sleep(self.drain_s)
        log.info("shutting down: telling clients to move (1012), finishing work in flight")
        await super().shutdown(sockets)
