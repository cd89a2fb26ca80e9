"""The charter of use on a real server (docs/moderation.md, "Charter of use").

Every REST route and every ``/ws`` op — listed from the app's route table and
from the op registry (``/api/ws-schema``), so a new one is covered by itself
— answers ``charter_required`` until the person accepted the school's current
version, and something else after; a new version asks everyone again, live
sockets included; the school's admins see who has not accepted; the export
carries the acceptances.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from preau_client import PreauClient

from preau.server.charter.service import OPEN_OPS
from preau.server.http.common import CHARTER_OPEN
from preau.server.http.routes import ENDPOINTS
from tests.server.live import LiveServer, refused

ADMIN = "Anne Roux"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("charter"), env={
        "PREAU_CHARTER_REQUIRED": "true",
        "PREAU_OPS_PER_S": "100000", "PREAU_OPS_BURST": "100000",
    }).start()
    try:
        yield live
    finally:
        live.stop()


async def publish(admin: PreauClient, text: str) -> int:
    school = (await admin.me())["school"]["id"]
    charter = await admin.post(f"/api/schools/{school}/charter",
                               {"body": f"# Charte\n\n{text}", "body_en": f"# Charter\n\n{text}"})
    version: int = charter["version"]
    return version


def gated_routes() -> list[tuple[str, str]]:
    """(method, path with dummy parameters) of every authenticated route but the open ones."""
    routes = []
    for ep in ENDPOINTS:
        if not ep.auth or ep.path in CHARTER_OPEN:
            continue
        path = re.sub(r"\{seq\}", "1", ep.path)
        routes.append((ep.method, re.sub(r"\{[a-z_]+\}", "x1", path)))
    return routes


async def call(client: PreauClient, method: str, path: str) -> tuple[int, str | None]:
    body = None if method == "GET" else b"{}"
    response = await client.http.request(method, path, content=body,
                                          headers={"content-type": "application/json"})
    code = None
    if response.headers.get("content-type", "").startswith("application/json"):
        data: Any = response.json()
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            code = data["error"]["code"]
    return response.status_code, code


async def test_every_route_and_op_is_refused_until_the_charter_is_accepted(
    server: LiveServer,
) -> None:
    async with server.clients(ADMIN, "Léa Martin", "Claire Lefèvre") as people:
        admin, lea = people[ADMIN], people["Léa Martin"]
        # The demo's people accepted the default charter: Léa reaches her rooms.
        assert (await lea.me())["charter_required"] is False
        teacher = people["Claire Lefèvre"]
        klass = next(r["class_id"] for r in (await teacher.me())["rooms"] if r["name"] == "6eA")
        document = (await teacher.post("/api/documents", {"class": klass, "title": "Charte"}))["id"]
        collab = f"{server.ws_url.rsplit('/', 1)[0]}/collab/{document}?token={lea.token}"
        async with websockets.connect(collab, origin=server.base_url) as opened:
            await opened.send(b"\x00\x00\x01\x00")  # SyncStep1: the document opens
            assert isinstance(await opened.recv(), bytes)
        version = await publish(admin, "Soyez polis.")
        # Documents do not open either until then (the /collab upgrade).
        with pytest.raises(websockets.InvalidStatus) as refused_upgrade:
            await websockets.connect(collab, origin=server.base_url)
        assert refused_upgrade.value.response.status_code == 403
        assert b"charter_required" in refused_upgrade.value.response.body

        me = await lea.me()
        assert me["charter_required"] is True
        assert me["charter_version"] == version
        assert me["rooms"] == []
        charter = await lea.get("/api/charter")
        assert charter["version"] == version
        assert charter["accepted"] is False
        assert "Soyez polis." in charter["body"]
        assert "Soyez polis." in charter["body_en"]

        routes = gated_routes()
        assert ("GET", "/api/rooms") in routes
        assert len(routes) > 30
        answers = {r: await call(lea, *r) for r in routes}
        wrong = {r: a for r, a in answers.items() if a != (403, "charter_required")}
        assert wrong == {}, "routes not refused before acceptance"

        ops = set((await lea.http.get("/api/ws-schema")).json())
        assert {"chat.send", "room.subscribe", "ping", "charter.get"} <= ops
        conn = await lea.connect()
        try:
            assert conn_hello(conn)["charter_required"] is True
            for name in sorted(ops - OPEN_OPS):
                reply = await conn.request_raw({"op": name})
                assert not reply["ok"], name
                assert reply["error"]["code"] == "charter_required", name
            # A malformed frame is refused the same way: nothing but the charter.
            reply = await conn.request_raw({"op": "chat.send", "room": 5})
            assert reply["error"]["code"] == "charter_required"
            got = await conn.request("charter.get")
            assert got["version"] == version
            assert got["accepted"] is False
            await refused(conn.request("charter.accept", version=version - 1), "conflict")
            accepted = await conn.request("charter.accept", version=version)
            assert accepted["duplicate"] is False
            again = await lea.post("/api/charter/accept", {"version": version})
            assert again["duplicate"] is True

            for name in sorted(ops - OPEN_OPS):
                reply = await conn.request_raw({"op": name})
                assert reply["ok"] or reply["error"]["code"] != "charter_required", name
        finally:
            await conn.close()

        answers = {r: await call(lea, *r) for r in routes}
        still = {r: a for r, a in answers.items() if a[1] == "charter_required"}
        assert still == {}, "routes still refused after acceptance"
        async with websockets.connect(collab, origin=server.base_url) as opened:
            await opened.send(b"\x00\x00\x01\x00")
            assert isinstance(await opened.recv(), bytes)
        me = await lea.me()
        assert me["charter_required"] is False
        assert me["rooms"]


def conn_hello(conn: Any) -> dict[str, Any]:
    hello: dict[str, Any] = conn.hello
    return hello


async def test_a_new_version_asks_everyone_again_live_and_admins_see_who(
    server: LiveServer,
) -> None:
    async with server.clients(ADMIN, "Hugo Bernard") as people:
        admin, hugo = people[ADMIN], people["Hugo Bernard"]
        school = (await admin.me())["school"]["id"]
        first = await publish(admin, "Version A.")
        await hugo.post("/api/charter/accept", {"version": first})
        room = (await hugo.me())["rooms"][0]["id"]
        conn = await hugo.connect()
        try:
            await conn.subscribe(room)
            second = await publish(admin, "Version B.")
            assert second == first + 1
            told = await conn.next_event("charter.required")
            assert told["version"] == second
            await refused(conn.request("presence.list", room=room), "charter_required")

            seen = await admin.get(f"/api/schools/{school}/charter/acceptances")
            assert seen["version"] == second
            assert [a["person"]["name"] for a in seen["accepted"]] == [ADMIN]
            pending = {p["name"] for p in seen["pending"]}
            assert "Hugo Bernard" in pending
            assert ADMIN not in pending

            await conn.request("charter.accept", version=second)
            await conn.request("presence.list", room=room)
            seen = await admin.get(f"/api/schools/{school}/charter/acceptances")
            accepted = {a["person"]["name"]: a["at"] for a in seen["accepted"]}
            assert set(accepted) == {ADMIN, "Hugo Bernard"}
            assert "Hugo Bernard" not in {p["name"] for p in seen["pending"]}
        finally:
            await conn.close()

        # Others may not publish nor list.
        await refused(hugo.get(f"/api/schools/{school}/charter/acceptances"), "forbidden")
        await refused(hugo.post(f"/api/schools/{school}/charter", {"body": "x"}), "forbidden")
        # The export carries every version Hugo accepted, with when.
        response = await hugo.http.get(f"/api/people/{hugo.person['id']}/export")
        assert response.status_code == 200
        export = orjson.loads(response.content)
        versions = [a["version"] for a in export["memberships"]["charter_accepted"]]
        assert versions[-2:] == [first, second]
        assert versions[0] == 1
        # The audit log records each publication.
        audit = await admin.get(f"/api/schools/{school}/audit", action="charter.publish")
        assert [e["action"] for e in audit["entries"]][:2] == ["charter.publish"] * 2
