"""Log lines: human-readable by default, one JSON object per line with
``PREAU_LOG_FORMAT=json`` (docs/operations.md, "Logs").

Every line carries the node id and, when written while serving an HTTP
request or a socket, that request's or connection's id (``ctx``): an ASGI
middleware (:class:`ContextMiddleware`) opens the context, and everything the
request awaits — the services included — runs inside it (contextvars).

What a line may hold is decided where it is written: events and ids, never a
message body, a password, a code or a token. Tokens in URLs are rewritten for
every record by preau/server/log_redaction.py; the JSON formatter applies the same
redaction to exception texts.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from preau.server import metrics
from preau.server.log_redaction import redact

# The request (``r-…``) or connection (``c-…``) being served, if any.
context_id: ContextVar[str | None] = ContextVar("preau_context_id", default=None)

# A proxy's request id is kept when it looks like one (nginx's $request_id).
_GIVEN_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")


def new_context(kind: str) -> str:
    """Open a context for this task and what it awaits; its id."""
    ident = f"{kind}-{secrets.token_hex(6)}"
    context_id.set(ident)
    return ident


class ContextMiddleware:
    """Gives each HTTP request (``r-…``, or the proxy's ``X-Request-ID``) and
    each socket (``c-…``) its id, echoes a request's in ``x-request-id``, and
    counts HTTP responses by status class."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            new_context("c")
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"")
        if _GIVEN_ID.match(given):
            ident = given.decode()
            context_id.set(ident)
        else:
            ident = new_context("r")
        header = (b"x-request-id", ident.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
                metrics.response(int(message["status"]))
            await send(message)

        await self.app(scope, receive, send_with_id)


class _Context(logging.Filter):
    """Stamps each record with the node and the current context id."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node_id
        record.ctx = context_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601, ms), level, logger, msg,
    node, ctx (when serving something), exc (a traceback, redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "node": getattr(record, "node", None),
        }
        ctx = getattr(record, "ctx", "-")
        if ctx != "-":
            line["ctx"] = ctx
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = redact(record.exc_text)
        return orjson.dumps(line).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(ctx)s]: %(message)s"


def configure(log_format: str, node_id: str, level: int = logging.INFO) -> None:
    """The root logger writes to stderr, as text or JSON; every library's
    loggers propagate to it (uvicorn's too: its own config is not applied)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Context(node_id))
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
