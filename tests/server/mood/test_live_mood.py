"""The mood of the day's rights, over REST and /ws on a real server.

Demo school: 6eA is marked kindergarten for the test. Léa Martin and Hugo
Bernard are its pupils, Camille Martin is Léa's mother and Julien Bernard
Hugo's father; Julien Garnier teaches 6eA only, Sophie Faure 6eB only; Anne
Roux is staff (and the admin); Inès Petit is a 6eB pupil.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from preau_client import PreauClient

from tests.server.live import LiveServer, refused

pytestmark = pytest.mark.slow

NAMES = ["Anne Roux", "Léa Martin", "Hugo Bernard", "Inès Petit", "Camille Martin",
         "Julien Bernard", "Julien Garnier", "Sophie Faure"]


@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    async with live.clients(*NAMES) as clients:
        yield clients


async def raw(client: PreauClient, method: str, path: str,
              body: dict[str, Any] | None = None) -> tuple[int, Any]:
    response: httpx.Response = await client.http.request(method, path, json=body)
    return response.status_code, response.json()


async def test_who_sees_a_pupils_mood(people: dict[str, PreauClient]) -> None:
    anne, lea, hugo = people["Anne Roux"], people["Léa Martin"], people["Hugo Bernard"]
    me = await anne.me()
    school = me["school"]["id"]
    rooms = {r["name"]: r for r in (await lea.me())["rooms"]}
    class_a = rooms["6eA"]["class_id"]
    lea_id, hugo_id = lea.person["id"], hugo.person["id"]

    # Only the school's admin marks a class; the change is audited.
    await refused(people["Julien Garnier"].put(
        f"/api/schools/{school}/classes/{class_a}/level", {"level": "maternelle"}), "forbidden")
    marked = await anne.put(f"/api/schools/{school}/classes/{class_a}/level",
                            {"level": "maternelle"})
    assert marked == {"id": class_a, "name": "6eA", "level": "maternelle"}
    audit = await anne.get(f"/api/schools/{school}/audit")
    assert audit["entries"][0]["action"] == "class.level"

    # Léa picks with /ws; Hugo over REST.
    async with await lea.connect() as conn:
        summary = await conn.request("mood.get")
        assert summary["self"]["class"]["id"] == class_a
        assert summary["self"]["entry"] is None
        assert [t["name"] for t in summary["self"]["teachers"]] == [
            "Claire Lefèvre", "Julien Garnier"]  # whose messages her screen reads aloud
        assert [q["question"] for q in summary["questions"]] == ["mood", "night", "breakfast"]
        done = await conn.request("mood.set", mood="happy", night="good")
        assert done["entry"]["mood"] == "happy"
        assert done["entry"]["breakfast"] is None
        await refused(conn.request("mood.set", mood="rainbow"), "bad_request")
    await hugo.put("/api/mood", {"breakfast": "none"})
    # A pupil of a class not marked, a teacher, a parent: nothing to pick.
    for name in ("Inès Petit", "Julien Garnier", "Camille Martin", "Anne Roux"):
        await refused(people[name].put("/api/mood", {"mood": "happy"}), "forbidden")

    board_path, lea_path = f"/api/mood/classes/{class_a}", f"/api/mood/people/{lea_id}"
    allowed_board = {"Julien Garnier", "Anne Roux"}
    allowed_lea = {"Léa Martin", "Camille Martin", "Julien Garnier", "Anne Roux"}
    for name, client in people.items():
        async with await client.connect() as conn:
            # The class's board: its teachers and the school's staff.
            for path, op, params, allowed in (
                (board_path, "mood.board", {"class": class_a}, allowed_board),
                (lea_path, "mood.person", {"person": lea_id}, allowed_lea),
            ):
                status, body = await raw(client, "GET", path)
                reply = await conn.request_raw({"op": op, **params})
                if name in allowed:
                    assert status == 200, (name, path, body)
                    assert reply["ok"] is True, (name, op, reply)
                    continue
                # Out of reach answers exactly as an id that does not exist.
                unknown = secrets.token_urlsafe(9)
                key = next(iter(params))
                u_status, u_body = await raw(client, "GET", path.replace(params[key], unknown))
                u_reply = await conn.request_raw({"op": op, key: unknown})
                assert (status, body) == (u_status, u_body) == (404, body), (name, path)
                assert body["error"]["code"] == "not_found"
                strip = ("id", "re")
                assert {k: v for k, v in reply.items() if k not in strip} == \
                    {k: v for k, v in u_reply.items() if k not in strip}, (name, op)
                assert reply["error"]["code"] == "not_found"

    board = await people["Julien Garnier"].get(board_path)
    assert board["counts"]["mood"] == {"happy": 1}
    assert board["counts"]["breakfast"] == {"none": 1}
    by_name = {p["person"]["name"]: p for p in board["pupils"]}
    assert by_name["Léa Martin"]["mood"] == "happy"
    assert by_name["Hugo Bernard"]["breakfast"] == "none"
    assert by_name["Chloé Dubois"]["mood"] is None  # in the class, not picked yet

    # A parent sees their own child's only.
    camille = await people["Camille Martin"].get("/api/mood")
    assert [c["person"]["id"] for c in camille["children"]] == [lea_id]
    assert camille["children"][0]["entry"]["mood"] == "happy"
    assert camille["boards"] == []
    julien_b = await people["Julien Bernard"].get("/api/mood")
    assert [c["person"]["id"] for c in julien_b["children"]] == [hugo_id]
    await refused(people["Julien Bernard"].get(lea_path), "not_found")
    # Teachers and staff get their boards listed; the teacher of 6eB none.
    assert [b["id"] for b in (await people["Julien Garnier"].get("/api/mood"))["boards"]] == \
        [class_a]
    assert (await people["Sophie Faure"].get("/api/mood"))["boards"] == []
    # (the demo's kindergarten class, MS, is marked by its import file)
    assert [b["name"] for b in (await anne.get("/api/mood"))["boards"]] == ["6eA", "MS"]
    # Léa's export holds her picks.
    export = await lea.get(f"/api/people/{lea_id}/export")
    assert export["memberships"]["moods"][0]["mood"] == "happy"


async def test_the_board_updates_live_for_those_who_may_see_it(
    people: dict[str, PreauClient],
) -> None:
    anne, lea = people["Anne Roux"], people["Léa Martin"]
    school = (await anne.me())["school"]["id"]
    class_a = next(r["class_id"] for r in (await lea.me())["rooms"] if r["name"] == "6eA")
    await anne.put(f"/api/schools/{school}/classes/{class_a}/level", {"level": "maternelle"})
    hugo = people["Hugo Bernard"]
    async with (await people["Julien Garnier"].connect() as teacher,
                await people["Camille Martin"].connect() as mother,
                await people["Julien Bernard"].connect() as other_parent,
                await people["Sophie Faure"].connect() as other_teacher):
        await hugo.put("/api/mood", {"night": "short"})
        seen = await teacher.next_event("mood.changed")
        assert seen["person"]["id"] == hugo.person["id"]
        assert seen["night"] == "short"
        assert seen["class"] == class_a
        got = await other_parent.next_event("mood.changed")  # Hugo's father
        assert got["person"]["id"] == hugo.person["id"]
        # Léa's mother and the other class's teacher got nothing: a fence on
        # their own sockets (a ping answered after the event was published).
        for conn in (mother, other_teacher):
            await conn.request("ping")
            queued = []
            while not conn.events.empty():
                queued.append(conn.events.get_nowait())
            assert [e for e in queued if e.get("ev") == "mood.changed"] == []
