"""Data protection over real HTTP on a real server (demo school): the export
download streams, the erasure request closes the person's sockets, the
access journal records who read the moderation views, and every request is
authorised and validated.

Demo school: Léa Martin and Hugo Bernard are pupils of 6eA; Camille Martin is
Léa's parent; Claire Lefèvre teaches 6eA; Anne Roux is staff and admin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from preau_client import PreauClient, PreauError

from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

NAMES = ["Léa Martin", "Hugo Bernard", "Camille Martin", "Claire Lefèvre", "Anne Roux",
         "Julien Garnier"]


@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    async with live.clients(*NAMES) as clients:
        yield clients


async def _download(client: PreauClient, person: str) -> httpx.Response:
    async with client.http.stream("GET", f"/api/people/{person}/export") as response:
        await response.aread()
        return response


async def test_privacy_rights_end_to_end(live: LiveServer, people: dict[str, PreauClient]) -> None:
    lea, hugo, camille = people["Léa Martin"], people["Hugo Bernard"], people["Camille Martin"]
    claire, anne = people["Claire Lefèvre"], people["Anne Roux"]
    me = await lea.me()
    school = me["school"]["id"]
    room = next(r["id"] for r in me["rooms"] if r["name"] == "6eA")
    lea_id, hugo_id = lea.person["id"], hugo.person["id"]

    socket = await lea.connect()
    await socket.subscribe(room)
    await socket.send_message(room, "Bonjour de Léa")
    other = await hugo.connect()
    await other.subscribe(room)
    await other.send_message(room, "Bonjour de Hugo")

    # Moderation and admin views are journaled for the data-protection officer.
    await anne.get(f"/api/schools/{school}/audit", target=lea_id)
    await anne.get(f"/api/schools/{school}/reports")
    await claire.get(f"/api/rooms/{room}/held")
    await claire.get(f"/api/rooms/{room}/members")
    # The same views over /ws are journaled too (the service records the read).
    async with await people["Julien Garnier"].connect() as julien_socket:
        await julien_socket.request("held.list", room=room)
        await julien_socket.request("member.list", room=room)
    journal = await anne.get(f"/api/schools/{school}/access-journal")
    seen = [(e["actor"]["name"], e["view"]) for e in journal["entries"]]
    assert ("Julien Garnier", "moderation.held") in seen
    assert ("Julien Garnier", "moderation.members") in seen
    assert ("Anne Roux", "moderation.audit") in seen
    assert ("Anne Roux", "moderation.reports") in seen
    assert ("Claire Lefèvre", "moderation.held") in seen
    assert ("Claire Lefèvre", "moderation.members") in seen
    assert any(lea_id in e["subject"] for e in journal["entries"]
               if e["view"] == "moderation.audit")
    for outsider in (claire, lea):
        with pytest.raises(PreauError) as caught:
            await outsider.get(f"/api/schools/{school}/access-journal")
        assert caught.value.code == "forbidden"
    with pytest.raises(PreauError) as caught:
        await anne.get(f"/api/schools/{school}/access-journal", limit="0")
    assert caught.value.code == "bad_request"

    status = await anne.get(f"/api/schools/{school}/retention")
    assert status["periods_days"]["closed_accounts"] == 90
    assert status["periods_days"]["notifications"] == 90
    assert status["counts"]["erasures_done"] == 0

    # The parent downloads her child's data, as a JSON attachment.
    response = await _download(camille, lea_id)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    data = orjson.loads(response.content)
    assert data["person"]["id"] == lea_id
    assert [m["body"] for m in data["messages"]] == ["Bonjour de Léa"]
    assert hugo_id.encode() not in response.content
    assert b"Bonjour de Hugo" not in response.content
    # Her own export too; not a classmate's, nor a teacher's.
    assert (await _download(lea, "me")).status_code == 200
    for viewer in (hugo, claire):
        refused = await _download(viewer, lea_id)
        assert refused.status_code == 404
        assert orjson.loads(refused.content)["error"]["code"] == "not_found"

    # Bad erasure bodies are refused with a stable code; nothing is erased.
    for body in ({"delete_contributions": "yes"}, {"everything": True}):
        with pytest.raises(PreauError) as caught:
            await camille.post(f"/api/people/{lea_id}/erasure", body)
        assert caught.value.code == "bad_request"
    with pytest.raises(PreauError) as caught:
        await hugo.post(f"/api/people/{lea_id}/erasure")
    assert caught.value.code == "not_found"
    for raw, code in ((b"{not json", "bad_request"), (b" " * 2048, "too_large")):
        answer = await camille.http.post(f"/api/people/{lea_id}/erasure", content=raw,
                                         headers={"content-type": "application/json"})
        assert orjson.loads(answer.content)["error"]["code"] == code
    assert (await lea.me())["person"]["id"] == lea_id  # still there

    # The parent asks for erasure: done at once, her socket closes.
    assert await camille.post(f"/api/people/{lea_id}/erasure") == {
        "erased": True, "delete_contributions": False}
    await asyncio.wait_for(socket.closed.wait(), 10)
    with pytest.raises(PreauError) as caught:
        await lea.me()
    assert caught.value.code == "unauthenticated"
    history = await hugo.history(room)
    kept = next(m for m in history if m.get("body") == "Bonjour de Léa")
    assert kept["sender"]["id"] != lea_id
    assert kept["sender"]["name"] == ""
    assert all(lea_id not in str(m) for m in history)
    directory = await hugo.get("/api/directory", q="Léa")
    assert directory["people"] == []
    status = await anne.get(f"/api/schools/{school}/retention")
    assert status["counts"]["erasures_done"] == 1
    await other.close()


async def test_the_api_description_lists_the_privacy_endpoints(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        doc = (await http.get("/api/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/api/people/{person}/export"]) == {"get"}
    assert set(paths["/api/people/{person}/erasure"]) == {"post"}
    assert set(paths["/api/schools/{school}/access-journal"]) == {"get"}
    assert set(paths["/api/schools/{school}/retention"]) == {"get"}
    body = paths["/api/people/{person}/erasure"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/ErasureBody")
