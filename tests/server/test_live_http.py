"""The REST side over a real server: browser sessions, OpenAPI, health."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from server.gateway.protocol import OPS
from tests.server.gateway.test_reading_protocol import READING_MODULE_OPS
from tests.server.live import PASSWORD, LiveServer

pytestmark = pytest.mark.slow


async def test_browser_session_cookie_opens_the_socket_and_logout_closes_it(
    live: LiveServer,
) -> None:
    login = live.login_of("Jade Leroy")
    origin = live.base_url
    async with httpx.AsyncClient(base_url=live.base_url, headers={"origin": origin}) as browser:
        response = await browser.post("/api/auth/activate", json={
            "login": login, "code": live.accounts[login].code, "password": PASSWORD})
        assert response.status_code == 200
        assert "token" not in response.json()  # browsers never see the token
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert response.headers["x-content-type-options"] == "nosniff"
        me = (await browser.get("/api/me")).json()
        assert me["person"]["name"] == "Jade Leroy"
        assert [r["name"] for r in me["rooms"]] == ["6eB"]

        session = browser.cookies["preau_session"]
        ws = await websockets.connect(
            live.ws_url, origin=origin,  # type: ignore[arg-type]
            additional_headers={"cookie": f"preau_session={session}"})
        hello = await ws.recv()
        assert "Jade Leroy" in str(hello)
        assert (await browser.post("/api/auth/logout")).status_code == 200
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 4001
        assert (await browser.get("/api/me")).status_code == 401


async def test_bad_bodies_get_clear_errors(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        cases = [
            (b"{not json", 400, "bad_request"),
            (b'{"login": "x"}', 400, "bad_request"),
            (b'{"login": 5, "password": "x"}', 400, "bad_request"),
            (b'{"login": "x", "password": "y", "kind": "magic"}', 400, "bad_request"),
            (b'{"login": "x", "password": "' + b"y" * 20_000 + b'"}', 413, "too_large"),
            (b'{"login": "personne", "password": "Mauvais-123"}', 401, "invalid_credentials"),
        ]
        for body, status, code in cases:
            response = await http.post("/api/auth/login", content=body,
                                       headers={"content-type": "application/json"})
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        not_activated = live.login_of("Adam Laurent")
        response = await http.post("/api/auth/login",
                                   json={"login": not_activated, "password": "Quelconque-1"})
        assert response.json()["error"]["code"] == "activation_required"


async def test_openapi_and_ws_schema_describe_the_api(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        doc = (await http.get("/api/openapi.json")).json()
        ws_schema = (await http.get("/api/ws-schema")).json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/auth/login", "/api/auth/activate", "/api/rooms/{room}/messages",
            "/api/people/{person}", "/api/health"} <= set(doc["paths"])
    login = doc["paths"]["/api/auth/login"]["post"]
    ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.split("/")[-1] in doc["components"]["schemas"]
    # Every op the gateway accepts: the core ops and those of its op modules.
    assert set(OPS) | set(READING_MODULE_OPS) <= set(ws_schema)
    assert all(schema["type"] == "object" for schema in ws_schema.values())
    assert ws_schema["chat.send"]["required"] == ["room", "txn", "body"]


def test_health_names_node_store_and_broker(live: LiveServer) -> None:
    health = live.health()
    assert health["status"] == "ok"
    assert health["node"] == f"test-{live.port}"
    assert health["store"] == {"ok": True, "kind": "sqlite"}
    broker = health["broker"]
    assert isinstance(broker, dict)
    assert (broker["ok"], broker["kind"]) == (True, "memory")


async def test_a_parent_is_named_with_their_child_for_teachers_and_on_their_home(
    live: LiveServer,
) -> None:
    # Families share surnames: "Camille Martin" is told apart as Léa Martin's parent.
    teacher = await live.client("Claire Lefèvre")
    parent = await live.client("Camille Martin")
    pupil = await live.client("Léa Martin")
    try:
        found = (await teacher.get("/api/directory", q="martin"))["people"]
        camille = next(p for p in found if p["name"] == "Camille Martin")
        assert camille["children"] == [
            {"id": pupil.person["id"], "name": "Léa Martin", "class": "6eA"}]
        card = await teacher.get(f"/api/people/{camille['id']}")
        assert card["children"] == camille["children"]
        assert "children" not in next(p for p in found if p["name"] == "Léa Martin")
        # The parent's home names their child; nobody else gets a children list.
        assert (await parent.me())["children"] == camille["children"]
        assert "children" not in await pupil.me()
        # A parent seen by another parent or a pupil: name and profile only.
        for viewer in (pupil,):
            seen = (await viewer.get("/api/directory", q="lefèvre"))["people"]
            assert all("children" not in p for p in seen)
    finally:
        for client in (teacher, parent, pupil):
            await client.close()
