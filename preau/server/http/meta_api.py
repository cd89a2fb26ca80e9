"""REST about the node and the protocols: health (preau/server/health.py) and the
JSON Schemas of the WebSocket ops. The OpenAPI description, which needs the
whole route table, is served by preau/server/http/routes.py."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server import health as node_health
from preau.server import metrics as preau_metrics
from preau.server.errors import ErrorCode, PreauError
from preau.server.gateway.protocol import schemas as ws_schemas
from preau.server.http.common import services
from preau.server.http.openapi import Endpoint


class HealthOut(BaseModel):
    status: str
    node: str
    version: str
    store: dict[str, Any]
    broker: dict[str, Any]
    gateway: dict[str, int]
    documents: dict[str, int] | None = None  # open documents and their sockets, this node


def _operator(request: Request, ops_token: str) -> bool:
    """An operator: ``Authorization: Bearer <PREAU_OPS_TOKEN>``, or a caller on
    this machine (the address as uvicorn sees it: trusted proxies only)."""
    auth = request.headers.get("authorization", "")
    if ops_token and auth.lower().startswith("bearer ") and hmac.compare_digest(
        auth[7:].strip().encode(), ops_token.encode()
    ):
        return True
    client = request.client.host if request.client else ""
    return client in ("127.0.0.1", "::1")


async def health(request: Request) -> Response:
    node = services(request)
    # Load balancers need the status only; the node's id, version and
    # counters are for its operators.
    ok, body = await node_health.check(node, _operator(request, node.settings.ops_token))
    return Response(orjson.dumps(body), status_code=200 if ok else 503,
                    media_type="application/json")


async def ready(request: Request) -> Response:
    """Readiness, for the load balancer: 503 while the node drains before a
    shutdown (SIGTERM: preau/server/serving.py) or while its store or broker is down."""
    node = services(request)
    draining = bool(getattr(request.app.state, "draining", False))
    ok, body = await node_health.readiness(node, draining)
    return Response(orjson.dumps(body), status_code=200 if ok else 503,
                    media_type="application/json")


async def live(request: Request) -> Response:
    """Liveness, for the supervisor: the process serves HTTP. Never depends on
    the store or the broker: restarting a node does not fix an outage."""
    return Response(b'{"live":true}', media_type="application/json")


async def metrics(request: Request) -> Response:
    """Prometheus metrics (preau/server/metrics.py), for operators only: the
    operators' token or a caller on this machine, as /api/health's details."""
    if not _operator(request, services(request).settings.ops_token):
        raise PreauError(ErrorCode.FORBIDDEN, "metrics are for operators: "
                         "Authorization: Bearer $PREAU_OPS_TOKEN")
    return Response(preau_metrics.render(), media_type=preau_metrics.CONTENT_TYPE_LATEST)


async def ws_schema(request: Request) -> Response:
    gateway = getattr(request.app.state, "gateway", None)
    return JSONResponse(ws_schemas() if gateway is None else gateway.schemas())


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/health", "Node, store and broker status", health,
             response=HealthOut, auth=False),
    Endpoint("GET", "/api/health/ready", "Readiness: 503 while draining or a dependency is"
             " down", ready, auth=False),
    Endpoint("GET", "/api/health/live", "Liveness: the process serves HTTP", live,
             auth=False),
    Endpoint("GET", "/api/ws-schema", "JSON Schemas of the WebSocket ops", ws_schema,
             auth=False),
]
