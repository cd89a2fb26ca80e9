"""preau/server/http/web.py on tiny inline apps: the route, the missing build,
what may and may not be served. The real server is tested in tests/web."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from preau.server.http.web import WebApp, WebRoute


async def test_without_a_build_the_server_says_how_to_build(tmp_path: Path) -> None:
    async def api_route(request: Request) -> PlainTextResponse:
        return PlainTextResponse("api")

    app = Starlette(routes=[Route("/api/x", api_route), WebRoute(WebApp(tmp_path / "nothing"))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        root = await http.get("/")
        assert root.status_code == 200
        assert "npm run build" in root.json()["web"]
        assert (await http.get("/api/x")).text == "api"
        page = await http.get("/room/1")
        assert page.status_code == 404
        assert "npm run build" in page.json()["error"]["message"]
        # An unknown API path is not the web app's: the router's own 404.
        assert (await http.get("/api/unknown")).status_code == 404


async def test_a_build_is_served_by_a_bare_route(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    (tmp_path / "assets" / "main-AB12.js").write_text("console.log(1)")
    (tmp_path / "assets" / "main-AB12.js.gz").write_bytes(gzip.compress(b"console.log(1)"))
    (tmp_path / "secret.txt").write_text("no")
    app = Starlette(routes=[WebRoute(WebApp(tmp_path))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/anything/here")).text.startswith("<!doctype html>")
        js = await http.get("/assets/main-AB12.js", headers={"accept-encoding": "identity"})
        assert js.headers["content-type"].startswith("text/javascript")
        assert js.text == "console.log(1)"
        packed = await http.get("/assets/main-AB12.js", headers={"accept-encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.text == "console.log(1)"
        assert (await http.get("/assets/secret.txt")).status_code == 404
        assert (await http.get("/secret.txt")).text.startswith("<!doctype html>")
