"""The REST side over a real server: browser sessions, OpenAPI, health."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from preau.server.gateway.protocol import OPS
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


async def test_a_parent_remembers_a_device_lists_sessions_and_ends_one(live: LiveServer) -> None:
    """Issue 19: "remember this device" for a parent (longer timeouts), the
    person's own list of sessions, and ending one closes its sockets."""
    parent = await live.client("Camille Martin")  # activates the account
    await parent.close()
    login = live.login_of("Camille Martin")
    origin = live.base_url
    firefox = {"origin": origin, "user-agent":
               "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"}
    phone = {"origin": origin, "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac"
             " OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148"
             " Safari/604.1"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=firefox) as desk, \
            httpx.AsyncClient(base_url=live.base_url, headers=phone) as mobile:
        response = await desk.post("/api/auth/login", json={
            "login": login, "password": PASSWORD, "remember": True})
        assert response.json()["remembered"] is True
        assert "Max-Age=7776000" in response.headers["set-cookie"]  # 90 days
        assert (await mobile.post("/api/auth/login", json={
            "login": login, "password": PASSWORD})).json()["remembered"] is False
        listed = (await desk.get("/api/auth/sessions")).json()["sessions"]
        mine = {s["device"]: s for s in listed}
        assert mine["Firefox · Windows"]["current"] is True
        assert mine["Safari · iOS"]["remembered"] is False
        ws = await websockets.connect(
            live.ws_url, origin=origin,  # type: ignore[arg-type]
            additional_headers={"cookie": f"preau_session={mobile.cookies['preau_session']}"})
        await ws.recv()
        gone = await desk.delete(f"/api/auth/sessions/{mine['Safari · iOS']['id']}")
        assert gone.status_code == 200
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 4001
        assert (await mobile.get("/api/me")).status_code == 401
        # Another person's session, or none: the same not_found.
        teacher = await live.client("Claire Lefèvre")
        try:
            theirs = (await teacher.get("/api/auth/sessions"))["sessions"][0]["id"]
        finally:
            await teacher.close()
        for other in (theirs, "0123456789abcdef"):
            refused = await desk.delete(f"/api/auth/sessions/{other}")
            assert refused.status_code == 404
            assert refused.json()["error"]["code"] == "not_found"
    # A pupil asking to be remembered is not.
    pupil = await live.client("Léa Martin")
    await pupil.close()
    async with httpx.AsyncClient(base_url=live.base_url, headers={"origin": origin}) as kid:
        answer = (await kid.post("/api/auth/login", json={
            "login": live.login_of("Léa Martin"), "password": PASSWORD, "remember": True})).json()
        assert answer["remembered"] is False
