"""Private conversations and parents' rooms end to end (docs/conversations.md).

Demo school: Léa Martin and Hugo Bernard are pupils of 6eA, their parents
Camille Martin and Julien Bernard; Inès Petit is a pupil of 6eB, her parent
Fatima Petit; Claire Lefèvre teaches 6eA and 6eB; Anne Roux is staff and the
school's administrator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from preau_client import PreauClient, PreauError

from tests.server.live import LiveServer, refused

pytestmark = pytest.mark.slow

NAMES = ["Camille Martin", "Julien Bernard", "Fatima Petit", "Claire Lefèvre", "Anne Roux",
         "Léa Martin", "Inès Petit"]



@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    async with live.clients(*NAMES) as clients:
        yield clients


async def person_id(client: PreauClient) -> str:
    found: str = (await client.me())["person"]["id"]
    return found


async def test_a_parent_writes_privately_to_their_childs_teacher(
    people: dict[str, PreauClient],
) -> None:
    camille, claire = people["Camille Martin"], people["Claire Lefèvre"]
    julien, anne = people["Julien Bernard"], people["Anne Roux"]
    claire_id, camille_id = await person_id(claire), await person_id(camille)

    opened = await camille.post("/api/conversations", {"people": [claire_id]})
    room = opened["room"]
    assert room["kind"] == "private"
    assert room["people"] == sorted([camille_id, claire_id])
    # The same pair again, from either side and over the socket: the same room.
    again = await claire.post("/api/conversations", {"people": [camille_id]})
    assert again == {"room": room, "created": False}
    async with await camille.connect() as a, await claire.connect() as c:
        reply = await a.request("conversation.open", people=[claire_id])
        assert reply["room"]["id"] == room["id"]
        assert reply["created"] is False

        await c.subscribe(room["id"])
        await a.subscribe(room["id"])
        sent = await a.send_message(room["id"], "Bonjour Madame, Léa sera absente jeudi.")
        (got,) = await c.messages(room["id"], 1)
        assert got["seq"] == sent["seq"] == 1

    assert [m["seq"] for m in await claire.history(room["id"])] == [1]
    for client in (camille, claire):
        listed = (await client.get("/api/conversations"))["rooms"]
        assert room["id"] in [r["id"] for r in listed]
        assert room["id"] in [r["id"] for r in (await client.me())["rooms"]]

    # The author recalls it: the school's audit log records the act, not the text.
    await camille.post(f"/api/rooms/{room['id']}/messages/1/redact", {})
    school = (await anne.me())["school"]["id"]
    entries = (await anne.get(f"/api/schools/{school}/audit", room=room["id"]))["entries"]
    assert [e["action"] for e in entries] == ["message.recall"]
    assert "content" not in entries[0]

    # Another parent, and the school's administrator, see nothing of it.
    for outsider in (julien, anne):
        await refused(outsider.history(room["id"]), "not_found")
        async with await outsider.connect() as conn:
            await refused(conn.subscribe(room["id"]), "not_found")
            await refused(conn.send_message(room["id"], "intrus"), "not_found")
        assert room["id"] not in [r["id"] for r in (await outsider.me())["rooms"]]
        assert room["id"] not in [
            r["id"] for r in (await outsider.get("/api/conversations"))["rooms"]
        ]


async def test_the_circle_of_trust_bounds_who_may_be_in_a_conversation(
    people: dict[str, PreauClient],
) -> None:
    camille, julien = people["Camille Martin"], people["Julien Bernard"]
    lea, ines, claire = people["Léa Martin"], people["Inès Petit"], people["Claire Lefèvre"]
    julien_id, ines_id = await person_id(julien), await person_id(ines)
    claire_id = await person_id(claire)

    # Parent ↔ other parent: never, alone or slipped into a group.
    await refused(camille.post("/api/conversations", {"people": [julien_id]}), "forbidden")
    await refused(
        camille.post("/api/conversations", {"people": [claire_id, julien_id]}), "forbidden"
    )
    async with await camille.connect() as conn:
        await refused(conn.request("conversation.open", people=[julien_id]), "forbidden")
    # A pupil and a pupil of another class: never.
    await refused(lea.post("/api/conversations", {"people": [ines_id]}), "forbidden")
    # Unknown people look like unreachable ones; nobody else is a bad request.
    await refused(camille.post("/api/conversations", {"people": ["nobody"]}), "forbidden")
    await refused(
        camille.post("/api/conversations", {"people": [await person_id(camille)]}),
        "bad_request",
    )
    # Parents' contact details stay out of reach.
    await refused(camille.get(f"/api/people/{julien_id}"), "not_found")
    found = (await camille.get("/api/directory", q="Bernard"))["people"]
    assert julien_id not in [p["id"] for p in found]


async def test_the_parents_room_of_a_class(people: dict[str, PreauClient]) -> None:
    camille, julien, fatima = (people["Camille Martin"], people["Julien Bernard"],
                               people["Fatima Petit"])
    claire, lea = people["Claire Lefèvre"], people["Léa Martin"]
    klass = next(r for r in (await claire.me())["rooms"] if r["name"] == "6eA")
    class_id = klass["class_id"]

    # Only staff and the class's teachers create it; a parent may not.
    await refused(camille.post(f"/api/classes/{class_id}/parents-room"), "forbidden")
    claire_id = await person_id(claire)
    private = (await camille.post("/api/conversations", {"people": [claire_id]}))["room"]
    async with await camille.connect() as watch:
        await watch.subscribe(private["id"])
        made = await claire.post(f"/api/classes/{class_id}/parents-room")
        # The directory reload that follows keeps conversations' subscriptions.
        with pytest.raises(TimeoutError):
            await watch.next_event("room.revoked", timeout=0.5)
        await watch.send_message(private["id"], "Toujours là")
    room = made["room"]
    assert room["kind"] == "parents"
    again = await people["Anne Roux"].post(f"/api/classes/{class_id}/parents-room")
    assert again == {"room": room, "created": False}

    for member in (camille, julien, claire):
        assert room["id"] in [r["id"] for r in (await member.me())["rooms"]]
    async with await camille.connect() as a, await julien.connect() as b, \
            await claire.connect() as c:
        for conn in (a, b, c):
            await conn.subscribe(room["id"])
        await a.send_message(room["id"], "Qui organise la sortie ?")
        for conn in (b, c):
            (got,) = await conn.messages(room["id"], 1)
            assert got["body"] == "Qui organise la sortie ?"
    # A parent of another class, and a pupil, are not in it.
    for outsider in (fatima, lea):
        await refused(outsider.history(room["id"]), "not_found")
        async with await outsider.connect() as conn:
            await refused(conn.subscribe(room["id"]), "not_found")
    # Seeing each other there does not open each other's contact details.
    await refused(camille.get(f"/api/people/{await person_id(julien)}"), "not_found")



async def test_words_the_filter_would_hold_still_reach_the_adult_in_a_conversation(
    people: dict[str, PreauClient],
) -> None:
    """Nobody moderates a conversation: a pupil writing about suicide to their
    teacher must be heard, not held in a queue no one reads."""
    lea, claire = people["Léa Martin"], people["Claire Lefèvre"]
    opened = await lea.post("/api/conversations", {"people": [await person_id(claire)]})
    room = opened["room"]["id"]
    async with await lea.connect() as a, await claire.connect() as c:
        await c.subscribe(room)
        sent = await a.send_message(room, "Madame, je pense au suicide")
        assert "held" not in sent
        [received] = await c.messages(room, 1)
        assert received["seq"] == sent["seq"]
        with pytest.raises(PreauError) as blocked:
            await a.send_message(room, "ta gueule")
        assert blocked.value.code == "filtered"
