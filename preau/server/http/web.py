"""The browser app, served by Préau itself (no second server in production).

``clients/web`` builds into ``dist/``: content-hashed files under ``assets/``
and an ``index.html`` that names them. So:

- ``/assets/<name>`` is cached for a year (``immutable``): a new build has new
  names, never new bytes under an old name;
- every other path that is not the API's is a client route (``/room/…``,
  ``/login``) and gets ``index.html`` with ``no-cache``, so a deploy is picked
  up at the next page load;
- ``/api``, ``/ws`` and ``/collab`` are never answered here: an unknown path
  under them is a JSON ``not_found``, not a page;
- every page carries a strict Content-Security-Policy: scripts, styles and
  connections from this origin only, no inline code, no framing.

When the build is absent the server still starts; ``/`` says how to build.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from starlette.datastructures import Headers, URLPath
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from preau.server.errors import ErrorCode, PreauError
from preau.server.http.middleware import error_response, scope_lang
from preau.server.messages import DEFAULT, Lang

log = logging.getLogger(__name__)

# The checkout's root: preau/server/http/web.py is three folders below it.
REPOSITORY = Path(__file__).resolve().parents[3]
DEFAULT_DIST = REPOSITORY / "clients" / "web" / "dist"
BUILD_HINT = ("the web client is not built: run ./scripts/serve, "
              "or `npm ci && npm run build` in clients/web")

# 'self' covers same-origin ws:/wss: in CSP level 3 (every current browser).
# blob:/mediastream: for video elements fed by getUserMedia and WebRTC.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "media-src 'self' blob: mediastream:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
])

IMMUTABLE = "public, max-age=31536000, immutable"
# The installable app (clients/web/build.mjs): served at the root, no-cache.
APP_SHELL = {
    "/manifest.webmanifest": "application/manifest+json",
    "/sw.js": "text/javascript; charset=utf-8",
    "/offline.html": "text/html; charset=utf-8",
}
# Paths this app never answers: they belong to the API, the gateway, documents.
RESERVED = ("/api", "/ws", "/collab")
# Built asset names: letters, digits, dot, dash, underscore; no directories.
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".map": "application/json",
    ".json": "application/json",
}


def _reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED)


class WebApp:
    """ASGI app for the built client; mount it last, after the API routes."""

    def __init__(self, dist: Path | None = None) -> None:
        self.dist = (dist or DEFAULT_DIST).resolve()
        self.index = self.dist / "index.html"
        if self.index.is_file():
            log.info("serving the web client from %s", self.dist)
        else:
            log.warning("%s (looked in %s)", BUILD_HINT, self.dist)

    @property
    def built(self) -> bool:
        return self.index.is_file()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket to an unknown path
            await send({"type": "websocket.close", "code": 1008})
            return
        accept = Headers(scope=scope).get("accept-encoding", "")
        gzip_ok = "gzip" in accept.lower()
        response = self._respond(scope["method"], scope["path"], gzip_ok, scope_lang(scope))
        await response(scope, receive, send)

    def _respond(
        self, method: str, path: str, gzip_ok: bool = False, lang: Lang = DEFAULT,
    ) -> Response:
        if _reserved(path):
            return error_response(PreauError(ErrorCode.NOT_FOUND, "no such endpoint"), lang)
        if method not in ("GET", "HEAD"):
            return error_response(PreauError(ErrorCode.BAD_REQUEST, "method not allowed"), lang)
        if not self.built:
            # Still useful without a build: say what this server is and how to get the app.
            if path == "/":
                return JSONResponse({"service": "Préau", "api": "/api/openapi.json",
                                     "ws": "/ws", "web": BUILD_HINT})
            return error_response(PreauError(ErrorCode.NOT_FOUND, BUILD_HINT), lang)
        if path.startswith("/assets/"):
            return self._asset(path.removeprefix("/assets/"), gzip_ok, lang)
        if path in APP_SHELL:
            # The installable app's files, at the root (a service worker
            # controls only what is under its own path): never cached stale.
            file = self.dist / path.lstrip("/")
            if not file.is_file():
                return error_response(PreauError(ErrorCode.NOT_FOUND, "no such file"), lang)
            return FileResponse(file, media_type=APP_SHELL[path], headers={
                "cache-control": "no-cache", "content-security-policy": CONTENT_SECURITY_POLICY})
        return FileResponse(
            self.index,
            media_type="text/html; charset=utf-8",
            headers={"cache-control": "no-cache",
                     "content-security-policy": CONTENT_SECURITY_POLICY},
        )

    def _asset(self, name: str, gzip_ok: bool = False, lang: Lang = DEFAULT) -> Response:
        # The name is checked against a strict pattern, so no "..", no "/",
        # nothing outside assets/ can be reached.
        file = self.dist / "assets" / name
        if not _ASSET_NAME.match(name) or not file.is_file():
            return error_response(PreauError(ErrorCode.NOT_FOUND, "no such file"), lang)
        media_type = _MEDIA_TYPES.get(file.suffix, "application/octet-stream")
        headers = {"cache-control": IMMUTABLE, "vary": "accept-encoding"}
        packed = file.with_name(file.name + ".gz")  # written by the build
        if gzip_ok and packed.is_file():
            headers["content-encoding"] = "gzip"
            return FileResponse(packed, media_type=media_type, headers=headers)
        return FileResponse(file, media_type=media_type, headers=headers)


class WebRoute(BaseRoute):
    """The route for :class:`WebApp`: every plain HTTP path outside ``/api``,
    ``/ws`` and ``/collab``. It never matches a WebSocket or a reserved path,
    so it cannot shadow the gateway or the documents' endpoint wherever those
    are listed; put it after the other HTTP routes, since it takes the rest."""

    def __init__(self, web: WebApp) -> None:
        self.web = web

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not _reserved(scope["path"]):
            return Match.FULL, {"endpoint": self.web}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.web(scope, receive, send)
