"""Préau serves the built client itself: caching, client routes, CSP, and
the API's paths left alone. No browser needed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from preau.server.http.web import CONTENT_SECURITY_POLICY
from tests.server.live import LiveServer


def test_index_assets_and_client_routes(server: LiveServer, web_dist: Path) -> None:
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        index = http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert index.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "unsafe" not in CONTENT_SECURITY_POLICY
        assert index.headers["x-frame-options"] == "DENY"

        # A client route (deep link, reload) gets the same page.
        deep = http.get("/room/abc123")
        assert deep.status_code == 200
        assert deep.text == index.text

        # Hashed assets named by the page: cached for a year, right type.
        names = re.findall(r'(/assets/[^"]+)"', index.text)
        assert any(n.endswith(".js") for n in names)
        assert any(n.endswith(".css") for n in names)
        for name in names:
            asset = http.get(name)
            assert asset.status_code == 200, name
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert asset.headers.get("content-type", "").split(";")[0] in (
                "text/javascript", "text/css", "image/svg+xml")
        js = next(n for n in names if n.endswith(".js"))
        assert "WebSocket" in http.get(js).text
        # Pre-compressed by the build: gzip when the browser accepts it (httpx
        # decodes it back), the plain file otherwise; caches keep both apart.
        raw = (web_dist / js.removeprefix("/")).read_bytes()
        packed = http.get(js, headers={"accept-encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "accept-encoding"
        assert int(packed.headers["content-length"]) < len(raw)
        assert packed.content == raw
        plain = http.get(js, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == raw


def test_reserved_paths_and_bad_asset_names(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        # The API keeps its own answers (and its no-store), never the page.
        health = http.get("/api/health")
        assert health.json()["status"] == "ok"
        assert health.headers["cache-control"] == "no-store"
        for path in ("/api/nope", "/ws/x", "/collab"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert "<html" not in response.text
        # No way out of assets/, nor into files that are not assets.
        for path in ("/assets/..%2Findex.html", "/assets/..%2F..%2F..%2Fpyproject.toml",
                     "/assets/.built", "/assets/missing-1234.js"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        # A plain "../" is resolved by the client: it is a client route, the page.
        assert "[project]" not in http.get("/assets/../../pyproject.toml").text
        # Only reads.
        assert http.post("/room/abc").json()["error"]["code"] in ("bad_request", "forbidden")


def test_the_default_is_the_build_next_to_the_code(tmp_path: Path, web_dist: Path) -> None:
    """`./scripts/serve` sets no PREAU_WEB_DIR: the server finds clients/web/dist
    of its checkout by itself. (It looked one folder too high after the code
    moved under preau/, and answered every page with the "not built" hint;
    every other test names the folder, so none saw it.)"""
    live = LiveServer(tmp_path, env={}).start()
    try:
        with httpx.Client(base_url=live.base_url, timeout=5) as http:
            index = http.get("/")
            assert index.status_code == 200
            assert index.headers["content-type"].startswith("text/html")
            assert index.text == (web_dist / "index.html").read_text()
    finally:
        live.stop()
