"""The notification centre over REST and /ws on a real server (demo school):
listed, pushed live, marked read, withdrawn on recall; bad input answered
with its error code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from preau_client import PreauClient

from tests.server.live import LiveServer, nothing

pytestmark = pytest.mark.slow

NAMES = ["Claire Lefèvre", "Camille Martin", "Inès Petit"]


@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    async with live.clients(*NAMES) as clients:
        yield clients


async def raw(client: PreauClient, method: str, path: str,
              body: dict[str, Any] | None = None) -> tuple[int, Any]:
    response: httpx.Response = await client.http.request(method, path, json=body)
    return response.status_code, response.json()


async def test_listed_live_read_and_withdrawn(people: dict[str, PreauClient]) -> None:
    claire, camille, ines = people["Claire Lefèvre"], people["Camille Martin"], people["Inès Petit"]
    camille_id = camille.person["id"]
    async with await camille.connect() as watch, await ines.connect() as outsider:
        room = (await claire.post("/api/conversations", {"people": [camille_id]}))["room"]
        async with await claire.connect() as conn:
            sent = await conn.send_message(room["id"], "Léa a oublié son cahier")
        opened = await watch.next_event("notification")
        told = await watch.next_event("notification")
        assert (opened["kind"], told["kind"]) == ("conversation", "message")
        assert told["room"]["id"] == room["id"]
        assert told["seq"] == sent["seq"]
        assert told["by"]["name"] == "Claire Lefèvre"
        assert told["read"] is False
        assert "cahier" not in str(told)
        await nothing(outsider, "notification")

        listed = await camille.get("/api/notifications")
        assert [n["id"] for n in listed["notifications"]] == [told["id"], opened["id"]]
        assert (listed["unread"], listed["next"]) == (2, None)
        assert (await ines.get("/api/notifications"))["notifications"] == []
        page = await camille.get("/api/notifications", limit=1)
        assert [n["id"] for n in page["notifications"]] == [told["id"]]
        assert page["next"] == f"{told['at']}:{told['id']}"
        rest = await camille.get("/api/notifications", limit=1, before=page["next"])
        assert [n["id"] for n in rest["notifications"]] == [opened["id"]]

        # Inès cannot mark Camille's: nothing changes.
        assert await ines.post("/api/notifications/read", {"ids": [told["id"]]}) == {
            "read": [], "unread": 0}
        done = await camille.post("/api/notifications/read", {"ids": [opened["id"]]})
        assert done == {"read": [opened["id"]], "unread": 1}
        assert (await watch.next_event("notification.read"))["ids"] == [opened["id"]]
        unread = await camille.get("/api/notifications", unread="true")
        assert [n["id"] for n in unread["notifications"]] == [told["id"]]

        # Claire recalls her message: Camille's notification of it goes, live.
        await claire.post(f"/api/rooms/{room['id']}/messages/{sent['seq']}/redact", {})
        assert (await watch.next_event("notification.withdrawn"))["ids"] == [told["id"]]
        after = await camille.get("/api/notifications")
        assert [n["id"] for n in after["notifications"]] == [opened["id"]]
        assert (await camille.post("/api/notifications/read", {"all": True}))["unread"] == 0


async def test_bad_input(people: dict[str, PreauClient]) -> None:
    camille = people["Camille Martin"]
    for query in ("limit=0", "limit=101", "before=-1", "before=x", "before=x:n_1",
                  "before=12:", "unread=maybe"):
        status, body = await raw(camille, "GET", f"/api/notifications?{query}")
        assert (status, body["error"]["code"]) == (400, "bad_request"), query
    for bad in ({}, {"ids": ["n_1"], "all": True}, {"all": False}, {"ids": "n_1"},
                {"ids": [""]}, {"ids": ["x" * 65]}, {"ids": ["n"] * 201}, {"all": 1}):
        status, body = await raw(camille, "POST", "/api/notifications/read", bad)
        assert (status, body["error"]["code"]) == (400, "bad_request"), bad
    anonymous = httpx.AsyncClient(base_url=str(camille.http.base_url))
    async with anonymous:
        response = await anonymous.get("/api/notifications")
    assert response.status_code == 401


async def test_preferences_over_rest(people: dict[str, PreauClient]) -> None:
    camille, ines, claire = people["Camille Martin"], people["Inès Petit"], people["Claire Lefèvre"]
    mine = await camille.get("/api/notifications/preferences")
    assert {k["kind"]: k["channel"] for k in mine["kinds"]}["announcement"] == "email"
    done = await camille.put("/api/notifications/preferences",
                             {"channels": {"announcement": "daily"}})
    assert {k["kind"]: k["chosen"] for k in done["kinds"]}["announcement"] == "daily"
    for who, body, words in (
        (camille, {"channels": {"message": "sms"}}, "sms is not a channel"),
        (camille, {"channels": {"bogus": "email"}}, "no such notification kind"),
        (ines, {"channels": {"message": "email"}}, "email is not a channel you may choose"),
        (camille, {"channels": {}}, ""),
        (camille, {"channels": {"message": 3}}, ""),
        (camille, {"channels": "email"}, ""),
        (camille, {}, ""),
    ):
        status, answer = await raw(who, "PUT", "/api/notifications/preferences", body)
        assert (status, answer["error"]["code"]) == (400, "bad_request"), body
        assert words in answer["error"]["message"]
    school = (await claire.me())["school"]["id"]
    status, answer = await raw(claire, "PUT", f"/api/schools/{school}/notifications",
                               {"forced": {"announcement": "on"}})
    assert (status, answer["error"]["code"]) == (403, "forbidden")
