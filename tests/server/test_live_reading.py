"""Quiet hours, announcements with acknowledgements, read receipts, school
settings and reports over real sockets on a real server (docs/moderation.md).

Demo school: Léa Martin, Hugo Bernard (6eA pupils), Inès Petit (6eB); parents
Camille Martin (Léa), Julien Bernard (Hugo), Fatima Petit (Inès); Claire
Lefèvre teaches 6eA and 6eB; Anne Roux is staff and the school's admin.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from preau_client import PreauClient

from tests.server.live import LiveServer, refused

pytestmark = pytest.mark.slow

NAMES = ["Claire Lefèvre", "Anne Roux", "Léa Martin", "Hugo Bernard", "Inès Petit",
         "Camille Martin", "Julien Bernard", "Fatima Petit"]



@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    async with live.clients(*NAMES) as clients:
        yield clients


async def pid(client: PreauClient) -> str:
    found: str = (await client.me())["person"]["id"]
    return found


async def room_named(client: PreauClient, name: str) -> str:
    rooms = (await client.me())["rooms"]
    return str(next(r["id"] for r in rooms if r["name"] == name))


async def test_an_announcement_and_who_has_read_it(people: dict[str, PreauClient]) -> None:
    claire, lea, hugo = people["Claire Lefèvre"], people["Léa Martin"], people["Hugo Bernard"]
    room = await room_named(claire, "6eA")
    async with await claire.connect() as c, await lea.connect() as a, await hugo.connect() as h:
        for conn in (c, a, h):
            await conn.subscribe(room)
        # A pupil may not send an announcement.
        await refused(a.request("chat.send", room=room, txn="x", body="Lisez !", ack=True),
                      "forbidden")
        sent = await c.request("chat.send", room=room, txn="sortie",
                               body="Sortie au musée vendredi : autorisation à signer", ack=True)
        [got] = await a.messages(room, 1)
        assert got["ack"] is True
        assert got["seq"] == sent["seq"]

        ack = await a.request("chat.ack", room=room, seq=sent["seq"])
        assert ack["duplicate"] is False
        told = await c.next_event("chat.acked")
        assert (told["seq"], told["person"]["name"]) == (sent["seq"], "Léa Martin")
        assert (await a.request("chat.ack", room=room, seq=sent["seq"]))["duplicate"] is True
        # After a reload the client asks which announcements it acknowledged.
        assert sent["seq"] in (await a.request("chat.my_acks", room=room))["seqs"]
        assert sent["seq"] not in (await h.request("chat.my_acks", room=room))["seqs"]

        listing = await c.request("chat.acks", room=room, seq=sent["seq"])
        assert [e["person"]["name"] for e in listing["acknowledged"]] == ["Léa Martin"]
        pending = [p["name"] for p in listing["pending"]]
        assert "Hugo Bernard" in pending
        assert "Léa Martin" not in pending
        assert "Claire Lefèvre" not in pending  # moderators are not asked
        # Only the sender and the room's moderators see the list.
        await refused(h.request("chat.acks", room=room, seq=sent["seq"]), "forbidden")
        # A plain message has nothing to acknowledge.
        plain = await c.send_message(room, "Bonne soirée")
        await refused(a.request("chat.ack", room=room, seq=plain["seq"]), "not_found")


async def test_read_receipts_in_a_conversation_and_unread_counts(
    people: dict[str, PreauClient],
) -> None:
    camille, claire, julien = (people["Camille Martin"], people["Claire Lefèvre"],
                               people["Julien Bernard"])
    opened = await camille.post("/api/conversations", {"people": [await pid(claire)]})
    room = opened["room"]["id"]
    async with await camille.connect() as a, await claire.connect() as c:
        await a.subscribe(room)
        await c.subscribe(room)
        first = await a.send_message(room, "Bonjour, Léa sera absente jeudi.")
        await a.send_message(room, "Merci de me dire ce qu'elle doit rattraper.")
        unread = {r["id"]: r["unread"] for r in (await claire.get("/api/rooms"))["rooms"]}
        assert unread[room] >= 2
        marked = await c.request("chat.read", room=room, seq=first["seq"] + 1)
        assert marked["seq"] == first["seq"] + 1
        receipt = await a.next_event("chat.read")
        assert (receipt["seq"], receipt["person"]["name"]) == (marked["seq"], "Claire Lefèvre")
        receipts = await a.request("chat.receipts", room=room)
        assert receipts["read"][await pid(claire)] == marked["seq"]
        assert {"id": await pid(claire), "name": "Claire Lefèvre",
                "seq": marked["seq"]} in receipts["people"]
        unread = {r["id"]: r["unread"] for r in (await claire.get("/api/rooms"))["rooms"]}
        assert unread[room] == 0
    # Another parent learns nothing of it.
    async with await julien.connect() as j:
        await refused(j.request("chat.receipts", room=room), "not_found")
        await refused(j.request("chat.read", room=room, seq=1), "not_found")


async def test_reports_resolved_over_the_socket_and_listed_for_the_reporter(
    people: dict[str, PreauClient],
) -> None:
    claire, lea, hugo = people["Claire Lefèvre"], people["Léa Martin"], people["Hugo Bernard"]
    room = await room_named(claire, "6eA")
    async with await hugo.connect() as h, await claire.connect() as c:
        await h.subscribe(room)
        mean = await h.send_message(room, "t'es nulle")
    made = await lea.post(f"/api/rooms/{room}/messages/{mean['seq']}/report",
                          {"reason": "méchant"})
    report = made["report"]["id"]
    async with await claire.connect() as c, await lea.connect() as a:
        await refused(a.request("report.resolve", report=report, outcome="keep"), "forbidden")
        done = await c.request("report.resolve", report=report, outcome="delete",
                               reason="insulte")
        assert done["report"]["status"] == "deleted"
        # Léa was not subscribed when it was resolved: her list tells her.
        mine = (await a.request("report.mine"))["reports"]
        assert [(r["id"], r["status"]) for r in mine if r["id"] == report] == [
            (report, "deleted")]
        assert done["report"]["resolved_by"]["name"] == "Claire Lefèvre"  # to moderators
        # The reporter is told the outcome, never which moderator decided.
        assert all("resolved_by" not in r for r in mine)
        again = await lea.post(f"/api/rooms/{room}/messages/{mean['seq']}/report",
                               {"reason": "méchant"})
        assert again["duplicate"]
        assert "resolved_by" not in again["report"]
    listed = (await lea.get("/api/me/reports"))["reports"]
    assert report in [r["id"] for r in listed]
    assert all("resolved_by" not in r for r in listed)
    assert report not in [r["id"] for r in (await hugo.get("/api/me/reports"))["reports"]]


async def test_school_settings_parents_conversations_and_the_school_parents_room(
    people: dict[str, PreauClient],
) -> None:
    anne, claire = people["Anne Roux"], people["Claire Lefèvre"]
    camille, julien, fatima = (people["Camille Martin"], people["Julien Bernard"],
                               people["Fatima Petit"])
    school = (await anne.me())["school"]["id"]
    path = f"/api/schools/{school}/settings"
    await refused(claire.get(path), "forbidden")
    await refused(claire.put(path, {"parents_may_message": True}), "forbidden")
    await refused(anne.put(path, {"quiet_hours": "7h-20h"}), "bad_request")
    await refused(anne.put(path, {}), "bad_request")

    julien_id, fatima_id = await pid(julien), await pid(fatima)
    # By default parents cannot write to each other.
    await refused(camille.post("/api/conversations", {"people": [julien_id]}), "forbidden")
    saved = await anne.put(path, {"parents_may_message": True})
    assert saved["parents_may_message"] is True
    try:
        # Camille (6eA) and Julien (6eA) now may; Fatima (6eB) is another class.
        opened = await camille.post("/api/conversations", {"people": [julien_id]})
        assert opened["room"]["kind"] == "private"
        await refused(camille.post("/api/conversations", {"people": [fatima_id]}), "forbidden")
    finally:
        await anne.put(path, {"parents_may_message": False})
    await refused(camille.post("/api/conversations", {"people": [julien_id]}), "forbidden")

    # The school-wide parents' room: staff open it; every parent is in it, no pupil.
    await refused(claire.post(f"/api/schools/{school}/parents-room"), "forbidden")
    made = await anne.post(f"/api/schools/{school}/parents-room")
    room = made["room"]["id"]
    assert made["room"]["kind"] == "parents"
    assert "class_id" not in made["room"]
    for parent in (camille, fatima):
        assert room in [r["id"] for r in (await parent.me())["rooms"]]
    assert room not in [r["id"] for r in (await people["Léa Martin"].me())["rooms"]]
    async with await fatima.connect() as f, await camille.connect() as c:
        await f.subscribe(room)
        await c.subscribe(room)
        await anne.post(f"/api/schools/{school}/parents-room")  # idempotent
        async with await anne.connect() as a:
            await a.subscribe(room)
            await a.send_message(room, "Réunion parents-professeurs le 3 février")
        for conn in (f, c):
            [got] = await conn.messages(room, 1)
            assert got["body"] == "Réunion parents-professeurs le 3 février"


async def test_quiet_hours_hold_a_message_back_on_a_real_server(
    people: dict[str, PreauClient],
) -> None:
    anne, claire, lea = people["Anne Roux"], people["Claire Lefèvre"], people["Léa Martin"]
    school = (await anne.me())["school"]["id"]
    # A window that is closed now, whatever the hour the tests run at.
    local = datetime.now(ZoneInfo("Europe/Paris"))
    start, end = local + timedelta(hours=2), local + timedelta(hours=3)
    window = f"{start:%H}:00-{end:%H}:00"
    room = await room_named(claire, "6eA")
    await anne.put(f"/api/schools/{school}/settings", {"quiet_hours": window})
    try:
        async with await claire.connect() as c, await lea.connect() as a:
            await c.subscribe(room)
            await a.subscribe(room)
            sent = await c.request("chat.send", room=room, txn="tard", body="Pensez aux livres")
            assert sent["scheduled"] is True
            assert sent["deliver_at"] > sent["ts"]
            waiting = await c.next_event("chat.scheduled")
            assert waiting["body"] == "Pensez aux livres"
            listed = (await c.request("scheduled.list", room=room))["scheduled"]
            assert [w["txn"] for w in listed] == ["tard"]
            assert (await a.request("scheduled.list", room=room))["scheduled"] == []
            with contextlib.suppress(TimeoutError):
                got = await a.next_event("chat.message", timeout=0.5)
                pytest.fail(f"a pupil received {got} during quiet hours")
            # The admin's urgent message goes through.
            async with await anne.connect() as n:
                await n.subscribe(room)
                await n.request("chat.send", room=room, txn="u", body="Neige : fermé",
                                urgent=True)
            [urgent] = await a.messages(room, 1)
            assert urgent["body"] == "Neige : fermé"
    finally:
        await anne.put(f"/api/schools/{school}/settings", {"quiet_hours": "off"})


async def test_opening_conversations_is_rate_limited(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, {"PREAU_CONVERSATIONS_BURST": "2",
                                   "PREAU_CONVERSATIONS_PER_HOUR": "1"}).start()
    try:
        async with server.clients("Claire Lefèvre", "Léa Martin", "Hugo Bernard",
                                  "Inès Petit") as by_name:
            claire, *pupils = by_name.values()
            others = [await pid(c) for c in pupils]
            for person in others[:2]:
                await claire.post("/api/conversations", {"people": [person]})
            error = await refused(claire.post("/api/conversations", {"people": [others[2]]}),
                                  "rate_limited")
            assert error.details["retry_after"] > 0
    finally:
        server.stop()


async def test_a_burst_to_many_rooms_pauses_the_account_until_an_admin_resumes_it(
    tmp_path: Path,
) -> None:
    server = LiveServer(tmp_path, {"PREAU_BURST_ROOMS": "2"}).start()
    try:
        async with server.clients("Camille Martin", "Claire Lefèvre", "Julien Garnier",
                                  "Anne Roux", "Sophie Faure") as clients:
            camille, anne = clients["Camille Martin"], clients["Anne Roux"]
            school = (await anne.me())["school"]["id"]
            rooms = []
            for teacher in ("Claire Lefèvre", "Julien Garnier", "Anne Roux"):
                opened = await camille.post("/api/conversations",
                                            {"people": [await pid(clients[teacher])]})
                rooms.append(opened["room"]["id"])
            async with await camille.connect() as c:
                # Two rooms are fine; the third within minutes is a burst: that
                # post is not delivered, and the account is paused.
                for room in rooms[:2]:
                    await c.send_message(room, "Message urgent, cliquez ici")
                error = await refused(c.send_message(rooms[2], "Message urgent, cliquez ici"),
                                      "suspended")
                assert "paused" in error.message
                assert await anne.history(rooms[2]) == []  # nothing reached the third
                await refused(c.send_message(rooms[0], "encore"), "suspended")
                paused = (await anne.get(f"/api/schools/{school}/paused"))["paused"]
                assert [(p["person"]["name"], p["reason"], p["rooms"]) for p in paused] == [
                    ("Camille Martin", "burst", 3)]
                await refused(clients["Claire Lefèvre"].get(f"/api/schools/{school}/paused"),
                              "forbidden")
                audit = (await anne.get(f"/api/schools/{school}/audit",
                                        action="account.pause"))["entries"]
                assert len(audit) == 1
                camille_id = await pid(camille)
                await anne.post(f"/api/schools/{school}/paused/{camille_id}/resume",
                                {"reason": "compte vérifié avec la famille"})
                await refused(anne.post(f"/api/schools/{school}/paused/{camille_id}/resume"),
                              "not_found")
                await c.send_message(rooms[0], "Pardon, c'était un piratage.")
    finally:
        server.stop()
