"""A small route registry that also writes the OpenAPI description.

Handlers declare their request body and response models (pydantic); the same
models validate input and document the API at ``/api/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from preau.server.errors import ErrorCode

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Handler
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: bool = True
    query: dict[str, str] = field(default_factory=dict)  # name → description


class ErrorBody(BaseModel):
    code: str
    message: str
    retry_after: float | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def openapi_document(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorResponse)
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.handler.__name__.lstrip("_"),
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": ref(ep.response)}}
                    if ep.response
                    else {},
                },
                "default": {
                    "description": "Error; codes: " + ", ".join(c.value for c in ErrorCode),
                    "content": {"application/json": {"schema": error_ref}},
                },
            },
        }
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.body)}},
            }
        params = [
            {"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ep.path.split("/")
            if name.startswith("{")
        ]
        params += [
            {"name": name, "in": "query", "required": False, "description": desc,
             "schema": {"type": "string"}}
            for name, desc in ep.query.items()
        ]
        if params:
            op["parameters"] = params
        if ep.auth:
            op["security"] = [{"cookie": []}, {"bearer": []}]
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Préau API", "version": version,
                 "description": "Live traffic uses the WebSocket at /ws: see /api/ws-schema."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "preau_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
