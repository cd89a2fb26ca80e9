"""This node's health, as ``GET /api/health`` reports it: the store and the
broker answer or not; operators also get the node, its version and counters.
Readiness (``/api/health/ready``) adds draining; liveness
(``/api/health/live``) is only "the process serves HTTP" (preau/server/http/meta_api.py)."""

from __future__ import annotations

from typing import Any

from preau.server import __version__
from preau.server.services import Services


async def check(services: Services, details: bool) -> tuple[bool, dict[str, Any]]:
    """Whether the store and the broker answer, and the report: their status
    only for load balancers, everything with ``details`` (operators)."""
    store_ok, broker_ok = True, await services.broker.healthy()
    try:
        await services.store.ping()
    except Exception:
        store_ok = False
    ok = store_ok and broker_ok
    if not details:
        return ok, {"status": "ok" if ok else "degraded",
                    "store": {"ok": store_ok}, "broker": {"ok": broker_ok}}
    settings = services.settings
    try:
        # Files wait as pending while the antivirus is down (docs/attachments.md).
        attachments: dict[str, Any] = await services.attachments.status()
    except Exception:  # its count is a store read: the store's own state says why
        attachments = {"scanner": "unknown", "pending": None}
    return ok, {
        "status": "ok" if ok else "degraded",
        "node": settings.node_id,
        "version": __version__,
        "store": {"ok": store_ok, "kind": settings.effective_store_url.split(":")[0]},
        "broker": {"ok": broker_ok, "kind": settings.broker_url.split(":")[0],
                   **services.broker.stats()},
        "gateway": services.hub.stats(),
        "documents": services.documents.rooms.stats(),
        "attachments": attachments,
    }


async def readiness(services: Services, draining: bool) -> tuple[bool, dict[str, Any]]:
    """Whether a load balancer should send this node new clients: not while it
    drains for a shutdown, nor while the store or the broker is down (every
    send would be answered ``unavailable``)."""
    ok, body = await check(services, details=False)
    body = {"ready": ok and not draining, "draining": draining,
            "store": body["store"], "broker": body["broker"]}
    return bool(body["ready"]), body
