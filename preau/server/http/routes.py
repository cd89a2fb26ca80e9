"""The REST route table: every resource module's endpoints, the OpenAPI
description written from them (``/api/openapi.json``), and the Starlette
routes the app mounts. No two paths overlap, so the order does not decide
which handler answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from preau.server import __version__
from preau.server.http import (
    attachments_api,
    auth_api,
    charter_api,
    console_api,
    documents_api,
    meta_api,
    moderation_api,
    mood_api,
    notifications_api,
    people_api,
    privacy_api,
    reactions_api,
    recovery_api,
    rooms_api,
    schools_api,
    sso_api,
)
from preau.server.http.openapi import Endpoint, openapi_document


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(ENDPOINTS, __version__))


ENDPOINTS: list[Endpoint] = [
    *auth_api.ENDPOINTS,
    *recovery_api.ENDPOINTS,
    *sso_api.ENDPOINTS,
    *people_api.ENDPOINTS,
    *rooms_api.ENDPOINTS,
    *reactions_api.ENDPOINTS,
    *moderation_api.ENDPOINTS,
    *schools_api.ENDPOINTS,
    *console_api.ENDPOINTS,
    *privacy_api.ENDPOINTS,
    *mood_api.ENDPOINTS,
    *charter_api.ENDPOINTS,
    *notifications_api.ENDPOINTS,
    # After rooms_api: its HistoryOut shares the name of the room history's,
    # and the last one written is the one /api/openapi.json describes.
    *documents_api.ENDPOINTS,
    *attachments_api.ENDPOINTS,
    *meta_api.ENDPOINTS,
    Endpoint("GET", "/api/openapi.json", "This description", openapi, auth=False),
]


def api_routes() -> list[Route]:
    return [Route(ep.path, ep.handler, methods=[ep.method]) for ep in ENDPOINTS]
